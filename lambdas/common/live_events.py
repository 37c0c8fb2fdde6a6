"""The live channel's events: what a connected browser is told when a conversation changes.

One small versioned JSON envelope, the same on API Gateway's WebSocket API and on the local demo's socket
(docs/live-channel.md documents it for client authors):

    {"v": 1, "type": "turn", "id": "<turn id>", "session_id": "...",
     "turn": {"turn_id", "role", "text", "created_at", "sources"?}}
    {"v": 1, "type": "escalation", "id": "<escalation id>:<change's sequence number>", "session_id": "...",
     "escalation": {"escalation_id", "status", "requested_at", "accepted_at"?, "accept_deadline"?, ...}}

Delivery is at least once (a stream batch that is retried is pushed again), so `id` names the event and a
client drops one it has seen. An escalation's id names the change (the stream record's sequence number, the
same when a batch is retried), not its status: a deadline set while it stays pending, or a second accept
after one was undone, is news. A customer's escalation event carries only what the customer may know: its
status, times and who accepted, never the gate's reason or the sentiment. Experts (the inbox) also get the
reason, the sentiment and the gate's explanation.

The browser names the protocol version as its WebSocket subprotocol, `tandem.v1`, followed by its Cognito
ID token (browsers cannot set an Authorization header on a WebSocket).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from lambdas.common.transcript import EscalationRecord, Turn, customer_view

VERSION = 1
PROTOCOL = f"tandem.v{VERSION}"
Audience = Literal["customer", "expert"]
# The expert-only parts of an escalation: why the gate called a human and how it read the customer. (Who
# accepted it the customer is told anyway: the chat names the expert.)
_EXPERT_ONLY = ("reason", "sentiment", "explanation", "note", "turn_id")


def turn_event(session_id: str, turn: Turn) -> dict[str, Any]:
    """A turn as the chat API shows it to the customer (the experts' inbox reads the same)."""
    return {"v": VERSION, "type": "turn", "id": turn.turn_id, "session_id": session_id,
            "turn": customer_view(turn)}


def escalation_event(record: EscalationRecord, state: dict[str, Any], audience: Audience, *,
                     change_id: str) -> dict[str, Any]:
    """`state` is the ESCALATION item's changing attributes (status, accepted_at, accept_deadline, ...),
    which the item holds beside the record it was created with; `change_id` names the change that brought it
    (the stream record's sequence number)."""
    data = {**record.to_dict(), **{k: v for k, v in state.items() if v is not None}}
    if audience == "customer":
        data = {k: v for k, v in data.items() if k not in _EXPERT_ONLY}
    return {"v": VERSION, "type": "escalation", "id": f"{record.escalation_id}:{change_id}",
            "session_id": record.session_id, "escalation": data}


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
