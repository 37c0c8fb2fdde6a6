"""The messages the human-escalation state machine (statemachines/human_escalation.asl.json) puts on the
internal work queue, parsed and checked before anything is done with them.

    {"kind": "accept",  "session_id": ..., "escalation_id": ..., "task_token": ...,
     "reminder": 0, 1, ... (the round of the wait: 0 calls the experts, n their n-th reminder),
     "waiting_since": when the wait began ($$.State.EnteredTime), "accept_seconds": how long it lasts}
    {"kind": "resolve", "session_id": ..., "escalation_id": ..., "task_token": ...}
    {"kind": "notice",  "notice": "busy" | "expert_left" | "failed", "status": ...,
     "session_id": ..., "escalation_id": ...}

A MalformedMessage names the field and what is wrong with it, never the value: a message body holds a task
token, which must not reach a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from lambdas.common.escalations import NOTICES
from lambdas.common.request_errors import FieldError
from lambdas.common.transcript import IDENTIFIER

KINDS: tuple[str, ...] = ("accept", "resolve", "notice")
MAX_TOKEN_CHARS = 2048  # Step Functions task tokens are 1..2048 characters
MAX_ACCEPT_SECONDS = 86_400  # stacks/config.py: accept_timeout_minutes is at most 1440
MAX_REMINDER = 1_440  # one round a minute, at most, for the longest accept time-out


class MalformedMessage(FieldError):
    """A work message that cannot be handled however often it is retried."""


@dataclass(frozen=True)
class CallbackMessage:
    """The workflow waits on `task_token` (accept: for an expert to accept; resolve: for them to resolve).
    An accept message also says which round of the wait it is (`reminder`) and when that wait ends."""

    kind: Literal["accept", "resolve"]
    session_id: str
    escalation_id: str
    task_token: str
    reminder: int = 0
    accept_deadline: datetime | None = None  # accept: waiting_since + accept_seconds (the same in every round)

    def __repr__(self) -> str:  # never print the token, even in a traceback
        return (f"CallbackMessage(kind={self.kind!r}, session_id={self.session_id!r}, "
                f"escalation_id={self.escalation_id!r}, reminder={self.reminder}, task_token=<hidden>)")


@dataclass(frozen=True)
class NoticeMessage:
    """Tell the customer what happened: nobody accepted (busy), the expert's time ran out (expert_left), or
    the workflow failed (failed)."""

    notice: str
    session_id: str
    escalation_id: str
    status: str | None = None  # the status the workflow recorded (informational)
    kind: Literal["notice"] = "notice"


WorkMessage = CallbackMessage | NoticeMessage


def _text(data: dict[str, Any], field: str) -> str:
    value = data.get(field)
    if value is None:
        raise MalformedMessage(field, "is required")
    if not isinstance(value, str):
        raise MalformedMessage(field, "must be a string")
    return value


def _identifier(data: dict[str, Any], field: str) -> str:
    value = _text(data, field)
    if not IDENTIFIER.fullmatch(value):
        raise MalformedMessage(field, "must be 1-128 letters, digits, '.', '_' or '-'")
    return value


def _whole_number(data: dict[str, Any], field: str, low: int, high: int) -> int:
    value = data.get(field)
    if value is None:
        raise MalformedMessage(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MalformedMessage(field, f"must be a whole number {low}..{high}")
    return value


def _accept_deadline(data: dict[str, Any]) -> datetime:
    since = _text(data, "waiting_since")
    try:
        started = datetime.fromisoformat(since)
    except ValueError:
        raise MalformedMessage("waiting_since", "must be an ISO 8601 time") from None
    if started.tzinfo is None:
        raise MalformedMessage("waiting_since", "must say its time zone")
    seconds = _whole_number(data, "accept_seconds", 1, MAX_ACCEPT_SECONDS)
    return (started + timedelta(seconds=seconds)).astimezone(timezone.utc)


def parse_message(body: str | None) -> WorkMessage:
    if body is None or body == "":
        raise MalformedMessage("body", "is empty")
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, TypeError):
        raise MalformedMessage("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedMessage("body", "must be a JSON object")
    kind = _text(data, "kind")
    if kind not in KINDS:
        raise MalformedMessage("kind", f"must be one of {', '.join(KINDS)}")
    session_id = _identifier(data, "session_id")
    escalation_id = _identifier(data, "escalation_id")
    if kind == "notice":
        notice = _text(data, "notice")
        if notice not in NOTICES:
            raise MalformedMessage("notice", f"must be one of {', '.join(NOTICES)}")
        status = data.get("status")
        if status is not None and not isinstance(status, str):
            raise MalformedMessage("status", "must be a string")
        return NoticeMessage(notice=notice, session_id=session_id, escalation_id=escalation_id,
                             status=status[:40] if status else None)
    token = _text(data, "task_token")
    if not 1 <= len(token) <= MAX_TOKEN_CHARS:
        raise MalformedMessage("task_token", f"must be 1-{MAX_TOKEN_CHARS} characters")
    if kind == "resolve":
        return CallbackMessage(kind="resolve", session_id=session_id, escalation_id=escalation_id, task_token=token)
    return CallbackMessage(kind="accept", session_id=session_id, escalation_id=escalation_id, task_token=token,
                           reminder=_whole_number(data, "reminder", 0, MAX_REMINDER),
                           accept_deadline=_accept_deadline(data))
