"""Parsing the work-queue messages: every problem names its field, never the value."""

from __future__ import annotations

import json

import pytest

from lambdas.escalation_worker.messages import CallbackMessage, MalformedMessage, NoticeMessage, parse_message

TOKEN = "AAAA+secret/token=="
IDS = {"session_id": "8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "escalation_id": "3c0b2a55-7d4e-4f1a-9b6c-2e8f0a1d5c77"}


def test_callback_messages_parse_and_hide_their_token():
    message = parse_message(json.dumps({"kind": "resolve", **IDS, "task_token": TOKEN}))
    assert message == CallbackMessage(kind="resolve", task_token=TOKEN, **IDS)
    assert TOKEN not in repr(message) and "<hidden>" in repr(message)


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
    (json.dumps({"kind": "accept", **IDS}), "task_token"),
    (json.dumps({"kind": "accept", **IDS, "task_token": ""}), "task_token"),
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
