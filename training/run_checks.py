"""The run's checks: did training make the model better at what the ratings asked without breaking it?

Used by training/job.py, which writes the result to metrics.json as "checks"; an import gate reads it (or
calls check() again on the stored "eval" with thresholds of its own: it is a pure function). The shape is
stable:

    {"passed": bool,
     "failures": [{"check": name, "value": measured, "limit": the bound it crossed, "reason": a sentence}],
     "thresholds": {name: value, ...}}

A check whose measure is missing (no held-out rows, no well-rated ones) fails with the reason: a run that
could not be measured cannot be shown to be sound. Each check and its threshold, with why, is in
training/README.md ("The run's checks"); in short, with before = the base and after = the tuned model on the
same held-out questions:

    good_answers_logprob      after.good_mean_logprob < before.good_mean_logprob - logprob_tolerance
    generation_stop_rate      after.stop_rate < before.stop_rate - max_stop_rate_drop
    generation_empty          after.empty_share > before.empty_share + max_empty_share_rise
    generation_distinct_2     after.distinct_2 < min_distinct_2_ratio * before.distinct_2
    generation_repeat_run     after.mean_longest_repeat_run > max_repeat_run_ratio * before.mean_longest_repeat_run
                              and > before.mean_longest_repeat_run + min_repeat_run_rise
    kl_budget                 kl_to_base.sequence_kl > kl_budget
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from training.config import Hyperparameters

logger = logging.getLogger(__name__)

CHECKS = ("held_out_rows", "good_answers_logprob", "generation_stop_rate", "generation_empty",
          "generation_distinct_2", "generation_repeat_run", "kl_budget")


@dataclass(frozen=True)
class Thresholds:
    logprob_tolerance: float = 0.05  # nats per token (Hyperparameters.logprob_tolerance)
    kl_budget: float = 6.0  # nats per answer (Hyperparameters.kl_budget)
    max_stop_rate_drop: float = 0.25  # share of answers
    max_empty_share_rise: float = 0.25  # share of answers
    min_distinct_2_ratio: float = 0.5
    max_repeat_run_ratio: float = 2.0
    min_repeat_run_rise: float = 4.0  # tokens

    @classmethod
    def from_hparams(cls, hparams: Hyperparameters) -> Thresholds:
        return cls(logprob_tolerance=hparams.logprob_tolerance, kl_budget=hparams.kl_budget)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _failure(check: str, value: Any, limit: Any, reason: str) -> dict[str, Any]:
    return {"check": check, "value": value, "limit": limit, "reason": reason}


def _good_answers(before: dict[str, Any], after: dict[str, Any], t: Thresholds) -> dict[str, Any] | None:
    was, now = before.get("good_mean_logprob"), after.get("good_mean_logprob")
    if was is None or now is None:
        return _failure("good_answers_logprob", now, None, "not measured: the held-out split has no well-rated "
                                                           "answers")
    limit = was - t.logprob_tolerance
    if now < limit:
        return _failure("good_answers_logprob", now, limit,
                        f"well-rated held-out answers became less likely than under the base: mean log-prob "
                        f"{was:.4f} -> {now:.4f} nats per token (tolerance {t.logprob_tolerance})")
    return None


def _generation(before: dict[str, Any], after: dict[str, Any], t: Thresholds) -> list[dict[str, Any]]:
    was, now = before.get("generation") or {}, after.get("generation") or {}
    if not was.get("answers") or not now.get("answers"):
        return [_failure("generation_stop_rate", None, None, "not measured: no held-out question was answered")]
    failures = []
    limit = was["stop_rate"] - t.max_stop_rate_drop
    if now["stop_rate"] < limit:
        failures.append(_failure("generation_stop_rate", now["stop_rate"], limit,
                                 f"fewer answers end: {was['stop_rate']:.2f} of the base's did, "
                                 f"{now['stop_rate']:.2f} now (the rest run to the length limit)"))
    limit = was["empty_share"] + t.max_empty_share_rise
    if now["empty_share"] > limit:
        failures.append(_failure("generation_empty", now["empty_share"], limit,
                                 f"more answers are empty: {was['empty_share']:.2f} of the base's, "
                                 f"{now['empty_share']:.2f} now"))
    limit = t.min_distinct_2_ratio * was["distinct_2"]
    if now["distinct_2"] < limit:
        failures.append(_failure("generation_distinct_2", now["distinct_2"], limit,
                                 f"the answers repeat themselves: distinct-2 {was['distinct_2']:.3f} -> "
                                 f"{now['distinct_2']:.3f}"))
    base_run = was["mean_longest_repeat_run"]
    limit = max(t.max_repeat_run_ratio * base_run, base_run + t.min_repeat_run_rise)
    if now["mean_longest_repeat_run"] > limit:
        failures.append(_failure("generation_repeat_run", now["mean_longest_repeat_run"], limit,
                                 f"answers fall into one repeated token: the longest run per answer averages "
                                 f"{base_run:.1f} tokens for the base, {now['mean_longest_repeat_run']:.1f} now"))
    return failures


def _kl(kl: dict[str, Any] | None, t: Thresholds) -> dict[str, Any] | None:
    value = (kl or {}).get("sequence_kl")
    if value is None:
        return _failure("kl_budget", None, t.kl_budget, "not measured: no answer was sampled")
    if value > t.kl_budget:
        return _failure("kl_budget", value, t.kl_budget,
                        f"the tuned model moved too far from the base: sequence KL {value:.2f} nats per answer on "
                        f"its own samples, over the budget of {t.kl_budget}")
    return None


def check(measured: dict[str, Any] | None, thresholds: Thresholds) -> dict[str, Any]:
    """measured: metrics.json's "eval" (training/evaluation.compare), or None when there were no held-out rows."""
    if measured is None:
        failures = [_failure("held_out_rows", 0, None, "not measured: the run had no held-out rows to evaluate on")]
    else:
        before, after = measured["before"], measured["after"]
        failures = [failure for failure in (_good_answers(before, after, thresholds),
                                            *_generation(before, after, thresholds),
                                            _kl(measured.get("kl_to_base"), thresholds)) if failure]
    return {"passed": not failures, "failures": failures, "thresholds": thresholds.to_dict()}


def log(checks: dict[str, Any]) -> None:
    if checks["passed"]:
        logger.info("run checks passed")
        return
    for failure in checks["failures"]:
        logger.warning("run check failed: %s: %s", failure["check"], failure["reason"])
