"""The messages the human-escalation state machine (statemachines/human_escalation.asl.json) puts on the
internal work queue, parsed and checked before anything is done with them.

    {"kind": "accept",  "session_id": ..., "escalation_id": ..., "task_token": ...}
    {"kind": "resolve", "session_id": ..., "escalation_id": ..., "task_token": ...}
    {"kind": "notice",  "notice": "busy" | "expert_left" | "failed", "status": ...,
     "session_id": ..., "escalation_id": ...}

A MalformedMessage names the field and what is wrong with it, never the value: a message body holds a task
token, which must not reach a log line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from lambdas.common.escalations import NOTICES
from lambdas.common.request_errors import FieldError
from lambdas.common.transcript import IDENTIFIER

KINDS: tuple[str, ...] = ("accept", "resolve", "notice")
MAX_TOKEN_CHARS = 2048  # Step Functions task tokens are 1..2048 characters


class MalformedMessage(FieldError):
    """A work message that cannot be handled however often it is retried."""


@dataclass(frozen=True)
class CallbackMessage:
    """The workflow waits on `task_token` (accept: for an expert to accept; resolve: for them to resolve)."""

    kind: Literal["accept", "resolve"]
    session_id: str
    escalation_id: str
    task_token: str

    def __repr__(self) -> str:  # never print the token, even in a traceback
        return (f"CallbackMessage(kind={self.kind!r}, session_id={self.session_id!r}, "
                f"escalation_id={self.escalation_id!r}, task_token=<hidden>)")


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
    return CallbackMessage(kind=kind, session_id=session_id, escalation_id=escalation_id,  # type: ignore[arg-type]
                           task_token=token)
