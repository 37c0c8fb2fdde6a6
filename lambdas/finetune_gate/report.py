"""The gate's report, written whether the gate passes or not: report.json for the pipeline and for tools, and
report.html for a person (the notice links to it). Pure: an Evaluation in, a dict and a page out.

report.json (schema_version 1):
    evaluation_id, judge_model_id
    inputs         {"answers_uri", "metrics_uri" (or null)}
    thresholds     {"min_lower_bound", "min_questions", "max_failure_share", "max_questions"}
    lines          the input's lines (more than counts.questions when a sample of them was judged)
    unreadable_lines  [{"line", "problem"}]: the lines that held no question, and why (never their text)
    counts         {"questions", "judged", "wins", "losses", "ties", "failures", "failures_by_code",
                    "orders_disagreed"}
    win_rate       {"value", "ci_low", "ci_high", "judged", "confidence", "interval": "wilson",
                    "ties": "counted as half a win"}, or null when nothing was judged
    mean_scores    {"base", "tuned"}: the judge's mean relevance (1-5) over both orders, or null
    margin         the training job's held-out log-probability margin (metrics.json "eval": margin_before,
                   margin_after, margin_delta), or null: shown, not gated on
    metrics_checks the training job's checks as recorded (metrics.json "checks"), or null
    decision       {"passed", "outcome": "passed" | "failed" | "judge_unavailable",
                    "reasons": [{"code", "message"}]}
    sample         up to `sample_size` questions side by side: {"question_id", "question", "system",
                   "base_answer", "tuned_answer", "outcome", "verdicts": [{"order", "base_score",
                   "tuned_score", "preferred"}], "failure"}

The sample is chosen to show what a reviewer most needs: losses first, then ties, wins and failures, taking
one of each in turn, each group in a fixed pseudo-random order (gate.stable_order), so a rerun shows the
same sample. The page holds model and customer text: every text is HTML-escaped, and the page's
Content-Security-Policy allows no script and only its own style sheet.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any, Mapping

from lambdas.finetune_gate.answers import Question, Unreadable
from lambdas.finetune_gate.decision import Thresholds
from lambdas.finetune_gate.gate import Evaluation, stable_order
from lambdas.finetune_gate.judge import FAILURE, LOSS, TIE, WIN, Judgement
from lambdas.finetune_gate.win_rate import mean_scores

SCHEMA_VERSION = 1
SAMPLE_ORDER = (LOSS, TIE, WIN, FAILURE)


def sample(evaluation: Evaluation, size: int) -> list[dict[str, Any]]:
    questions = {item.question_id: item for item in evaluation.items if isinstance(item, Question)}
    groups: dict[str, list[Judgement]] = {outcome: [] for outcome in SAMPLE_ORDER}
    for judgement in sorted(evaluation.judgements, key=lambda j: stable_order(j.question_id)):
        if judgement.question_id in questions:  # an unreadable line has nothing to show
            groups[judgement.outcome].append(judgement)
    chosen: list[Judgement] = []
    while len(chosen) < size and any(groups.values()):
        for outcome in SAMPLE_ORDER:
            if groups[outcome] and len(chosen) < size:
                chosen.append(groups[outcome].pop(0))
    return [_side_by_side(questions[j.question_id], j) for j in chosen]


def _side_by_side(question: Question, judgement: Judgement) -> dict[str, Any]:
    return {"question_id": question.question_id, "question": question.question, "system": question.system,
            "base_answer": question.base_answer, "tuned_answer": question.tuned_answer,
            "outcome": judgement.outcome, "verdicts": [v.to_dict() for v in judgement.verdicts],
            "failure": judgement.failure}


def build(evaluation: Evaluation, *, evaluation_id: str, judge_model_id: str, thresholds: Thresholds,
          max_questions: int, sample_size: int, answers_uri: str, metrics_uri: str | None,
          metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    margin = metrics.get("eval") if metrics is not None else None
    return {
        "schema_version": SCHEMA_VERSION, "evaluation_id": evaluation_id, "judge_model_id": judge_model_id,
        "inputs": {"answers_uri": answers_uri, "metrics_uri": metrics_uri},
        "thresholds": {**thresholds.to_dict(), "max_questions": max_questions},
        "lines": evaluation.lines,
        "unreadable_lines": [{"line": item.line, "problem": item.problem} for item in evaluation.items
                             if isinstance(item, Unreadable)],
        "counts": evaluation.counts.to_dict(),
        "win_rate": evaluation.rate.to_dict() if evaluation.rate is not None else None,
        "mean_scores": mean_scores(evaluation.judgements),
        "margin": ({k: margin.get(k) for k in ("margin_before", "margin_after", "margin_delta")}
                   if isinstance(margin, Mapping) else None),
        "metrics_checks": metrics.get("checks") if metrics is not None else None,
        "decision": evaluation.decision.to_dict(),
        "sample": sample(evaluation, sample_size),
    }


# The page ------------------------------------------------------------------------------------------------

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:72rem;margin:1rem auto;padding:0 1rem;line-height:1.4}"
          "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3rem .5rem;vertical-align:top;"
          "text-align:left}.text{white-space:pre-wrap;overflow-wrap:anywhere}.pair td{width:50%}")
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_POLICY = f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'"
_PREFERRED = {"base": "the base answer", "tuned": "the tuned answer", "tie": "a tie"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _percent(value: float) -> str:
    return f"{value:.1%}"


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th scope=\"row\">{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _verdict(verdict: Mapping[str, Any]) -> str:
    order = "base shown first" if verdict["order"] == "base_first" else "tuned shown first"
    return (f"<li>{_e(order)}: base {_e(verdict['base_score'])}, tuned {_e(verdict['tuned_score'])}, "
            f"prefers {_e(_PREFERRED.get(verdict['preferred'], verdict['preferred']))}</li>")


def _sampled(entry: Mapping[str, Any]) -> str:
    verdicts = "".join(_verdict(v) for v in entry["verdicts"])
    failure = f"<li>judge failure: {_e(entry['failure'])}</li>" if entry["failure"] else ""
    system = (f"<p>Assistant instructions:</p><p class=\"text\">{_e(entry['system'])}</p>"
              if entry["system"] else "")
    return (f"<section><h3>{_e(entry['question_id'])}: {_e(entry['outcome'])}</h3>{system}"
            f"<p>Question:</p><p class=\"text\">{_e(entry['question'])}</p>"
            "<table class=\"pair\"><thead><tr><th scope=\"col\">Base answer</th><th scope=\"col\">Tuned answer</th>"
            f"</tr></thead><tbody><tr><td class=\"text\">{_e(entry['base_answer'])}</td>"
            f"<td class=\"text\">{_e(entry['tuned_answer'])}</td></tr></tbody></table>"
            f"<ul>{verdicts}{failure}</ul></section>")


def render_html(report: Mapping[str, Any]) -> str:
    decision, counts, rate = report["decision"], report["counts"], report["win_rate"]
    verdict = "Passed: the tuned model may be imported" if decision["passed"] else (
        f"Refused ({decision['outcome'].replace('_', ' ')}): the current model stays")
    reasons = "".join(f"<li>{_e(r['message'])}</li>" for r in decision["reasons"])
    if rate is not None:
        measured = (f"<p>The tuned model's win rate over the base: <strong>{_e(_percent(rate['value']))}</strong> "
                    f"(95% Wilson interval {_e(_percent(rate['ci_low']))} to {_e(_percent(rate['ci_high']))}) over "
                    f"{_e(rate['judged'])} judged questions. A question is a win when the judge preferred the tuned "
                    "answer in both orders, a loss when it preferred the base answer in both; a tie otherwise, "
                    "counted as half a win.</p>")
    else:
        measured = "<p>No question was judged: there is no win rate.</p>"
    scores = report["mean_scores"]
    failures = ", ".join(f"{code} x{n}" for code, n in counts["failures_by_code"].items()) or "none"
    table = _rows([("questions judged", f"{counts['judged']} of {counts['questions']}"
                    + (f" (a sample of {report['lines']} lines)" if report["lines"] > counts["questions"] else "")),
                   ("wins / losses / ties", f"{counts['wins']} / {counts['losses']} / {counts['ties']}"),
                   ("orders that disagreed (ties by rule)", counts["orders_disagreed"]),
                   ("judge failures", f"{counts['failures']} ({failures})"),
                   *([("mean relevance, base / tuned", f"{scores['base']:.2f} / {scores['tuned']:.2f}")]
                     if scores else []),
                   ("judge model", report["judge_model_id"])])
    thresholds = report["thresholds"]
    rules = _rows([("win rate's lower bound above", _percent(thresholds["min_lower_bound"])),
                   ("questions judged, at least", thresholds["min_questions"]),
                   ("judge failures, at most", _percent(thresholds["max_failure_share"]))])
    margin = report["margin"]
    margin_html = (f"<table>{_rows([(k.replace('_', ' '), v) for k, v in margin.items()])}</table>"
                   if margin else "<p>Not recorded.</p>")
    checks = report["metrics_checks"]
    checks_html = ("<p>Not recorded by the training job.</p>" if checks is None
                   else f"<p class=\"text\">{_e(json.dumps(checks, ensure_ascii=False, indent=1))}</p>")
    samples = "".join(_sampled(entry) for entry in report["sample"]) or "<p>No question to show.</p>"
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_e(_POLICY)}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Evaluation gate: {_e(report['evaluation_id'])}</title><style>{_STYLE}</style></head><body>"
        f"<h1>Evaluation gate: {_e(report['evaluation_id'])}</h1><p><strong>{_e(verdict)}</strong></p>"
        + (f"<ul>{reasons}</ul>" if reasons else "")
        + f"<h2>What the judge found</h2>{measured}<table>{table}</table>"
        f"<h2>The thresholds</h2><table>{rules}</table>"
        f"<h2>The held-out margin (training job, not gated on)</h2>{margin_html}"
        f"<h2>The training job's checks</h2>{checks_html}"
        f"<h2>A sample, side by side</h2>{samples}</body></html>\n")
