"""Where an expert's replies are written: the `expert` turn, in one DynamoDB transaction with the check that the
escalation is still the expert's (a reply racing the resolve cannot land after it) and, when the reply form
carries an idempotency key, the REQUEST item that lets a second submission of the same form find the first.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.escalations import EscalationStore, escalation_key
from lambdas.common.session_store import REQUEST_PREFIX, SessionStore
from lambdas.common.transcript import EscalationRecord, Turn


class ReplyNotStored(RuntimeError):
    """The transaction was cancelled and nothing of the reply was stored: the escalation is no longer the
    expert's, the same form was stored before, or the write kept conflicting with others."""


class ReplyStore:
    def __init__(self, sessions: SessionStore, escalations: EscalationStore):
        self.sessions = sessions
        self.escalations = escalations

    def store(self, record: EscalationRecord, turn: Turn, *, reply_id: str | None) -> None:
        """Stores `turn` in the escalation's session while `record.accepted_by` still has the escalation
        accepted, and marks `reply_id` (if any) as applied. ReplyNotStored if the transaction was cancelled."""
        session_id = record.session_id
        writes: list[dict[str, Any]] = [{"ConditionCheck": {
            "TableName": self.escalations.table_name, "Key": escalation_key(session_id, record.escalation_id),
            "ConditionExpression": "#status = :accepted AND accepted_by = :expert",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":accepted": {"S": "accepted"}, ":expert": {"S": record.accepted_by or ""}},
        }}]
        if reply_id:
            writes.append({"Put": {
                "TableName": self.sessions.table_name, "ConditionExpression": "attribute_not_exists(sk)",
                "Item": {"session_id": {"S": session_id}, "sk": {"S": f"{REQUEST_PREFIX}{reply_id}"},
                         "turn_id": {"S": turn.turn_id}, "created_at": {"S": turn.created_at},
                         "expires_at": {"N": str(int(time.time()) + self.sessions.ttl_seconds)}}}})
        session = self.sessions.load(session_id, None, recent_items=0)
        try:
            self.sessions.record(session, [turn], extra_writes=writes)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "TransactionCanceledException":
                raise ReplyNotStored(session_id) from None
            raise

    def earlier(self, session_id: str, reply_id: str) -> tuple[str, str] | None:
        """The turn id and time of a reply already stored under this idempotency key."""
        item = clients.client("dynamodb").get_item(
            TableName=self.sessions.table_name, ConsistentRead=True,
            Key={"session_id": {"S": session_id}, "sk": {"S": f"{REQUEST_PREFIX}{reply_id}"}}).get("Item")
        return (item["turn_id"]["S"], item["created_at"]["S"]) if item else None
