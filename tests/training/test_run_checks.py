"""The run's checks on hand-made measures: a healthy run passes, each rule fails once, and a run that could not
be measured does not pass."""

from __future__ import annotations

import copy
import json

import pytest

from training import run_checks
from training.config import Hyperparameters

THRESHOLDS = run_checks.Thresholds()


def _generation(**overrides) -> dict:
    return {"answers": 8, "stop_rate": 0.875, "mean_length": 20.0, "empty_share": 0.0, "distinct_1": 0.4,
            "distinct_2": 0.6, "longest_repeat_run": 3, "mean_longest_repeat_run": 1.5, **overrides}


def _healthy() -> dict:
    """What a sound run looks like: well-rated answers up, badly rated down, generation as before, KL small."""
    before = {"good_rows": 8, "bad_rows": 8, "good_mean_logprob": -6.0, "bad_mean_logprob": -6.1, "margin": 0.1,
              "generic_mean_logprob": -5.0, "generation": _generation()}
    after = {"good_rows": 8, "bad_rows": 8, "good_mean_logprob": -5.5, "bad_mean_logprob": -6.6, "margin": 1.1,
             "generic_mean_logprob": -5.02, "generation": _generation(stop_rate=1.0, distinct_2=0.55)}
    return {"before": before, "after": after, "kl_to_base": {"sequence_kl": 2.5, "sequence_kl_stderr": 0.3}}


def _failed(measured: dict, thresholds: run_checks.Thresholds = THRESHOLDS) -> dict[str, dict]:
    result = run_checks.check(measured, thresholds)
    assert result["passed"] is (not result["failures"])
    return {failure["check"]: failure for failure in result["failures"]}


def test_a_healthy_run_passes_and_the_result_has_the_documented_shape():
    result = run_checks.check(_healthy(), THRESHOLDS)
    assert result == {"passed": True, "failures": [], "thresholds": {
        "logprob_tolerance": 0.05, "kl_budget": 6.0, "max_stop_rate_drop": 0.25, "max_empty_share_rise": 0.25,
        "min_distinct_2_ratio": 0.5, "max_repeat_run_ratio": 2.0, "min_repeat_run_rise": 4.0}}
    json.dumps(result)  # metrics.json holds it as is


def test_well_rated_answers_falling_below_the_base_fail_beyond_the_tolerance():
    measured = _healthy()
    measured["after"]["good_mean_logprob"] = -6.04  # within 0.05 of the base's -6.0
    assert _failed(measured) == {}
    measured["after"]["good_mean_logprob"] = -6.2  # the margin still rose: bad answers fell further
    failure = _failed(measured)["good_answers_logprob"]
    assert failure["value"] == -6.2 and failure["limit"] == pytest.approx(-6.05)
    assert "less likely" in failure["reason"]


@pytest.mark.parametrize(("field", "value", "check", "limit"), [
    ("stop_rate", 0.5, "generation_stop_rate", 0.875 - 0.25),
    ("empty_share", 0.375, "generation_empty", 0.0 + 0.25),
    ("distinct_2", 0.25, "generation_distinct_2", 0.5 * 0.6),
    ("mean_longest_repeat_run", 6.0, "generation_repeat_run", max(2 * 1.5, 1.5 + 4)),
])
def test_each_collapse_rule_fails_a_tuned_model_much_worse_than_the_base(field, value, check, limit):
    measured = _healthy()
    measured["after"]["generation"][field] = value
    failures = _failed(measured)
    assert list(failures) == [check]
    assert failures[check]["value"] == value and failures[check]["limit"] == pytest.approx(limit)
    assert failures[check]["reason"]


def test_a_base_that_already_collapsed_is_not_held_against_the_tuned_model():
    """The rules compare with the base: a tuned model no worse than a degenerate base passes them."""
    measured = _healthy()
    degenerate = _generation(stop_rate=0.0, empty_share=1.0, distinct_2=0.002, mean_longest_repeat_run=64.0)
    measured["before"]["generation"] = degenerate
    measured["after"]["generation"] = copy.deepcopy(degenerate)
    assert _failed(measured) == {}


def test_a_sequence_kl_over_the_budget_fails():
    measured = _healthy()
    measured["kl_to_base"]["sequence_kl"] = 6.5
    failure = _failed(measured)["kl_budget"]
    assert (failure["value"], failure["limit"]) == (6.5, 6.0)
    assert _failed(measured, run_checks.Thresholds(kl_budget=7.0)) == {}


def test_thresholds_come_from_the_hyperparameters():
    thresholds = run_checks.Thresholds.from_hparams(Hyperparameters(kl_budget=12.5, logprob_tolerance=0.0))
    assert (thresholds.kl_budget, thresholds.logprob_tolerance) == (12.5, 0.0)
    measured = _healthy()
    measured["after"]["good_mean_logprob"] = -6.01
    assert list(_failed(measured, thresholds)) == ["good_answers_logprob"]


def test_what_was_not_measured_fails_with_the_reason():
    assert _failed(None) == {"held_out_rows": {"check": "held_out_rows", "value": 0, "limit": None,
                                               "reason": "not measured: the run had no held-out rows to evaluate on"}}
    measured = _healthy()
    measured["before"]["good_mean_logprob"] = measured["after"]["good_mean_logprob"] = None
    measured["kl_to_base"] = None
    failures = _failed(measured)
    assert set(failures) == {"good_answers_logprob", "kl_budget"}
    assert all(failure["reason"].startswith("not measured") for failure in failures.values())


def test_every_failure_names_a_documented_check():
    measured = _healthy()
    measured["after"].update(good_mean_logprob=-9.0, generation=_generation(
        stop_rate=0.0, empty_share=1.0, distinct_2=0.0, mean_longest_repeat_run=64.0))
    measured["kl_to_base"]["sequence_kl"] = 40.0
    failures = run_checks.check(measured, THRESHOLDS)["failures"]
    assert [failure["check"] for failure in failures] == [
        "good_answers_logprob", "generation_stop_rate", "generation_empty", "generation_distinct_2",
        "generation_repeat_run", "kl_budget"]
    assert {failure["check"] for failure in failures} <= set(run_checks.CHECKS)
    assert all(set(failure) == {"check", "value", "limit", "reason"} for failure in failures)
