"""Where conversations live: the sessions table (DynamoDB), the record of everything accepted.

Table layout (partition key `session_id`, sort key `sk`; every item carries the TTL attribute `expires_at`):
- `SESSION`                   the session: `customer_id` (the customer's Cognito `sub`), times, the open
                              escalation, `owner` (the expert who has the conversation), `closed_at`
- `TURN#<created_at>#<id>`    one item per turn, the Turn JSON in `body`; a bot answer's item also holds the
                              customer's thumb on it, when given (`feedback`, lambdas/common/thumbs.py Thumb
                              JSON): the one attribute of a turn item that changes after it is written
- `ESCALATION#<id>`           one item per escalation, the EscalationRecord JSON in `body`; its `status` and
                              `requested_at` are attributes too, the keys of the ESCALATIONS_BY_STATUS index
- `REQUEST#<key>`             a request already applied (an idempotency key, e.g. an expert's reply form)
The global secondary index ESCALATIONS_BY_STATUS (partition key `status`, sort key `requested_at`) holds
the ESCALATION items only (no other item has both attributes): the experts' inbox queries it for every
open escalation, oldest first, instead of scanning the table. Every writer already sets `status` on each
change (this module, lambdas/common/escalations.py, the escalation workflow, the outbox's withdrawal), so an
escalation moves between the index's partitions as it changes, without a writer knowing of the index;
`requested_at` is written once, with the item. The index projects the record and who accepted it, never a
task token.

One item per turn means two requests for one session never overwrite each other's turns; a turn's
items and the session update are written in one transaction, so a turn is either wholly there or not.

Writers stop at the table. Everything that follows a stored item (starting the escalation workflow,
the S3 transcript) is driven by the table's stream (lambdas/stream_consumer): a transactional outbox, so a
failure there delays that work and never loses a turn or an escalation.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.thumbs import Thumb
from lambdas.common.transcript import EscalationRecord, Turn, new_id, utc_now

SESSION_SK = "SESSION"
TURN_PREFIX = "TURN#"
ESCALATION_PREFIX = "ESCALATION#"
REQUEST_PREFIX = "REQUEST#"
FEEDBACK_ATTRIBUTE = "feedback"  # a TURN item's customer thumb (see above)
# The index of ESCALATION items by status (see above): its name, and its keys' attributes.
ESCALATIONS_BY_STATUS = "escalations_by_status"
ESCALATION_INDEX_KEYS = ("status", "requested_at")
# What it copies from an item besides the keys: what an expert may read about an escalation.
ESCALATION_INDEX_ATTRIBUTES = ("body", "accepted_by", "accepted_at")
_TRANSACTION_ATTEMPTS = 4
# OS entropy, not the random module's state: under SnapStart every restored environment would share that
# state and retry in lockstep.
_jitter = random.SystemRandom()


class SessionNotFound(LookupError):
    """No session with this id belongs to this customer (the two cases are not told apart)."""


class NotABotTurn(LookupError):
    """The turn item is gone, or is not a bot answer: a thumb was not written."""


class EscalationAlreadyOpen(RuntimeError):
    """Another turn of the session opened an escalation first; nothing of this write was applied."""


@dataclass
class SessionState:
    session_id: str
    customer_id: str
    started_at: str
    is_new: bool
    recent_turns: list[Turn] = field(default_factory=list)  # oldest first
    open_escalation_id: str | None = None
    owner: str | None = None  # the expert who took the conversation over; the bot is silent meanwhile
    closed_at: str | None = None  # an expert closed the conversation: no more turns


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class SessionStore:
    def __init__(self, *, table_name: str, ttl_days: int):
        self.table_name = table_name
        self.ttl_seconds = ttl_days * 86400

    # Reading -------------------------------------------------------------------------------------

    def new_session(self, session_id: str, customer_id: str) -> SessionState:
        return SessionState(session_id=session_id, customer_id=customer_id, started_at=utc_now(), is_new=True)

    def load(self, session_id: str, customer_id: str | None, *, recent_items: int) -> SessionState:
        """The session and its latest turn items. `customer_id` None loads it for staff (an expert, the
        escalation workflow); otherwise it must be the session's owner."""
        ddb = clients.client("dynamodb")
        item = ddb.get_item(TableName=self.table_name, ConsistentRead=True,
                            Key={"session_id": _s(session_id), "sk": _s(SESSION_SK)}).get("Item")
        if not item or (customer_id is not None and item["customer_id"]["S"] != customer_id):
            raise SessionNotFound(session_id)
        return SessionState(
            session_id=session_id, customer_id=item["customer_id"]["S"], started_at=item["started_at"]["S"],
            is_new=False, recent_turns=self.turns(session_id, limit=recent_items) if recent_items > 0 else [],
            open_escalation_id=item.get("open_escalation_id", {}).get("S"),
            owner=item.get("owner", {}).get("S"), closed_at=item.get("closed_at", {}).get("S"),
        )

    def turns(self, session_id: str, *, limit: int | None = None, after: str | None = None,
              until: str | None = None) -> list[Turn]:
        """Turns oldest first, created after `after` and up to `until` (turn times, both optional): all of
        them, or the latest `limit`."""
        return [Turn.from_dict(json.loads(i["body"]["S"]))
                for i in self._turn_items(session_id, limit=limit, after=after, until=until)]

    def turns_and_thumbs(self, session_id: str, *, after: str | None = None) -> tuple[list[Turn], dict[str, Thumb]]:
        """turns(session_id, after=after), and the customer's thumbs on them by turn id (one read)."""
        items = self._turn_items(session_id, limit=None, after=after, until=None)
        thumbs = {}
        for item in items:
            thumb = thumb_of(item)
            if thumb is not None:
                thumbs[thumb.turn_id] = thumb
        return [Turn.from_dict(json.loads(i["body"]["S"])) for i in items], thumbs

    def _turn_items(self, session_id: str, *, limit: int | None, after: str | None,
                    until: str | None) -> list[dict[str, Any]]:
        # Turn keys sort by their creation time; "~" sorts after every turn id that can follow a time, so the
        # bounds below select by time alone (BETWEEN is inclusive, and no turn's key equals a bound).
        low = f"{TURN_PREFIX}{after}#~" if after is not None else TURN_PREFIX
        high = f"{TURN_PREFIX}{until}#~" if until is not None else f"{TURN_PREFIX}~"
        condition = "session_id = :id AND sk BETWEEN :low AND :high"
        values = {":id": _s(session_id), ":low": _s(low), ":high": _s(high)}
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True,
                                   "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
        if limit is not None:
            request.update(ScanIndexForward=False, Limit=limit)
        page = clients.client("dynamodb").query(**request)
        items = page["Items"]
        while limit is None and "LastEvaluatedKey" in page:  # a long conversation spans pages
            page = clients.client("dynamodb").query(**request, ExclusiveStartKey=page["LastEvaluatedKey"])
            items += page["Items"]
        found = [i for i in items if i["sk"]["S"].startswith(TURN_PREFIX)]
        return list(reversed(found)) if limit is not None else found

    # Writing -------------------------------------------------------------------------------------

    def record(self, session: SessionState, turns: list[Turn], escalation: EscalationRecord | None = None, *,
               extra_writes: Sequence[dict[str, Any]] = (), release: str | None = None) -> None:
        """Stores the turns (and the escalation) atomically: one DynamoDB transaction, nothing else.

        `extra_writes` join the same transaction (e.g. a conditional claim on an ESCALATION item, so a turn is
        written at most once per claim). `release` hands the session back to the bot in the same write, if
        that escalation still holds it (the write fails otherwise). EscalationAlreadyOpen: another turn of the
        session opened an escalation first, and nothing of this write was applied.
        """
        now = utc_now()
        expires_at = int(time.time()) + self.ttl_seconds
        key = {"session_id": _s(session.session_id)}
        writes: list[dict[str, Any]] = [
            {"Put": {
                "TableName": self.table_name,
                "Item": {**key, "sk": _s(f"{TURN_PREFIX}{t.created_at}#{t.turn_id}"), "role": _s(t.role),
                         "body": _s(json.dumps(t.to_dict(), ensure_ascii=False)), "expires_at": _n(expires_at)},
                "ConditionExpression": "attribute_not_exists(sk)",
            }}
            for t in turns
        ]
        if escalation is not None:
            writes.append({"Put": {
                "TableName": self.table_name,
                "Item": {**key, "sk": _s(f"{ESCALATION_PREFIX}{escalation.escalation_id}"),
                         "status": _s(escalation.status), "requested_at": _s(escalation.requested_at),
                         "body": _s(json.dumps(escalation.to_dict(), ensure_ascii=False)),
                         "expires_at": _n(expires_at)},
                "ConditionExpression": "attribute_not_exists(sk)",
            }})
        writes.extend(extra_writes)  # before the SESSION write, which stays last (EscalationAlreadyOpen reads it)
        writes.append(self._session_write(session, now, expires_at, escalation, release))
        try:
            self._transact(writes, token=new_id())
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if escalation is not None and reasons and reasons[-1] == "ConditionalCheckFailed":
                raise EscalationAlreadyOpen(session.session_id) from None
            raise
        if escalation is not None:
            session.open_escalation_id = escalation.escalation_id
        if release is not None:
            session.open_escalation_id = session.owner = None
        session.is_new = False

    def set_thumb(self, session_id: str, turn: Turn, thumb: Thumb | None) -> None:
        """Writes the customer's thumb on the bot turn `turn` (None clears it): the latest choice wins. The
        write is conditional on the item being there and being a bot answer (NotABotTurn otherwise), so no
        thumb can land on another kind of turn or bring back an expired one. Only the `feedback` attribute
        changes: the turn's own record (`body`) is never rewritten."""
        key = {"session_id": _s(session_id), "sk": _s(f"{TURN_PREFIX}{turn.created_at}#{turn.turn_id}")}
        values: dict[str, Any] = {":bot": _s("bot")}
        if thumb is None:
            update = "REMOVE #feedback"
        else:
            update = "SET #feedback = :feedback"
            stored = {k: v for k, v in thumb.to_dict().items() if k != "kind"}
            values[":feedback"] = _s(json.dumps(stored, ensure_ascii=False))
        try:
            clients.client("dynamodb").update_item(
                TableName=self.table_name, Key=key, UpdateExpression=update,
                ConditionExpression="attribute_exists(sk) AND #role = :bot",
                ExpressionAttributeNames={"#feedback": FEEDBACK_ATTRIBUTE, "#role": "role"},
                ExpressionAttributeValues=values)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise NotABotTurn(turn.turn_id) from None
            raise

    def _transact(self, writes: list[dict[str, Any]], *, token: str) -> None:
        # Two turns of one session both update its SESSION item; DynamoDB cancels one of two transactions
        # that overlap in time ("TransactionConflict") and applies nothing of it, so it is safe to retry.
        # The token makes a retry after a lost response idempotent.
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                clients.client("dynamodb").transact_write_items(TransactItems=writes, ClientRequestToken=token)
                return
            except ClientError as error:
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if error.response["Error"]["Code"] != "TransactionCanceledException" \
                        or "TransactionConflict" not in reasons or attempt == _TRANSACTION_ATTEMPTS - 1:
                    raise
                time.sleep(_jitter.uniform(0, 0.05 * 2 ** attempt))

    def _session_write(self, session: SessionState, now: str, expires_at: int,
                       escalation: EscalationRecord | None, release: str | None = None) -> dict[str, Any]:
        key = {"session_id": _s(session.session_id), "sk": _s(SESSION_SK)}
        if session.is_new:
            item = {**key, "customer_id": _s(session.customer_id), "started_at": _s(session.started_at),
                    "updated_at": _s(now), "expires_at": _n(expires_at)}
            if escalation is not None:
                item["open_escalation_id"] = _s(escalation.escalation_id)
            return {"Put": {"TableName": self.table_name, "Item": item,
                            "ConditionExpression": "attribute_not_exists(session_id)"}}
        update = "SET updated_at = :now, expires_at = :exp"
        values = {":now": _s(now), ":exp": _n(expires_at), ":cid": _s(session.customer_id)}
        condition = "customer_id = :cid"
        if escalation is not None:
            # One open escalation per session, even when two turns of it escalate at the same moment.
            update += ", open_escalation_id = :esc"
            values[":esc"] = _s(escalation.escalation_id)
            condition += " AND attribute_not_exists(open_escalation_id)"
        names: dict[str, str] = {}
        if release is not None:
            update += " REMOVE open_escalation_id, #owner"
            values[":release"] = _s(release)
            condition += " AND open_escalation_id = :release"
            names["#owner"] = "owner"
        return {"Update": {"TableName": self.table_name, "Key": key, "UpdateExpression": update,
                           "ConditionExpression": condition, "ExpressionAttributeValues": values,
                           **({"ExpressionAttributeNames": names} if names else {})}}


def thumb_of(item: dict[str, Any]) -> Thumb | None:
    """The customer's thumb a TURN item holds (None when it holds none, or one that cannot be read: a thumb
    is feedback on the turn, never a reason to lose the turn)."""
    raw = item.get(FEEDBACK_ATTRIBUTE, {}).get("S")
    if raw is None:
        return None
    try:
        return Thumb.from_dict(json.loads(raw))
    except (ValueError, TypeError, RecursionError):
        return None
