"""The gate's decision on known counts: it passes only when every condition holds, and each refusal says why."""

from __future__ import annotations

import pytest

from lambdas.finetune_gate.decision import (
    FAILED,
    JUDGE_UNAVAILABLE,
    PASSED,
    Thresholds,
    decide,
    import_check_reasons,
    metrics_check_reasons,
)
from lambdas.finetune_gate.win_rate import Counts, win_rate

DEFAULTS = Thresholds()
CHECKS_PASSED = {"passed": True, "failures": []}


def decision_for(counts: Counts, thresholds: Thresholds = DEFAULTS, checks=CHECKS_PASSED):
    return decide(counts, win_rate(counts), thresholds, checks)


def codes(decision) -> list[str]:
    return [reason.code for reason in decision.reasons]


def test_the_defaults_are_the_documented_ones():
    assert DEFAULTS == Thresholds(min_lower_bound=0.5, min_questions=30, max_failure_share=0.1)


def test_a_clearly_better_model_on_enough_questions_passes():
    # 21 wins of 30: Wilson lower bound 0.521 > 0.5
    decision = decision_for(Counts(questions=30, wins=21, losses=9))

    assert (decision.passed, decision.outcome, decision.reasons) == (True, PASSED, ())


def test_a_model_whose_lower_bound_is_not_above_the_threshold_is_not_better():
    # 14 wins of 20 is the same 70%, but its lower bound is 0.481
    decision = decision_for(Counts(questions=20, wins=14, losses=6), Thresholds(min_questions=20))

    assert (decision.passed, decision.outcome, codes(decision)) == (False, FAILED, ["not_better"])
    assert "70.0%" in decision.reasons[0].message and "48.1%" in decision.reasons[0].message
    assert "above 50.0%" in decision.reasons[0].message


def test_the_lower_bound_threshold_decides_on_the_same_counts():
    counts = Counts(questions=30, wins=21, losses=9)  # lower bound 0.5212

    assert decision_for(counts, Thresholds(min_lower_bound=0.52)).passed
    assert not decision_for(counts, Thresholds(min_lower_bound=0.53)).passed


def test_ties_count_as_half_so_a_model_that_only_ties_is_not_better():
    decision = decision_for(Counts(questions=100, ties=100))

    assert codes(decision) == ["not_better"]
    assert "50.0%" in decision.reasons[0].message


def test_a_model_that_wins_every_one_of_too_few_questions_does_not_pass():
    # 5 of 5: the interval alone (lower bound 0.566) would let it through
    decision = decision_for(Counts(questions=5, wins=5))

    assert codes(decision) == ["too_few_questions"]
    assert "the held-out set has 5 questions" in decision.reasons[0].message
    assert "at least 30" in decision.reasons[0].message


def test_questions_lost_to_judge_failures_can_leave_too_few_judged():
    decision = decision_for(Counts(questions=31, wins=28, failures=3), Thresholds(max_failure_share=0.1))

    assert codes(decision) == ["too_few_questions"]
    assert "only 28 of 31 questions were judged" in decision.reasons[0].message


def test_judge_failures_up_to_the_share_allowed_pass_and_one_more_does_not():
    allowed = Counts(questions=40, wins=32, losses=4, failures=4, failures_by_code={"ThrottlingException": 4})
    too_many = Counts(questions=40, wins=31, losses=4, failures=5, failures_by_code={"ThrottlingException": 5})

    assert decision_for(allowed).passed
    refused = decision_for(too_many)
    assert (refused.outcome, codes(refused)) == (JUDGE_UNAVAILABLE, ["too_many_judge_failures"])
    assert "5 of 40" in refused.reasons[0].message and "ThrottlingException x5" in refused.reasons[0].message


def test_a_judge_that_failed_every_question_is_unavailable_and_no_other_reason_is_guessed():
    counts = Counts(questions=40, failures=40, failures_by_code={"AccessDeniedException": 40})

    decision = decision_for(counts)

    assert (decision.passed, decision.outcome, codes(decision)) == (False, JUDGE_UNAVAILABLE, ["judge_unavailable"])
    assert decision.reasons[0].message.startswith("judge unavailable")
    assert "AccessDeniedException x40" in decision.reasons[0].message


def test_no_questions_at_all_is_too_few_not_a_judge_problem():
    decision = decision_for(Counts())

    assert (decision.outcome, codes(decision)) == (FAILED, ["too_few_questions"])


def test_a_failed_metrics_check_fails_a_gate_the_judge_would_pass_with_each_reason():
    checks = {"passed": False, "failures": ["loss is NaN", {"check": "margin_delta", "value": -0.4}]}

    decision = decision_for(Counts(questions=40, wins=35, losses=5), checks=checks)

    assert (decision.passed, decision.outcome) == (False, FAILED)
    assert [r.message for r in decision.reasons] == [
        "training metrics check failed: loss is NaN",
        'training metrics check failed: {"check": "margin_delta", "value": -0.4}']


def test_a_failed_metrics_check_outweighs_an_unavailable_judge():
    counts = Counts(questions=40, failures=40, failures_by_code={"ThrottlingException": 40})

    decision = decision_for(counts, checks={"passed": False, "failures": ["adapter not saved"]})

    assert (decision.outcome, codes(decision)) == (FAILED, ["metrics_check_failed", "judge_unavailable"])


NOT_IMPORTABLE = {"importable": False, "problems": [
    {"check": "files.tokenizer", "detail": "no tokenizer.json in merged/", "fix": "save the tokenizer with the model"},
    {"check": "architecture", "detail": "model_type 'gpt2' is not one import supports", "fix": ""}]}


def test_a_model_import_would_not_load_fails_a_gate_the_judge_would_pass_with_each_problems_detail():
    decision = decide(Counts(questions=40, wins=35, losses=5), win_rate(Counts(questions=40, wins=35, losses=5)),
                      DEFAULTS, CHECKS_PASSED, NOT_IMPORTABLE)

    assert (decision.passed, decision.outcome, codes(decision)) == (False, FAILED, ["not_importable"] * 2)
    assert [r.message for r in decision.reasons] == [
        "Bedrock Custom Model Import would not load the merged model (files.tokenizer): no tokenizer.json in "
        "merged/; fix: save the tokenizer with the model",
        "Bedrock Custom Model Import would not load the merged model (architecture): model_type 'gpt2' is not one "
        "import supports"]


def test_an_unimportable_model_outweighs_an_unavailable_judge():
    counts = Counts(questions=40, failures=40, failures_by_code={"ThrottlingException": 40})

    decision = decide(counts, None, DEFAULTS, CHECKS_PASSED, NOT_IMPORTABLE)

    assert decision.outcome == FAILED  # retrying the judge cannot make the model importable
    assert codes(decision) == ["not_importable", "not_importable", "judge_unavailable"]


@pytest.mark.parametrize(("verdict", "expected"), [
    (None, []),
    ({"importable": True, "problems": [], "warnings": [{"check": "x", "detail": "y", "fix": "z"}]}, []),
    ({"importable": False, "problems": []}, ["not_importable"]),
    ({"importable": True, "problems": [{"check": "c", "detail": "d", "fix": "f"}]}, ["not_importable"]),
    ({"importable": "no", "problems": []}, ["import_check_unreadable"]),
    ({"importable": False}, ["import_check_unreadable"]),
    ({"importable": False, "problems": ["tokenizer missing"]}, ["import_check_unreadable"]),
    ([False], ["import_check_unreadable"]),
])
def test_the_import_check_is_read_strictly(verdict, expected):
    assert [r.code for r in import_check_reasons(verdict)] == expected


def test_unreadable_lines_of_the_answers_file_fail_the_gate_on_the_training_sides_account():
    counts = Counts(questions=41, wins=36, losses=4, failures=1, failures_by_code={"unreadable_line": 1})

    decision = decision_for(counts)

    assert (decision.outcome, codes(decision)) == (FAILED, ["unreadable_answers"])
    assert decision.reasons[0].message == ("1 of the 41 lines of the answers file hold no question "
                                           "(the report lists them)")


def test_an_answers_file_of_unreadable_lines_is_not_a_judge_problem():
    decision = decision_for(Counts(questions=3, failures=3, failures_by_code={"unreadable_line": 3}))

    assert (decision.outcome, codes(decision)) == (FAILED, ["unreadable_answers", "too_few_questions"])


@pytest.mark.parametrize("checks, expected", [
    (None, []),
    ({"passed": True, "failures": []}, []),
    ({"passed": False, "failures": []}, ["metrics_check_failed"]),
    ({"passed": True, "failures": ["contradiction"]}, ["metrics_check_failed"]),
    ({"passed": "yes", "failures": []}, ["metrics_checks_unreadable"]),
    ({"passed": True}, ["metrics_checks_unreadable"]),
    (["passed"], ["metrics_checks_unreadable"]),
])
def test_metrics_checks_are_read_strictly(checks, expected):
    assert [r.code for r in metrics_check_reasons(checks)] == expected


def test_every_reason_that_applies_is_given():
    counts = Counts(questions=10, wins=2, losses=4, failures=4, failures_by_code={"off_format_reply": 4})

    decision = decision_for(counts, checks={"passed": False, "failures": ["x"]})

    assert codes(decision) == ["metrics_check_failed", "too_many_judge_failures", "too_few_questions", "not_better"]


@pytest.mark.parametrize("changes", [{"min_lower_bound": 1.0}, {"min_lower_bound": -0.1}, {"min_questions": 0},
                                     {"max_failure_share": 1.5}])
def test_thresholds_out_of_range_are_refused(changes):
    with pytest.raises(ValueError):
        Thresholds(**changes)


def test_the_failure_budget_is_the_share_of_the_questions_rounded_down():
    assert [Thresholds(max_failure_share=0.1).failure_budget(n) for n in (9, 10, 30, 39)] == [0, 1, 3, 3]
    assert Thresholds(max_failure_share=0.0).failure_budget(100) == 0
