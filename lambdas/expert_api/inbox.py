"""What the experts' inbox shows and who may act in it: every open escalation across sessions, and the
rule that only the expert who accepted a conversation speaks in it, hands it back or closes it.

The changes themselves (accept, reply, resolve) are actions.py's, the same as by an emailed link; this module
only reads. Everything it returns is data for JSON: a customer's words stay strings, for the page to show
as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lambdas.common.escalations import EscalationState
from lambdas.common.request_errors import RequestError
from lambdas.common.transcript import IDENTIFIER, EscalationRecord, Turn, utc_now
from lambdas.expert_api.actions import ExpertApi
from lambdas.expert_api.identity import Expert

INBOX_TURNS = 3  # the latest turns shown with each open escalation
INBOX_LIMIT = 100  # the open escalations of each status listed at most (oldest first)


class NotYourEscalation(PermissionError):
    """The escalation is accepted by another expert: only they may act on it (403)."""

    def __init__(self, accepted_by: str | None):
        super().__init__("the escalation is accepted by another expert")
        self.accepted_by = accepted_by


@dataclass(frozen=True)
class Listed:
    """An open escalation as the inbox lists it."""

    record: EscalationRecord
    last_turns: list[Turn]


def session_id(value: str) -> str:
    """A session id from the path; anything else names no escalation (404)."""
    if not IDENTIFIER.fullmatch(value):
        raise RequestError("session_id", "is not a session id", status=404)
    return value


def open_escalations(api: ExpertApi) -> list[Listed]:
    """Every open escalation (pending, then accepted, each oldest first), with its latest turns."""
    return [Listed(record=state.record,
                   last_turns=api.sessions.turns(state.record.session_id, limit=INBOX_TURNS,
                                                 until=state.record.closed_at))
            for state in api.escalations.open_escalations(limit=INBOX_LIMIT)]


def require_owner(state: EscalationState, expert: Expert) -> None:
    if state.record.accepted_by != expert.email:
        raise NotYourEscalation(state.record.accepted_by)


def _seconds_between(start: str, end: str) -> int | None:
    try:
        begun = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0, int((ended - begun).total_seconds()))


def view(record: EscalationRecord, expert: Expert, *, now: str | None = None) -> dict[str, Any]:
    """An escalation for the page: the record (never a task token: the record holds none), how long the
    customer waited (until accepted, or until now), and whether it is the asking expert's."""
    waited_until = record.accepted_at or record.closed_at or now or utc_now()
    return {**record.to_dict(), "waiting_seconds": _seconds_between(record.requested_at, waited_until),
            "yours": record.accepted_by == expert.email}


def listing(listed: list[Listed], expert: Expert, *, now: str | None = None) -> list[dict[str, Any]]:
    now = now or utc_now()
    return [{**view(item.record, expert, now=now), "last_turns": [t.to_dict() for t in item.last_turns]}
            for item in listed]
