"""Parsing the work-queue messages: every problem names its field, never the value."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from lambdas.escalation_worker.messages import CallbackMessage, MalformedMessage, NoticeMessage, parse_message

TOKEN = "AAAA+secret/token=="
IDS = {"session_id": "8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "escalation_id": "3c0b2a55-7d4e-4f1a-9b6c-2e8f0a1d5c77"}


def test_callback_messages_parse_and_hide_their_token():
    message = parse_message(json.dumps({"kind": "resolve", **IDS, "task_token": TOKEN}))
    assert message == CallbackMessage(kind="resolve", task_token=TOKEN, **IDS)
    assert TOKEN not in repr(message) and "<hidden>" in repr(message)


ROUND = {"reminder": 2, "waiting_since": "2026-11-30T09:00:00.250Z", "accept_seconds": 900}


def test_an_accept_message_says_its_round_and_when_the_wait_ends():
    message = parse_message(json.dumps({"kind": "accept", **IDS, **ROUND, "task_token": TOKEN}))

    assert message == CallbackMessage(kind="accept", task_token=TOKEN, reminder=2,
                                      accept_deadline=datetime(2026, 11, 30, 9, 15, 0, 250_000, tzinfo=timezone.utc),
                                      **IDS)
    assert TOKEN not in repr(message) and "reminder=2" in repr(message)


def test_notices_parse():
    message = parse_message(json.dumps({"kind": "notice", "notice": "expert_left", "status": "timed_out", **IDS}))
    assert message == NoticeMessage(notice="expert_left", status="timed_out", **IDS)


@pytest.mark.parametrize("body, field", [
    (None, "body"), ("", "body"), ("{", "body"), ("[]", "body"), ('"text"', "body"),
    (json.dumps({**IDS, "task_token": TOKEN}), "kind"),
    (json.dumps({"kind": 3, **IDS}), "kind"),
    (json.dumps({"kind": "approve", **IDS}), "kind"),
    (json.dumps({"kind": "accept", "escalation_id": IDS["escalation_id"], "task_token": TOKEN}), "session_id"),
    (json.dumps({"kind": "accept", "session_id": IDS["session_id"], "task_token": TOKEN}), "escalation_id"),
    (json.dumps({"kind": "accept", **IDS, "session_id": "a|b", "task_token": TOKEN}), "session_id"),
    (json.dumps({"kind": "accept", **IDS, "escalation_id": "x" * 129, "task_token": TOKEN}), "escalation_id"),
    (json.dumps({"kind": "accept", **IDS, **ROUND}), "task_token"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "task_token": ""}), "task_token"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "reminder": None, "task_token": TOKEN}), "reminder"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "reminder": -1, "task_token": TOKEN}), "reminder"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "reminder": "1", "task_token": TOKEN}), "reminder"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "waiting_since": None, "task_token": TOKEN}), "waiting_since"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "waiting_since": "yesterday", "task_token": TOKEN}),
     "waiting_since"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "waiting_since": "2026-11-30T09:00:00", "task_token": TOKEN}),
     "waiting_since"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "accept_seconds": 0, "task_token": TOKEN}), "accept_seconds"),
    (json.dumps({"kind": "accept", **IDS, **ROUND, "accept_seconds": True, "task_token": TOKEN}), "accept_seconds"),
    (json.dumps({"kind": "resolve", **IDS, "task_token": "t" * 2049}), "task_token"),
    (json.dumps({"kind": "resolve", **IDS, "task_token": ["t"]}), "task_token"),
    (json.dumps({"kind": "notice", **IDS}), "notice"),
    (json.dumps({"kind": "notice", "notice": "party", **IDS}), "notice"),
    (json.dumps({"kind": "notice", "notice": "busy", "status": 7, **IDS}), "status"),
])
def test_each_malformed_message_names_its_field_and_not_its_value(body, field):
    with pytest.raises(MalformedMessage) as caught:
        parse_message(body)
    assert caught.value.field == field
    assert TOKEN not in str(caught.value) and "t" * 100 not in str(caught.value)
