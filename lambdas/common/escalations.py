"""The life of an escalation in the sessions table, shared by the escalation worker, the expert API and the
chatbot (which shows the customer how long they wait).

An ESCALATION#<id> item keeps the record as it was created in `body` (reason, turn, sentiment) and its
changing state in attributes: `status`, `accepted_by`, `accepted_at`, `resolved_at`, `note`, and, never
leaving the backend, the Step Functions task tokens `accept_token` and `resolve_token`. The task tokens
are never logged, mailed or put in a URL: experts act through signed links, and the API looks the token up.

While nobody has accepted, the workflow waits in rounds (statemachines/human_escalation.asl.json): each
reminder interval a new round starts with a new accept token, and the worker keeps the newest one
(`accept_round` orders them; a late message of an earlier round changes nothing). The item also says what the
customer may be told, through the table's stream like every change:
  `accept_deadline`  when the wait for an accept ends (ISO 8601 UTC, e.g. 2026-11-25T01:35:00Z);
  `reminders`        how many reminders went out to the experts (absent: none), `reminded_at` the latest.

Claims are conditional writes, so each step happens once however many people click:
  pending --accept--> accepted --resolve--> resolved
  pending --(accept time-out, by the state machine)--> timed_out
  accepted --(resolve time-out, by the state machine)--> timed_out
  any --(workflow error, by the state machine)--> failed
  pending --(the workflow could not be started in time, by the stream consumer)--> failed (withdrawn)

An accept is tied to the accept token it read (the claim is conditional on it) and completes that token. When
a reminder round replaces the token just as an expert accepts (the claimed token's task timed out), the worker
finds the claim while keeping the new round's token: it hands that token to the claim (`accept_handed_at`)
and completes it itself, and the expert API, which undoes a claim only while its own token is still the stored
one, then leaves the claim standing. Exactly one of the two happens, so the accept is never lost and never
taken twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

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
CLAIM_ATTEMPTS = 3  # an accept tried again on a new round's token (rounds are a reminder interval apart)


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
    accept_round: int | None = None  # the workflow's round that issued accept_token (0: the first call)
    accept_handed: bool = False  # the worker handed accept_token to an expert's claim, and completes it
    accept_deadline: str | None = None
    reminders: int = 0
    reminded_at: str | None = None

    def __repr__(self) -> str:  # never print a task token, even in a traceback
        return (f"EscalationState(record={self.record!r}, tokens=<hidden>, notified={self.notified}, "
                f"notices={self.notices}, accept_round={self.accept_round}, reminders={self.reminders})")


class AcceptClaim(NamedTuple):
    """An expert's accept: the escalation as claimed, and the accept token (of `round`) the claim is tied to."""

    record: EscalationRecord
    token: str
    round: int

    def __repr__(self) -> str:
        return f"AcceptClaim(record={self.record!r}, token=<hidden>, round={self.round})"


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
        accept_round=int(item["accept_round"]["N"]) if "accept_round" in item else None,
        accept_handed="accept_handed_at" in item,
        accept_deadline=item.get("accept_deadline", {}).get("S"),
        reminders=int(item.get("reminders", {}).get("N", "0")),
        reminded_at=item.get("reminded_at", {}).get("S"),
    )


def _cancellation_codes(error: ClientError) -> list[str]:
    return [r.get("Code", "None") for r in error.response.get("CancellationReasons", [])]


class EscalationStore:
    def __init__(self, *, table_name: str):
        self.table_name = table_name

    def _ddb(self) -> Any:
        return clients.client("dynamodb")

    def customer_view(self, session_id: str, escalation_id: str) -> dict[str, str] | None:
        """What the customer may know of their escalation: its status, when it was requested and, once the
        workflow waits for an accept, when that wait ends. Never the reason, the gate's explanation or anything
        internal; the task tokens are not even read. None if there is no such escalation."""
        item = self._ddb().get_item(
            TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
            ProjectionExpression="#status, body, accept_deadline", ExpressionAttributeNames={"#status": "status"},
        ).get("Item")
        if not item:
            return None
        created = json.loads(item["body"]["S"])
        view = {"status": item.get("status", {}).get("S") or created["status"], "requested_at": created["requested_at"]}
        if "accept_deadline" in item:
            view["accept_deadline"] = item["accept_deadline"]["S"]
        return view

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

    def keep_accept_token(self, session_id: str, escalation_id: str, token: str, *, round: int,
                          deadline: str) -> EscalationState | None:
        """Keeps the accept token of the workflow's `round` (it replaces an earlier round's) and the accept
        deadline; returns the escalation as it is then. None, with nothing changed, when a later round's token is
        already kept or an expert has claimed the escalation: the caller reads it and decides (a claimed
        escalation's token is the claim's, see hand_accept_token). EscalationNotFound if there is no item."""
        try:
            item = self._ddb().update_item(
                TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
                UpdateExpression="SET accept_token = :token, accept_round = :round, accept_deadline = :deadline "
                                 "REMOVE accept_handed_at",
                ConditionExpression="attribute_exists(sk) AND #status <> :accepted "
                                    "AND (attribute_not_exists(accept_round) OR accept_round <= :round)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":token": {"S": token}, ":round": {"N": str(round)},
                                           ":deadline": {"S": deadline}, ":accepted": {"S": "accepted"}},
                ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self.get(session_id, escalation_id)  # EscalationNotFound when that was the reason
                return None
            raise
        return state_from_item(item)

    def hand_accept_token(self, session_id: str, escalation_id: str, token: str, *, round: int,
                          claim: EscalationState) -> bool:
        """Gives a later round's accept token to an expert's standing claim (whose own token's task timed out as
        they accepted), for the worker to complete. Conditional on the claim and its token being unchanged, so it
        excludes the expert API's undo_accept (conditional on that same token): exactly one of them happens."""
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
                UpdateExpression="SET accept_token = :token, accept_round = :round, accept_handed_at = :now",
                ConditionExpression="#status = :accepted AND accepted_by = :expert AND accepted_at = :at "
                                    "AND accept_token = :claimed",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":token": {"S": token}, ":round": {"N": str(round)}, ":now": {"S": utc_now()},
                    ":accepted": {"S": "accepted"}, ":expert": {"S": claim.record.accepted_by or ""},
                    ":at": {"S": claim.record.accepted_at or ""}, ":claimed": {"S": claim.accept_token or ""}})
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def mark_reminded(self, session_id: str, escalation_id: str, reminder: int) -> bool:
        """Counts reminder number `reminder` as sent; True the first time only (a redelivered message must not
        remind the experts twice)."""
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=escalation_key(session_id, escalation_id),
                UpdateExpression="SET reminders = :n, reminded_at = :now",
                ConditionExpression="attribute_exists(sk) AND (attribute_not_exists(reminders) OR reminders < :n)",
                ExpressionAttributeValues={":n": {"N": str(reminder)}, ":now": {"S": utc_now()}})
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def clear_reminded(self, session_id: str, escalation_id: str, reminder: int, *, before: EscalationState) -> None:
        """Undoes mark_reminded when the mail could not be sent (back to what `before` said), so the message's
        redelivery sends it."""
        if before.reminders:
            update = "SET reminders = :before, reminded_at = :before_at"
            values = {":before": {"N": str(before.reminders)}, ":before_at": {"S": before.reminded_at or ""}}
        else:
            update, values = "REMOVE reminders, reminded_at", {}
        self._ddb().update_item(
            TableName=self.table_name, Key=escalation_key(session_id, escalation_id), UpdateExpression=update,
            ConditionExpression="reminders = :n", ExpressionAttributeValues={":n": {"N": str(reminder)}, **values})

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

    def accept(self, session_id: str, escalation_id: str, expert: str) -> AcceptClaim:
        """pending -> accepted, and the session is the expert's. The claim is tied to the accept token kept at
        that moment (conditional on it): if a reminder round replaces the token just before, it is made again
        with the new one."""
        state = self.get(session_id, escalation_id)
        for _ in range(CLAIM_ATTEMPTS):
            token = state.accept_token
            if state.record.status != "pending":
                raise EscalationConflict.of(state.record, "accept")
            if not token:
                raise EscalationConflict("not ready", "accept")
            now = utc_now()
            try:
                self._ddb().transact_write_items(TransactItems=[
                    {"Update": {
                        "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
                        "UpdateExpression": "SET #status = :accepted, accepted_by = :expert, accepted_at = :now",
                        "ConditionExpression": "#status = :pending AND accept_token = :token",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": {":accepted": {"S": "accepted"}, ":pending": {"S": "pending"},
                                                      ":expert": {"S": expert}, ":now": {"S": now},
                                                      ":token": {"S": token}}}},
                    {"Update": {
                        "TableName": self.table_name, "Key": _key(session_id, SESSION_SK),
                        "UpdateExpression": "SET #owner = :expert",
                        "ConditionExpression": "open_escalation_id = :id",
                        "ExpressionAttributeNames": {"#owner": "owner"},
                        "ExpressionAttributeValues": {":expert": {"S": expert}, ":id": {"S": escalation_id}}}},
                ])
            except ClientError as error:
                if error.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                state = self.get(session_id, escalation_id)
                if state.record.status == "pending" and state.accept_token != token:
                    continue  # a new round's token came in: claim again with it (rounds are minutes apart)
                raise EscalationConflict.of(state.record, "accept") from None
            record = replace(state.record, status="accepted", accepted_by=expert, accepted_at=now)
            return AcceptClaim(record=record, token=token, round=state.accept_round or 0)
        raise EscalationConflict.of(state.record, "accept")

    def undo_accept(self, session_id: str, escalation_id: str, *, expert: str, accepted_at: str, token: str) -> bool:
        """accepted -> pending again, for a claim the workflow refused (its accept task had ended, or the
        call failed): the table goes back to what it was before the accept, and the state machine's own
        time-out or failure path records the outcome. Only this very claim is undone (same expert, same
        accepted_at, and still tied to `token`: not once the worker handed it a later round's token); False if
        something else changed the escalation meanwhile."""
        try:
            self._ddb().transact_write_items(TransactItems=[
                {"Update": {
                    "TableName": self.table_name, "Key": escalation_key(session_id, escalation_id),
                    "UpdateExpression": "SET #status = :pending REMOVE accepted_by, accepted_at",
                    "ConditionExpression": "#status = :accepted AND accepted_by = :expert AND accepted_at = :at "
                                           "AND accept_token = :token",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":pending": {"S": "pending"}, ":accepted": {"S": "accepted"},
                                                  ":expert": {"S": expert}, ":at": {"S": accepted_at},
                                                  ":token": {"S": token}}}},
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
