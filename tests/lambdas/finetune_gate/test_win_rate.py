"""The counts and the win rate's Wilson interval, checked against intervals worked out by hand."""

from __future__ import annotations

import pytest

from lambdas.finetune_gate.judge import FAILURE, LOSS, TIE, WIN, Judgement, OrderVerdict
from lambdas.finetune_gate.win_rate import Counts, count, mean_scores, wilson_interval, win_rate


def judgement(outcome: str, question_id: str = "q", failure: str | None = None,
              preferred: tuple[str, str] | None = None) -> Judgement:
    if outcome == FAILURE:
        return Judgement(question_id, FAILURE, failure=failure)
    first, second = preferred or {WIN: ("tuned", "tuned"), LOSS: ("base", "base"), TIE: ("tie", "tie")}[outcome]
    return Judgement(question_id, outcome, verdicts=(OrderVerdict("base_first", 3, 4, first),
                                                     OrderVerdict("tuned_first", 2, 5, second)))


def test_wilson_interval_of_30_in_40_is_the_hand_computed_one():
    # p = 0.75, n = 40, z = 1.959964, z^2 = 3.841459, z^2/n = 0.0960365
    # centre = (0.75 + 3.841459/80) / 1.0960365 = 0.7980182 / 1.0960365 = 0.7280953
    # half   = 1.959964 / 1.0960365 * sqrt(0.75 * 0.25 / 40 + 3.841459 / 6400)
    #        = 1.7882284 * sqrt(0.0046875 + 0.0006002) = 1.7882284 * 0.0727168 = 0.1300346
    low, high = wilson_interval(30, 40)
    assert low == pytest.approx(0.7280953 - 0.1300346, abs=1e-5)  # 0.5980607 (hand-rounded: to 1e-5)
    assert high == pytest.approx(0.7280953 + 0.1300346, abs=1e-5)  # 0.8581299


def test_wilson_interval_counts_ties_as_halves():
    # 20 wins, 8 ties, 12 losses: 24 "successes" in 40, p = 0.6
    # centre = (0.6 + 0.0480182) / 1.0960365 = 0.5912392
    # half   = 1.7882284 * sqrt(0.6 * 0.4 / 40 + 0.0006002) = 1.7882284 * 0.0812417 = 0.1452787
    low, high = wilson_interval(20 + 8 / 2, 40)
    assert low == pytest.approx(0.5912392 - 0.1452787, abs=1e-5)  # 0.4459605
    assert high == pytest.approx(0.5912392 + 0.1452787, abs=1e-5)  # 0.7365179


def test_wilson_interval_at_the_edges_matches_published_tables_and_stays_in_0_1():
    assert wilson_interval(0, 10) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.2775, abs=1e-4))
    assert wilson_interval(10, 10) == (pytest.approx(0.7225, abs=1e-4), 1.0)


@pytest.mark.parametrize("successes, n", [(1, 0), (-1, 5), (6, 5)])
def test_wilson_interval_refuses_impossible_counts(successes, n):
    with pytest.raises(ValueError):
        wilson_interval(successes, n)


def test_counts_separate_outcomes_failures_by_code_and_disagreeing_orders():
    judgements = [judgement(WIN), judgement(WIN), judgement(LOSS), judgement(TIE),
                  judgement(TIE, preferred=("base", "tuned")),
                  judgement(FAILURE, failure="ThrottlingException"), judgement(FAILURE, failure="off_format_reply"),
                  judgement(FAILURE, failure="ThrottlingException")]

    counts = count(judgements)

    assert counts == Counts(questions=8, wins=2, losses=1, ties=2, failures=3,
                            failures_by_code={"ThrottlingException": 2, "off_format_reply": 1}, orders_disagreed=1)
    assert counts.judged == 5
    assert (counts.judge_failures, counts.judge_failure_share, counts.unreadable) == (3, 3 / 8, 0)


def test_unreadable_lines_are_failures_but_not_the_judges():
    counts = count([judgement(WIN), judgement(FAILURE, failure="unreadable_line"),
                    judgement(FAILURE, failure="ThrottlingException")])

    assert (counts.failures, counts.unreadable, counts.judge_failures) == (2, 1, 1)


def test_the_win_rate_counts_a_tie_as_half_a_win_and_leaves_failures_out():
    counts = Counts(questions=12, wins=5, losses=3, ties=2, failures=2)

    rate = win_rate(counts)

    assert rate is not None
    assert rate.value == (5 + 1) / 10
    assert (rate.low, rate.high) == wilson_interval(6, 10)
    assert rate.judged == 10


def test_there_is_no_win_rate_when_nothing_was_judged():
    assert win_rate(Counts(questions=3, failures=3)) is None


def test_mean_scores_average_both_orders_of_the_judged_questions_only():
    judgements = [judgement(WIN), judgement(LOSS), judgement(FAILURE, failure="x")]

    assert mean_scores(judgements) == {"base": 2.5, "tuned": 4.5}
    assert mean_scores([judgement(FAILURE, failure="x")]) is None
