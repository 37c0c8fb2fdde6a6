"""EscalationPolicy as a pure function: which rule fires, in which order, and how phrases match."""

from __future__ import annotations

import pytest

from lambdas.chatbot.policy import EscalationPolicy, negative_streak
from lambdas.common.transcript import Sentiment, Turn

DEFAULT_PHRASES = ("agent", "human", "real person", "talk to a person", "speak to a person", "representative",
                   "operator")


def policy(**overrides) -> EscalationPolicy:
    values = {"human_request_phrases": DEFAULT_PHRASES, "negative_threshold": 0.75,
              "consecutive_negative_turns": 3, "escalate_on_model_error": True, **overrides}
    return EscalationPolicy(**values)


def negative(score: float) -> Sentiment:
    return Sentiment(label="negative", score=score, detector="test")


def neutral() -> Sentiment:
    return Sentiment(label="neutral", score=0.9, detector="test")


def customer(sentiment: Sentiment | None) -> Turn:
    return Turn(role="customer", text="...", sentiment=sentiment)


def bot() -> Turn:
    return Turn(role="bot", text="...")


# Human requests --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("message", [
    "can I talk to a person?",
    "I want an agent",
    "agent",
    "AGENT!",
    "Get me a Human, please",
    "Let me Talk To A Person",
    "let me talk  to   a\tperson now",   # extra and mixed whitespace inside a phrase
    "let me talk to a\nperson",
    "(representative)",
    "is there a real person there?",
])
def test_human_requests_match(message):
    assert policy().asks_for_human(message)
    assert policy().decide(message, None, []) == "human_requested"


@pytest.mark.parametrize("message", [
    "is this agentic AI?",           # 'agent' inside a longer word
    "the reagent is out of stock",
    "humanity is great",
    "talk to a personal trainer",    # the phrase is a prefix of a longer word
    "talk to a",
    "the operators manual",          # plural is another word
    "person",
    "How do I reset my password?",
])
def test_other_messages_do_not_match(message):
    assert not policy().asks_for_human(message)
    assert policy().decide(message, neutral(), []) is None


def test_phrases_are_configurable():
    custom = policy(human_request_phrases=("supervisor", "call me back"))

    assert custom.asks_for_human("I need a SUPERVISOR.")
    assert custom.asks_for_human("please call   me back")
    assert not custom.asks_for_human("I want an agent")  # the defaults no longer apply


def test_phrases_are_literal_text_not_regular_expressions():
    custom = policy(human_request_phrases=("c++ expert", "a.b"))

    assert custom.asks_for_human("I need a C++ expert")
    assert not custom.asks_for_human("I need a c expert")
    assert not custom.asks_for_human("axb")


# Rules and their order -------------------------------------------------------------------------------------

def test_human_request_wins_over_every_other_rule():
    assert policy().decide("This is awful, get me a human", negative(0.99), [], model_failed=True) == "human_requested"


def test_model_error_escalates_only_when_configured():
    assert policy().decide("hi", neutral(), [], model_failed=True) == "model_error"
    assert policy(escalate_on_model_error=False).decide("hi", neutral(), [], model_failed=True) is None


def test_model_error_wins_over_negative_sentiment():
    assert policy().decide("hi", negative(0.99), [], model_failed=True) == "model_error"


@pytest.mark.parametrize(("score", "reason"), [
    (0.99, "negative_sentiment"),
    (0.75, "negative_sentiment"),  # at the threshold
    (0.7499, None),
    (0.1, None),
])
def test_negative_sentiment_threshold(score, reason):
    assert policy().decide("hmm", negative(score), []) == reason


@pytest.mark.parametrize("sentiment", [None, neutral(), Sentiment(label="positive", score=0.99, detector="test")])
def test_no_negative_sentiment_no_escalation(sentiment):
    history = [customer(negative(0.5)), bot(), customer(negative(0.5)), bot()]

    assert policy().decide("hmm", sentiment, history) is None


def test_negative_streak_fires_on_the_nth_negative_turn():
    history: list[Turn] = []
    decisions = []
    for _ in range(3):
        decisions.append(policy().decide("meh", negative(0.5), history))
        history += [customer(negative(0.5)), bot()]

    assert decisions == [None, None, "negative_streak"]


def test_negative_streak_counts_only_consecutive_customer_turns():
    history = [customer(negative(0.5)), bot(), customer(neutral()), bot(), customer(negative(0.5)), bot()]

    assert policy().decide("meh", negative(0.5), history) is None  # the neutral turn broke the streak
    assert policy(consecutive_negative_turns=2).decide("meh", negative(0.5), history) == "negative_streak"


def test_a_failed_detection_breaks_the_streak():
    history = [customer(negative(0.5)), bot(), customer(None), bot(), customer(negative(0.5))]

    assert policy().decide("meh", negative(0.5), history) is None


def test_zero_consecutive_turns_disables_the_streak_rule():
    history = [customer(negative(0.5)), bot()] * 10

    assert policy(consecutive_negative_turns=0).decide("meh", negative(0.5), history) is None


def test_negative_streak_counter():
    turns = [customer(negative(0.4)), customer(neutral()), customer(negative(0.4)), customer(negative(0.4))]

    assert negative_streak(reversed(turns)) == 2
    assert negative_streak([]) == 0


@pytest.mark.parametrize("phrases", [(), ("agent", " ")])
def test_empty_phrases_are_refused_because_they_would_match_everything(phrases):
    with pytest.raises(ValueError, match="human_request_phrases"):
        policy(human_request_phrases=phrases)
