"""The life of an escalation in the sessions table, shared by the escalation worker and the expert API.

An ESCALATION#<id> item keeps the record as it was created in `body` (reason, turn, sentiment) and its
changing state in attributes: `status`, `accepted_by`, `accepted_at`, `resolved_at`, `note`, and, never
leaving the backend, the Step Functions task tokens `accept_token` and `resolve_token`. The task tokens
are never logged, mailed or put in a URL: experts act through signed links, and the API looks the token up.

Claims are conditional writes, so each step happens once however many people click:
  pending --accept--> accepted --resolve--> resolved
  pending --(accept time-out, by the state machine)--> timed_out
  accepted --(resolve time-out, by the state machine)--> timed_out
  any --(workflow error, by the state machine)--> failed
  pending --(the workflow could not be started in time, by the stream consumer)--> failed (withdrawn)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.session_store import ESCALATION_PREFIX, ESCALATIONS_BY_STATUS, SESSION_SK
from lambdas.common.transcript import EscalationRecord, utc_now

TokenKind = Literal["accept", "resolve"]
# What the workflow tells the customer (the `notice` of its work-queue messages); each is written once,
# flagged by a `notice_<kind>_at` attribute on the ESCALATION item.
Notice = Literal["busy", "expert_left", "failed"]
NOTICES: tuple[str, ...] = ("busy", "expert_left", "failed")
# The statuses of an escalation an expert can still act on: waiting for one, or with one.
OPEN_STATUSES = ("pending", "accepted")


class EscalationNotFound(LookupError):
    pass


class EscalationConflict(RuntimeError):
    """The escalation is not in the state the action needs (already accepted, resolved, timed out...).
    `accepted_by` and `accepted_at` say who has it, when it was accepted: what an expert who lost the race
    to accept is told."""

    def __init__(self, status: str, action: str, *, accepted_by: str | None = None, accepted_at: str | None = None):
        super().__init__(f"cannot {action} an escalation that is {status}")
        self.status = status
        self.action = action
        self.accepted_by = accepted_by
        self.accepted_at = accepted_at

    @classmethod
    def of(cls, record: EscalationRecord, action: str) -> "EscalationConflict":
        """The conflict of `action` with the escalation as `record` has it."""
        return cls(record.status, action, accepted_by=record.accepted_by, accepted_at=record.accepted_at)


@dataclass(frozen=True)
class EscalationState:
    record: EscalationRecord
    accept_token: str | None = None
    resolve_token: str | None = None
    notified: bool = False
    notices: tuple[str, ...] = ()  # the customer notices already written into the conversation
    execution_arn: str | None = None  # the workflow's execution, once it recorded itself (RecordPending)

    def __repr__(self) -> str:  # never print a task token, even in a traceback
        return (f"EscalationState(record={self.record!r}, tokens=<hidden>, notified={self.notified}, "
                f"notices={self.notices})")


def _key(session_id: str, sk: str) -> dict[str, dict[str, str]]:
    return {"session_id": {"S": session_id}, "sk": {"S": sk}}


def escalation_key(session_id: str, escalation_id: str) -> dict[str, dict[str, str]]:
    return _key(session_id, f"{ESCALATION_PREFIX}{escalation_id}")


def state_from_item(item: dict[str, Any]) -> EscalationState:
    created = json.loads(item["body"]["S"])
    changes = {name: item[name]["S"] for name in ("status", "accepted_by", "accepted_at", "resolved_at", "note",
                                                  "ended_at") if name in item}
    return EscalationState(
        record=EscalationRecord.from_dict({**created, **changes}),
        accept_token=item.get("accept_token", {}).get("S"),
        resolve_token=item.get("resolve_token", {}).get("S"),
        notified="notified_at" in item,
        notices=tuple(n for n in NOTICES if f"notice_{n}_at" in item),
        execution_arn=item.get("execution_arn", {}).get("S"),
    )


def _cancellation_codes(error: ClientError) -> list[str]:
    return [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]


class EscalationStore:
    def __init__(self, *, table_name: str):
        self.table_name = table_name

    def _ddb(self) -> Any:
        return clients.client("dynamodb")

    def get(self, session_id: str, escalation_id: str) -> EscalationState:
        item = self._ddb().get_item(TableName=self.table_name, ConsistentRead=True,
                                    Key=escalation_key(session_id, escalation_id)).get("Item")
        if not item:
            raise EscalationNotFound(escalation_id)
        return state_from_item(item)

    def open_escalations(self, *, limit: int) -> list[EscalationState]:
        """The open escalations of every session (pending, then accepted; each oldest first), at most `limit`
        of each status, from the index of escalations by status: one Query per status, never a Scan. The
        index is eventually consistent (a change shows there within about a second); the projected items
        hold no task token."""
        found: list[EscalationState] = []
        for status in OPEN_STATUSES:
            request: dict[str, Any] = {
                "TableName": self.table_name, "IndexName": ESCALATIONS_BY_STATUS,
                "KeyConditionExpression": "#status = :status", "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":status": {"S": status}}, "ScanIndexForward": True, "Limit": limit}
            items: list[dict[str, Any]] = []
            while True:
                page = self._ddb().query(**request)
                items += page["Items"]
                if len(items) >= limit or "LastEvaluatedKey" not in page:
                    break
                request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            found += [state_from_item(item) for item in items[:limit]]
        return found

    def store_token(self, session_id: str, escalation_id: str, kind: TokenKind, token: str) -> None:
        """Keeps a callback's task token for the API (the workflow waits on it); idempotent."""
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
                UpdateExpression=f"SET {kind}_token = :token",
                ConditionExpression="attribute_exists(sk)",
                ExpressionAttributeValues={":token": {"S": token}})
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise EscalationNotFound(escalation_id) from None
            raise

    def mark_notified(self, session_id: str, escalation_id: str) -> bool:
        """True the first time only: a redelivered message must not mail the experts twice."""
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
                UpdateExpression="SET notified_at = :now",
                ConditionExpression="attribute_exists(sk) AND attribute_not_exists(notified_at)",
                ExpressionAttributeValues={":now": {"S": utc_now()}})
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def clear_notified(self, session_id: str, escalation_id: str) -> None:
        """Undoes mark_notified when the mail could not be sent, so the message's redelivery sends it."""
        self._ddb().update_item(
            TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
            UpdateExpression="REMOVE notified_at", ConditionExpression="attribute_exists(sk)")

    def notice_claim(self, session_id: str, escalation_id: str, notice: Notice) -> dict[str, Any]:
        """A transaction item that flags `notice` as written, and fails (ConditionalCheckFailed) if it already
        is: written in the same transaction as the notice's turn, the turn exists at most once."""
        if notice not in NOTICES:
            raise ValueError(f"notice must be one of {', '.join(NOTICES)}, not {notice!r}")
        return {"Update": {
            "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
            "UpdateExpression": "SET #flag = :now",
            "ConditionExpression": "attribute_exists(sk) AND attribute_not_exists(#flag)",
            "ExpressionAttributeNames": {"#flag": f"notice_{notice}_at"},
            "ExpressionAttributeValues": {":now": {"S": utc_now()}}}}

    def withdraw_claim(self, session_id: str, escalation_id: str, *, note: str) -> dict[str, Any]:
        """A transaction item that withdraws an escalation whose workflow never started: pending -> failed,
        with the busy notice flagged as written (it joins the transaction that writes the notice's turn and
        releases the session). It fails (ConditionalCheckFailed) once a workflow has recorded itself on the
        item (RecordPending sets execution_arn) or the escalation left `pending`."""
        now = utc_now()
        return {"Update": {
            "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
            "UpdateExpression": "SET #status = :failed, note = :note, ended_at = :now, notice_busy_at = :now",
            "ConditionExpression": "#status = :pending AND attribute_not_exists(execution_arn)",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":failed": {"S": "failed"}, ":pending": {"S": "pending"},
                                          ":note": {"S": note}, ":now": {"S": now}}}}

    def accept(self, session_id: str, escalation_id: str, expert: str) -> tuple[EscalationRecord, str]:
        """pending -> accepted, and the session is the expert's. Returns the record and the accept token."""
        state = self.get(session_id, escalation_id)
        if state.record.status != "pending":
            raise EscalationConflict.of(state.record, "accept")
        if not state.accept_token:
            raise EscalationConflict("not ready", "accept")
        now = utc_now()
        try:
            self._ddb().transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
                    "UpdateExpression": "SET #status = :accepted, accepted_by = :expert, accepted_at = :now",
                    "ConditionExpression": "#status = :pending",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":accepted": {"S": "accepted"}, ":pending": {"S": "pending"},
                                                  ":expert": {"S": expert}, ":now": {"S": now}}}},
                {"Update": {
                    "TableName": self.table_name, "Key": _key(session_id, SESSION_SK),
                    "UpdateExpression": "SET #owner = :expert",
                    "ConditionExpression": "open_escalation_id = :id",
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": {":expert": {"S": expert}, ":id": {"S": escalation_id}}}},
            ])
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise EscalationConflict.of(self.get(session_id, escalation_id).record, "accept") from None
            raise
        record = replace(state.record, status="accepted", accepted_by=expert, accepted_at=now)
        return record, state.accept_token

    def undo_accept(self, session_id: str, escalation_id: str, *, expert: str, accepted_at: str) -> bool:
        """accepted -> pending again, for a claim the workflow refused (its accept task had ended, or the
        call failed): the table goes back to what it was before the accept, and the state machine's own
        time-out or failure path records the outcome. Only this very claim is undone (same expert, same
        accepted_at); False if something else changed the escalation meanwhile."""
        try:
            self._ddb().transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
                    "UpdateExpression": "SET #status = :pending REMOVE accepted_by, accepted_at",
                    "ConditionExpression": "#status = :accepted AND accepted_by = :expert AND accepted_at = :at",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":pending": {"S": "pending"}, ":accepted": {"S": "accepted"},
                                                  ":expert": {"S": expert}, ":at": {"S": accepted_at}}}},
                {"Update": {
                    "TableName": self.table_name, "Key": _key(session_id, SESSION_SK),
                    "UpdateExpression": "REMOVE #owner",
                    "ConditionExpression": "open_escalation_id = :id AND #owner = :expert",
                    "ExpressionAttributeNames": {"#owner": "owner"},
                    "ExpressionAttributeValues": {":expert": {"S": expert}, ":id": {"S": escalation_id}}}},
            ])
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise

    def resolve(self, session_id: str, escalation_id: str, *, expert: str, note: str,
                close: bool) -> tuple[EscalationRecord, str | None]:
        """accepted -> resolved by the expert who accepted it; the session goes back to the bot, or is closed.
        Returns the record and the resolve token (None if the workflow has not asked for it yet)."""
        state = self.get(session_id, escalation_id)
        if state.record.status != "accepted":
            raise EscalationConflict(state.record.status, "resolve")
        now = utc_now()
        session_update = "REMOVE #owner, open_escalation_id" + (" SET closed_at = :now" if close else "")
        session_values: dict[str, Any] = {":id": {"S": escalation_id}}
        if close:
            session_values[":now"] = {"S": now}
        try:
            self._ddb().transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
                    "UpdateExpression": "SET #status = :resolved, resolved_at = :now, note = :note",
                    "ConditionExpression": "#status = :accepted AND accepted_by = :expert",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":resolved": {"S": "resolved"}, ":accepted": {"S": "accepted"},
                                                  ":expert": {"S": expert}, ":now": {"S": now},
                                                  ":note": {"S": note}}}},
                {"Update": {
                    "TableName": self.table_name, "Key": _key(session_id, SESSION_SK),
                    "UpdateExpression": session_update, "ConditionExpression": "open_escalation_id = :id",
                    "ExpressionAttributeNames": {"#owner": "owner"}, "ExpressionAttributeValues": session_values}},
            ])
        except ClientError as error:
            if error.response["Error"]["Code"] == "TransactionCanceledException":
                raise EscalationConflict(self.get(session_id, escalation_id).record.status, "resolve") from None
            raise
        record = replace(state.record, status="resolved", resolved_at=now, note=note)
        return record, state.resolve_token
