"""The expert email as a pure function: cleaning and cutting turns, the subject, the size guard, the link."""

from __future__ import annotations

import pytest

from lambdas.common import signing
from lambdas.common.transcript import EscalationRecord, Sentiment, Turn
from lambdas.escalation_worker import expert_email
from lambdas.escalation_worker.expert_email import ELLIPSIS, clean_text, compose, cut, review_link, subject

KEY = b"k" * 32
LINK = "https://experts.example.com/prod/escalations/e-1?session_id=s-1&exp=1&sig=abc"


def record(**overrides) -> EscalationRecord:
    values = {"session_id": "s-1", "escalation_id": "e-1", "reason": "negative_sentiment", "turn_id": "t-1",
              "requested_at": "2026-11-25T01:20:00.123456Z",
              "sentiment": Sentiment(label="negative", score=0.912, detector="comprehend")}
    return EscalationRecord(**{**values, **overrides})


def test_short_text_is_kept_as_it_is():
    assert cut("Where is my refund?\nOrder 42.") == "Where is my refund?\nOrder 42."


def test_long_text_is_cut_to_500_characters_with_an_ellipsis():
    text = cut("a" * 1000)
    assert len(text) == 500 and text == "a" * 499 + ELLIPSIS


def test_lone_surrogates_and_control_characters_are_dropped():
    dirty = "ok\ud800 \x00bell\x07 esc\x1b[0m del\x7f\r\nnext\u2028line\ttab \u202eevil\u202c \u200fx"
    assert clean_text(dirty) == "ok bell esc[0m del\nnext\nline tab evil x"
    assert cut(dirty).encode("utf-8")  # would raise UnicodeEncodeError on a surrogate


def test_a_cut_never_leaves_a_combining_mark_or_joiner_without_its_character():
    accented = "e\u0301" * 300  # é as e + combining acute: the cut falls between the two
    text = cut(accented, 500)
    assert text.endswith("e\u0301" + ELLIPSIS) and len(text) <= 500
    family = "x" * 497 + "\U0001F468\u200d\U0001F469\u200d\U0001F467" + "y" * 10
    text = cut(family, 500)
    assert "\u200d" not in text[-3:] and len(text) <= 500


def test_emoji_beyond_the_basic_plane_count_as_one_character():
    text = cut("\U0001F600" * 600)
    assert text == "\U0001F600" * 499 + ELLIPSIS


def test_the_subject_is_plain_ascii_under_100_characters():
    assert subject(record()) == "Tandem: a customer needs an expert (negative_sentiment)"
    odd = subject(record(reason="évil\r\nBcc: x@example.com " + "z" * 200))
    assert odd.isascii() and "\n" not in odd and "\r" not in odd and len(odd) < 100


def test_the_message_says_why_and_shows_the_turns_in_order():
    turns = [Turn(role="customer", text="question", created_at="2026-11-25T01:19:00.000001Z"),
             Turn(role="bot", text="answer", created_at="2026-11-25T01:19:01.000001Z")]
    email = compose(record(), turns, link=LINK, link_expires=1_795_570_000)
    message = email.message
    assert "Why:        the customer's message read as strongly negative (negative_sentiment)" in message
    assert "Sentiment:  negative, score 0.91 (detector: comprehend)" in message
    assert "Raised at:  2026-11-25 01:20:00 UTC" in message
    assert "--- Customer, 2026-11-25 01:19:00 UTC ---\nquestion" in message
    assert message.index("--- Customer") < message.index("--- Assistant")
    assert LINK in message and "works until 2026-11-25 " in message


def test_the_message_names_the_signal_the_gate_fired_on_but_not_the_excerpt():
    explanation = {"rule": "frustration_cue", "signal": "cue en:legal", "excerpt": "filing a chargeback"}
    email = compose(record(explanation=explanation), [], link=LINK, link_expires=0)
    assert "Signal:     cue en:legal" in email.message
    assert "filing a chargeback" not in email.message  # the customer's words come with the turns, cut and cleaned


def test_without_sentiment_or_turns_the_message_still_has_the_reason_and_link():
    email = compose(record(sentiment=None, reason="human_requested"), [], link=LINK, link_expires=0)
    assert "Sentiment" not in email.message and "asked for a person" in email.message
    assert "No turns of the conversation could be shown." in email.message and LINK in email.message


def test_the_largest_possible_email_stays_far_below_the_sns_limit():
    widest = "\U0001D11E" * 2000  # 4 UTF-8 bytes each, cut to 500
    turns = [Turn(role="customer", text=widest) for _ in range(20)]  # EMAIL_TURNS is at most 20
    email = compose(record(), turns, link=LINK, link_expires=0)
    size = len(email.message.encode("utf-8"))
    assert size <= expert_email.MESSAGE_MAX_BYTES < expert_email.SNS_MESSAGE_MAX_BYTES
    assert email.message.count("--- Customer") == 20


def test_over_the_guard_the_oldest_turns_are_left_out_never_the_link(monkeypatch):
    monkeypatch.setattr(expert_email, "MESSAGE_MAX_BYTES", 3000)
    turns = [Turn(role="customer", text=f"turn {i} " + "w" * 600) for i in range(6)]
    email = compose(record(), turns, link=LINK, link_expires=0)
    assert len(email.message.encode()) <= 3000
    assert LINK in email.message and "turn 5" in email.message and "turn 0" not in email.message


def test_the_review_link_verifies_and_names_the_escalation_in_its_path():
    link = review_link("https://x.example/prod/", KEY, session_id="s-1", escalation_id="e-1", expires=2_000_000_000)
    path, query = link.split("?")
    assert path == "https://x.example/prod/escalations/e-1"
    params = dict(pair.split("=") for pair in query.split("&"))
    signing.verify(KEY, action="review", session_id="s-1", escalation_id="e-1", expires=params["exp"],
                   signature=params["sig"], now=1_999_999_999)
    with pytest.raises(signing.LinkInvalid):
        signing.verify(KEY, action="review", session_id="s-1", escalation_id="e-2", expires=params["exp"],
                       signature=params["sig"], now=1_999_999_999)
