"""What the judgements add up to: the counts, and the tuned model's win rate over the base with a 95%
confidence interval. Pure: numbers in, numbers out.

Win rate. Each judged question scores 1 for a win of the tuned model, 0 for a loss and 1/2 for a tie, and
the win rate is their mean, (wins + ties / 2) / judged. Counting a tie as half a win makes 0.5 mean "as good
as the base" whatever the share of ties; dropping ties instead would let a model that ties 90 questions and
wins 10 of the other 10 look perfect. Judge failures are not questions judged: they are left out of the rate
and counted on their own (the gate limits their share).

Confidence interval: the Wilson score interval, at 95% (z = 1.95996...).
- It is a closed form: the same counts always give the same interval, and a reader can check it by hand
  (a bootstrap would need a seed and thousands of resamples, and is unreliable on the few dozen questions a
  held-out set often has).
- Unlike the plain normal ("Wald") interval it stays inside [0, 1] and keeps close to its nominal coverage
  with few questions or a rate near 0 or 1.
- It assumes each question is a 0-or-1 outcome. With ties as halves a question's score lies in {0, 1/2, 1},
  whose variance p(1 - p) - (share of ties) / 4 is never more than the p(1 - p) Wilson uses: with ties the
  interval is, if anything, wider than it needs to be. For a gate that errs on the side of keeping the
  current model, that is the right side to err on.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Iterable

from lambdas.finetune_gate.judge import FAILURE, LOSS, TIE, UNREADABLE_LINE, WIN, Judgement

CONFIDENCE = 0.95
Z = NormalDist().inv_cdf(1 - (1 - CONFIDENCE) / 2)  # 1.959963984540054


@dataclass(frozen=True)
class Counts:
    questions: int = 0  # every line of the input, readable or not
    wins: int = 0
    losses: int = 0
    ties: int = 0
    failures: int = 0
    failures_by_code: dict[str, int] = field(default_factory=dict)
    orders_disagreed: int = 0  # judged questions whose two orders preferred different answers (ties by rule)

    @property
    def judged(self) -> int:
        return self.wins + self.losses + self.ties

    @property
    def unreadable(self) -> int:
        """Lines of the answers file that held no question (failures, but not the judge's)."""
        return self.failures_by_code.get(UNREADABLE_LINE, 0)

    @property
    def judge_failures(self) -> int:
        return self.failures - self.unreadable

    @property
    def judge_failure_share(self) -> float:
        return self.judge_failures / self.questions if self.questions else 0.0

    def to_dict(self) -> dict[str, object]:
        return {"questions": self.questions, "judged": self.judged, "wins": self.wins, "losses": self.losses,
                "ties": self.ties, "failures": self.failures, "failures_by_code": dict(self.failures_by_code),
                "orders_disagreed": self.orders_disagreed}


@dataclass(frozen=True)
class WinRate:
    value: float
    low: float
    high: float
    judged: int
    confidence: float = CONFIDENCE

    def to_dict(self) -> dict[str, object]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "judged": self.judged,
                "confidence": self.confidence, "interval": "wilson", "ties": "counted as half a win"}


def count(judgements: Iterable[Judgement]) -> Counts:
    outcomes: Counter[str] = Counter()
    codes: Counter[str] = Counter()
    disagreed = 0
    for judgement in judgements:
        outcomes[judgement.outcome] += 1
        if judgement.outcome == FAILURE:
            codes[judgement.failure or "unknown"] += 1
        disagreed += judgement.orders_disagree
    return Counts(questions=sum(outcomes.values()), wins=outcomes[WIN], losses=outcomes[LOSS], ties=outcomes[TIE],
                  failures=outcomes[FAILURE], failures_by_code=dict(sorted(codes.items())),
                  orders_disagreed=disagreed)


def wilson_interval(successes: float, n: int, z: float = Z) -> tuple[float, float]:
    """The Wilson score interval of a rate of `successes` in `n` (successes may be fractional: ties)."""
    if n <= 0:
        raise ValueError("no trials")
    if not 0 <= successes <= n:
        raise ValueError("successes must lie between 0 and n")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half_width = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def win_rate(counts: Counts) -> WinRate | None:
    """The tuned model's win rate over the judged questions, ties as halves; None when none was judged."""
    if counts.judged == 0:
        return None
    successes = counts.wins + counts.ties / 2
    low, high = wilson_interval(successes, counts.judged)
    return WinRate(value=successes / counts.judged, low=low, high=high, judged=counts.judged)


def mean_scores(judgements: Iterable[Judgement]) -> dict[str, float] | None:
    """The judge's mean relevance score of each model's answers, over both orders of the judged questions."""
    verdicts = [v for j in judgements if j.outcome != FAILURE for v in j.verdicts]
    if not verdicts:
        return None
    return {"base": sum(v.base_score for v in verdicts) / len(verdicts),
            "tuned": sum(v.tuned_score for v in verdicts) / len(verdicts)}
