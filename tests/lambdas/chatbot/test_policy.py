"""EscalationPolicy as a pure function: which rule fires, in which order, and what it says about why."""

from __future__ import annotations

import pytest

from lambdas.chatbot.frustration import FrustrationCues
from lambdas.chatbot.human_request import HumanRequestMatcher
from lambdas.chatbot.policy import EXCERPT_CHARS, EscalationPolicy, GateDecision, negative_streak
from lambdas.chatbot.sentiment import GateReading
from lambdas.common.transcript import Sentiment, Turn


def policy(**overrides) -> EscalationPolicy:
    values = {"human_requests": HumanRequestMatcher(), "frustration_cues": FrustrationCues(), "negative_threshold": 0.75,
              "consecutive_negative_turns": 3, "escalate_on_model_error": True, **overrides}
    return EscalationPolicy(**values)


def reading(label: str, score: float, asks_for_human: bool = False) -> GateReading:
    return GateReading(Sentiment(label=label, score=score, detector="test"), asks_for_human)


def negative(score: float) -> GateReading:
    return reading("negative", score)


def neutral() -> GateReading:
    return reading("neutral", 0.9)


def customer(sentiment: GateReading | None) -> Turn:
    return Turn(role="customer", text="...", sentiment=sentiment.sentiment if sentiment else None)


def bot() -> Turn:
    return Turn(role="bot", text="...")


def reason(decision: GateDecision | None) -> str | None:
    return decision.reason if decision else None


# Rules, their order and their explanation -----------------------------------------------------------------

def test_a_human_request_wins_over_every_other_rule_and_names_its_pattern():
    decision = policy().decide("This is awful, get me a human", negative(0.99), [], model_failed=True)

    assert decision == GateDecision("human_requested", "human_request_pattern", "pattern en:get-me", "get me a human")


def test_the_detectors_human_request_flag_escalates_when_no_pattern_matched():
    decision = policy().decide("Je n'en peux plus de vos robots", reading("negative", 0.4, asks_for_human=True), [])

    assert decision == GateDecision("human_requested", "detector_human_request",
                                    "test: the customer asks for a human", "Je n'en peux plus de vos robots")


def test_model_error_escalates_only_when_configured():
    assert reason(policy().decide("hi", neutral(), [], model_failed=True)) == "model_error"
    assert policy(escalate_on_model_error=False).decide("hi", neutral(), [], model_failed=True) is None


def test_model_error_wins_over_negative_sentiment():
    assert reason(policy().decide("hi", negative(0.99), [], model_failed=True)) == "model_error"


@pytest.mark.parametrize(("score", "expected"), [
    (0.99, "negative_sentiment"),
    (0.75, "negative_sentiment"),  # at the threshold
    (0.7499, None),
    (0.1, None),
])
def test_negative_sentiment_threshold(score, expected):
    assert reason(policy().decide("hmm", negative(score), [])) == expected


def test_the_sentiment_decision_says_detector_score_and_threshold():
    decision = policy(negative_threshold=0.4).decide("this is  bad", negative(0.8123), [])

    assert decision == GateDecision("negative_sentiment", "negative_sentiment", "test negative 0.81 >= 0.40",
                                    "this is  bad")


def test_the_excerpt_is_cut():
    decision = policy().decide("x" * 1000, negative(0.9), [])
    assert decision is not None and decision.excerpt == "x" * EXCERPT_CHARS


@pytest.mark.parametrize("sentiment", [neutral(), reading("positive", 0.99)])
def test_no_negative_sentiment_no_escalation(sentiment):
    history = [customer(negative(0.5)), bot(), customer(negative(0.5)), bot()]

    assert policy().decide("hmm", sentiment, history) is None


# The negative streak ---------------------------------------------------------------------------------------

def test_negative_streak_fires_on_the_nth_negative_turn():
    history: list[Turn] = []
    decisions = []
    for _ in range(3):
        decisions.append(reason(policy().decide("meh", negative(0.5), history)))
        history += [customer(negative(0.5)), bot()]

    assert decisions == [None, None, "negative_streak"]
    assert policy().decide("meh", negative(0.5), history[:4]).signal == "3 negative customer turns in a row"


def test_negative_streak_counts_only_consecutive_customer_turns():
    history = [customer(negative(0.5)), bot(), customer(neutral()), bot(), customer(negative(0.5)), bot()]

    assert policy().decide("meh", negative(0.5), history) is None  # the neutral turn broke the streak
    assert reason(policy(consecutive_negative_turns=2).decide("meh", negative(0.5), history)) == "negative_streak"


def test_a_turn_the_gate_could_not_read_neither_breaks_nor_extends_the_streak():
    history = [customer(negative(0.5)), bot(), customer(None), bot()]

    assert policy().decide("meh", negative(0.5), history) is None  # 2 known negatives
    assert reason(policy().decide("meh", negative(0.5), [customer(negative(0.5)), bot(), *history])) == "negative_streak"


def test_a_failing_gate_still_completes_a_streak_toward_the_human():
    history = [customer(negative(0.5)), bot(), customer(negative(0.5)), bot()]

    decision = policy().decide("meh", None, history)

    assert decision is not None and decision.reason == "negative_streak"
    assert "gate failed" in decision.signal
    assert policy().decide("meh", None, history[2:]) is None  # one known negative is not a streak


def test_a_failing_gate_still_lets_a_human_request_through():
    assert reason(policy().decide("please connect me to an agent", None, [])) == "human_requested"


def test_an_experts_turn_ends_the_streak():
    history = [customer(negative(0.5)), bot(), customer(negative(0.5)), Turn(role="expert", text="Hi, I'm here")]

    assert policy().decide("meh", negative(0.5), history) is None


def test_zero_consecutive_turns_disables_the_streak_rule():
    history = [customer(negative(0.5)), bot()] * 10

    assert policy(consecutive_negative_turns=0).decide("meh", negative(0.5), history) is None
    assert policy(consecutive_negative_turns=0).decide("meh", None, history) is None


def test_negative_streak_counter():
    turns = [customer(negative(0.4)), customer(neutral()), customer(negative(0.4)), customer(negative(0.4))]

    assert negative_streak(reversed(turns)) == 2
    assert negative_streak([]) == 0
