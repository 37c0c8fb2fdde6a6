"""The report: what report.json holds, which questions its side-by-side sample shows, and a page in which
every model and customer text is escaped."""

from __future__ import annotations

import re

from lambdas.finetune_gate.answers import Question, Unreadable
from lambdas.finetune_gate.decision import Thresholds, decide
from lambdas.finetune_gate.gate import Evaluation
from lambdas.finetune_gate.judge import FAILURE, LOSS, TIE, WIN, Judgement, OrderVerdict
from lambdas.finetune_gate.report import build, render_html, sample
from lambdas.finetune_gate.win_rate import count, win_rate

SCRIPT = "<script>alert('x')</script>"


def question(i: int, **changes: str) -> Question:
    data = {"question": f"Question {i}?", "base_answer": f"base {i}", "tuned_answer": f"tuned {i}", "system": ""}
    data.update(changes)
    return Question(question_id=f"q{i}", **data)


def judged(i: int, outcome: str) -> Judgement:
    if outcome == FAILURE:
        return Judgement(f"q{i}", FAILURE, failure="ThrottlingException", failed_order="base_first")
    preferred = {WIN: "tuned", LOSS: "base", TIE: "tie"}[outcome]
    return Judgement(f"q{i}", outcome, verdicts=(OrderVerdict("base_first", 3, 4, preferred),
                                                 OrderVerdict("tuned_first", 3, 4, preferred)))


def evaluation(outcomes: list[str], items: list | None = None, checks=None) -> Evaluation:
    judgements = [judged(i, outcome) for i, outcome in enumerate(outcomes)]
    counts = count(judgements)
    rate = win_rate(counts)
    return Evaluation(items=tuple(items or [question(i) for i in range(len(outcomes))]), lines=len(outcomes),
                      judgements=tuple(judgements), counts=counts, rate=rate,
                      decision=decide(counts, rate, Thresholds(min_questions=2), checks))


def report_of(ev: Evaluation, metrics=None, sample_size: int = 4) -> dict:
    return build(ev, evaluation_id="run-1", judge_model_id="judge-model", thresholds=Thresholds(min_questions=2),
                 max_questions=300, sample_size=sample_size, answers_uri="s3://b/answers.jsonl",
                 metrics_uri="s3://b/metrics.json" if metrics is not None else None, metrics=metrics)


def test_the_sample_shows_losses_first_then_ties_wins_and_failures_one_of_each_in_turn():
    ev = evaluation([WIN] * 6 + [LOSS] * 2 + [TIE] + [FAILURE])

    shown = sample(ev, 6)

    assert [entry["outcome"] for entry in shown] == [LOSS, TIE, WIN, FAILURE, LOSS, WIN]
    assert sample(ev, 6) == shown  # the same questions on every run


def test_a_sampled_question_has_both_answers_side_by_side_with_both_verdicts():
    (entry,) = sample(evaluation([LOSS]), 1)

    assert entry == {"question_id": "q0", "question": "Question 0?", "system": "", "base_answer": "base 0",
                     "tuned_answer": "tuned 0", "outcome": LOSS, "failure": None,
                     "verdicts": [{"order": "base_first", "base_score": 3, "tuned_score": 4, "preferred": "base"},
                                  {"order": "tuned_first", "base_score": 3, "tuned_score": 4, "preferred": "base"}]}


def test_an_unreadable_line_is_counted_but_has_nothing_to_show():
    ev = evaluation([FAILURE], items=[Unreadable(1, "the line is not JSON")])
    ev = Evaluation(items=ev.items, lines=1, judgements=(Judgement("line 1", FAILURE, failure="unreadable_line"),),
                    counts=ev.counts, rate=ev.rate, decision=ev.decision)

    assert sample(ev, 5) == []


def test_the_report_holds_the_decision_the_rate_the_counts_the_margin_and_the_checks():
    checks = {"passed": True, "failures": []}
    metrics = {"eval": {"margin_before": -0.2, "margin_after": 0.1, "margin_delta": 0.3, "before": {}},
               "checks": checks}

    report = report_of(evaluation([WIN, WIN, WIN, LOSS], checks=checks), metrics)

    assert report["schema_version"] == 1 and report["evaluation_id"] == "run-1"
    assert report["judge_model_id"] == "judge-model"
    assert report["inputs"] == {"answers_uri": "s3://b/answers.jsonl", "metrics_uri": "s3://b/metrics.json"}
    assert report["counts"]["wins"] == 3 and report["counts"]["judged"] == 4
    assert report["win_rate"]["value"] == 0.75 and report["win_rate"]["interval"] == "wilson"
    assert report["win_rate"]["ties"] == "counted as half a win"
    assert report["margin"] == {"margin_before": -0.2, "margin_after": 0.1, "margin_delta": 0.3}
    assert report["metrics_checks"] == checks
    assert report["thresholds"] == {"min_lower_bound": 0.5, "min_questions": 2, "max_failure_share": 0.1,
                                    "max_questions": 300}
    assert report["decision"]["passed"] is False and report["decision"]["reasons"][0]["code"] == "not_better"
    assert report["mean_scores"] == {"base": 3.0, "tuned": 4.0}
    assert len(report["sample"]) == 4


def test_without_metrics_the_margin_and_checks_are_null_and_the_page_says_so():
    report = report_of(evaluation([WIN]))

    assert report["margin"] is None and report["metrics_checks"] is None
    assert "Not recorded by the training job." in render_html(report)


def test_every_text_on_the_page_is_escaped_and_the_page_runs_no_script():
    hostile = question(0, question=f"Q {SCRIPT}", base_answer='<img src=x onerror="alert(1)">',
                       tuned_answer="a & b </td></tr></table>", system="<b>be bold</b>")
    report = report_of(evaluation([LOSS], items=[hostile]))
    report["decision"]["reasons"].append({"code": "x", "message": "<i>reason</i>"})

    page = render_html(report)

    assert "<script" not in page and "<img" not in page and "<i>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "a &amp; b &lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;" in page
    assert page.count("<table") == page.count("</table>")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page)
    assert policy and policy.group(1).startswith("default-src &#x27;none&#x27;; style-src &#x27;sha256-")


def test_the_page_states_the_decision_and_the_interval():
    passed = render_html(report_of(evaluation([WIN] * 10)))
    refused = render_html(report_of(evaluation([LOSS] * 3)))

    assert "Passed: the tuned model may be imported" in passed
    assert "Refused (failed): the current model stays" in refused
    assert "95% Wilson interval" in passed and "counted as half a win" in passed
