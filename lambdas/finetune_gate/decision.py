"""Whether the tuned model may replace the base: the gate's decision, with a reason for every refusal. Pure.

The gate passes only when all of these hold (each failing one adds its reason):
- the training job's metrics checks passed (`metrics_check_failed`, one reason per failed check;
  `metrics_checks_unreadable` when the checks are not {"passed": bool, "failures": [...]}). No checks at all
  (a job that records none) is not a refusal: the report says none were recorded;
- Bedrock Custom Model Import would load the merged model (metrics.json "import_check", written by
  training/import_check.py: {"importable": bool, "problems": [{"check", "detail", "fix"}]}): `not_importable`,
  one reason per problem with its detail and fix; `import_check_unreadable` when the verdict is not that shape.
  No verdict at all (a job that merged no model) is not a refusal;
- every line of the answers file held a question (`unreadable_answers`: the training job wrote something
  else, which no judge can fix);
- the judge judged something (`judge_unavailable`: it failed on every question it was asked) and failed on no
  more than `max_failure_share` of the questions (`too_many_judge_failures`);
- at least `min_questions` questions were judged (`too_few_questions`);
- the lower bound of the win rate's 95% interval is above `min_lower_bound` (`not_better`).

The outcome, for the pipeline to branch on: `passed`; `judge_unavailable` when the judge's failures are why
it did not pass (running the gate again later may decide) and the training checks did not fail; otherwise
`failed`.

Defaults (Thresholds), and why:
- min_lower_bound 0.5: above 0.5 means "preferred to the base with 95% confidence", ties counting as half.
  Tandem replaces a working model only with a better one; an operator who accepts "not clearly worse" can
  lower it (0.45 lets through a model that may be slightly worse).
- min_questions 30: the interval alone would pass a model that won 5 of 5 questions (Wilson lower bound
  0.57), a sample in which one question's wording decides. With 30, a model preferred on 70% of questions
  clears 0.5 (lower bound 0.52); with 20 it cannot (0.48), so fewer would make the gate a coin toss.
- max_failure_share 0.1: a failed question is left out of the rate, and failures are rarely random (a
  content filter on one model's answers, long answers timing out): above a tenth of the questions left out,
  the rate describes another set than the held-out one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from lambdas.finetune_gate.win_rate import Counts, WinRate

PASSED, FAILED, JUDGE_UNAVAILABLE = "passed", "failed", "judge_unavailable"
_JUDGE_REASONS = ("judge_unavailable", "too_many_judge_failures")
_TRAINING_REASONS = ("metrics_check_failed", "metrics_checks_unreadable", "not_importable", "import_check_unreadable",
                     "unreadable_answers")


@dataclass(frozen=True)
class Thresholds:
    min_lower_bound: float = 0.5
    min_questions: int = 30
    max_failure_share: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_lower_bound < 1.0:
            raise ValueError("min_lower_bound must be from 0 up to (not including) 1")
        if self.min_questions < 1:
            raise ValueError("min_questions must be at least 1")
        if not 0.0 <= self.max_failure_share <= 1.0:
            raise ValueError("max_failure_share must be from 0 to 1")

    def failure_budget(self, questions: int) -> int:
        """How many of `questions` may fail while the gate can still pass."""
        return int(self.max_failure_share * questions + 1e-9)  # 0.1 x 30 is 3, not 2.9999...

    def to_dict(self) -> dict[str, Any]:
        return {"min_lower_bound": self.min_lower_bound, "min_questions": self.min_questions,
                "max_failure_share": self.max_failure_share}


@dataclass(frozen=True)
class Reason:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Decision:
    passed: bool
    outcome: str
    reasons: tuple[Reason, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "outcome": self.outcome, "reasons": [r.to_dict() for r in self.reasons]}


def _failure_text(failure: Any) -> str:
    return failure if isinstance(failure, str) else json.dumps(failure, ensure_ascii=False, sort_keys=True)


def metrics_check_reasons(checks: Mapping[str, Any] | None) -> list[Reason]:
    """The refusals a training job's checks ({"passed": bool, "failures": [...]}) give; none for None."""
    if checks is None:
        return []
    passed, failures = (checks.get("passed"), checks.get("failures")) if isinstance(checks, Mapping) else (None, None)
    if not isinstance(passed, bool) or not isinstance(failures, list):
        return [Reason("metrics_checks_unreadable",
                       'the training job\'s metrics checks are not {"passed": true or false, "failures": [...]}')]
    if passed and not failures:
        return []
    if not failures:
        return [Reason("metrics_check_failed", "the training job's metrics checks failed (no failure named)")]
    return [Reason("metrics_check_failed", f"training metrics check failed: {_failure_text(f)}") for f in failures]


def _problem_text(problem: Mapping[str, Any]) -> str:
    check, detail, fix = (str(problem.get(k) or "").strip() for k in ("check", "detail", "fix"))
    text = f"Bedrock Custom Model Import would not load the merged model ({check or 'unnamed check'}): {detail}"
    return f"{text}; fix: {fix}" if fix else text


def import_check_reasons(verdict: Mapping[str, Any] | None) -> list[Reason]:
    """The refusals the training job's import check (metrics.json "import_check") gives; none for None."""
    if verdict is None:
        return []
    importable, problems = ((verdict.get("importable"), verdict.get("problems")) if isinstance(verdict, Mapping)
                            else (None, None))
    if (not isinstance(importable, bool) or not isinstance(problems, list)
            or not all(isinstance(p, Mapping) for p in problems)):
        return [Reason("import_check_unreadable", 'the training job\'s import check is not {"importable": true or '
                                                  'false, "problems": [{"check", "detail", "fix"}]}')]
    if importable and not problems:
        return []
    if not problems:  # refused without a named problem: still not a model to import
        return [Reason("not_importable", "Bedrock Custom Model Import would not load the merged model "
                                         "(no problem named)")]
    return [Reason("not_importable", _problem_text(p)) for p in problems]


def _codes(counts: Counts) -> str:
    return ", ".join(f"{code} x{n}" for code, n in counts.failures_by_code.items())


def decide(counts: Counts, rate: WinRate | None, thresholds: Thresholds,
           metrics_checks: Mapping[str, Any] | None = None, import_check: Mapping[str, Any] | None = None) -> Decision:
    reasons = metrics_check_reasons(metrics_checks) + import_check_reasons(import_check)
    if counts.unreadable:
        reasons.append(Reason("unreadable_answers", f"{counts.unreadable} of the {counts.questions} lines of the "
                                                    "answers file hold no question (the report lists them)"))
    judge_down = counts.judged == 0 and counts.judge_failures > 0
    if judge_down:
        reasons.append(Reason("judge_unavailable", f"judge unavailable: none of the {counts.questions} questions "
                                                   f"could be judged ({_codes(counts)})"))
    elif counts.judge_failures > thresholds.failure_budget(counts.questions):
        reasons.append(Reason("too_many_judge_failures",
                              f"the judge failed on {counts.judge_failures} of {counts.questions} questions "
                              f"({counts.judge_failure_share:.0%}; {_codes(counts)}), more than the "
                              f"{thresholds.max_failure_share:.0%} allowed"))
    if not judge_down and counts.judged < thresholds.min_questions:
        held_out = (f"the held-out set has {counts.questions} questions" if counts.questions < thresholds.min_questions
                    else f"only {counts.judged} of {counts.questions} questions were judged")
        reasons.append(Reason("too_few_questions",
                              f"{held_out}; the gate needs at least {thresholds.min_questions} judged"))
    if rate is not None and not rate.low > thresholds.min_lower_bound:
        reasons.append(Reason("not_better",
                              f"the tuned model's win rate is {rate.value:.1%} (95% interval {rate.low:.1%} to "
                              f"{rate.high:.1%}, {rate.judged} questions); its lower bound must be above "
                              f"{thresholds.min_lower_bound:.1%}"))
    if not reasons:
        return Decision(passed=True, outcome=PASSED)
    codes = {reason.code for reason in reasons}
    judge_failed = bool(codes & set(_JUDGE_REASONS)) and not codes & set(_TRAINING_REASONS)
    return Decision(passed=False, outcome=JUDGE_UNAVAILABLE if judge_failed else FAILED, reasons=tuple(reasons))
