"""Where conversations live: the sessions table (DynamoDB) and the transcripts bucket (S3).

Table layout (partition key `session_id`, sort key `sk`; every item carries the TTL attribute `expires_at`):
- `SESSION`                   the session: owner (the customer's Cognito `sub`), times, open escalation
- `TURN#<created_at>#<id>`    one item per turn, the Turn JSON in `body`
- `ESCALATION#<id>`           one item per escalation, the EscalationRecord JSON in `body`
One item per turn means two requests for one session never overwrite each other's turns; a turn's
items and the session update are written in one transaction, so a turn is either wholly there or not.

The transcript (S3, `transcripts/dt=<start date>/<session_id>.json`) is rewritten on every turn with a
conditional PUT (If-Match on the ETag it read): a writer that lost a race re-reads and merges again, so
a concurrent writer's turns are never overwritten.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, new_id, utc_now

SESSION_SK = "SESSION"
TURN_PREFIX = "TURN#"
ESCALATION_PREFIX = "ESCALATION#"
_CONDITIONAL_PUT_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict")
_TRANSCRIPT_WRITE_ATTEMPTS = 5
_TRANSACTION_ATTEMPTS = 4
# OS entropy, not the random module's state: under SnapStart every restored environment would share that
# state and retry in lockstep.
_jitter = random.SystemRandom()


class SessionNotFound(LookupError):
    """No session with this id belongs to this customer (the two cases are not told apart)."""


class EscalationAlreadyOpen(RuntimeError):
    """Another turn of the session opened an escalation first; nothing of this write was applied."""


class TranscriptWriteFailed(RuntimeError):
    """The turns are committed in DynamoDB but the S3 transcript could not be rewritten."""


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


def transcript_key(session_id: str, started_at: str) -> str:
    return f"transcripts/dt={started_at[:10]}/{session_id}.json"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


class SessionStore:
    def __init__(self, *, table_name: str, bucket_name: str, ttl_days: int):
        self.table_name = table_name
        self.bucket_name = bucket_name
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

    def turns(self, session_id: str, *, limit: int | None = None, after: str | None = None) -> list[Turn]:
        """Turns oldest first: the latest `limit` ones, or all created after the `after` timestamp."""
        condition = "session_id = :id AND begins_with(sk, :turn)"
        values = {":id": _s(session_id), ":turn": _s(TURN_PREFIX)}
        if after is not None:
            # Turn keys sort by their creation time; "~" sorts after every turn id that can follow it.
            condition = "session_id = :id AND sk > :after"
            values = {":id": _s(session_id), ":after": _s(f"{TURN_PREFIX}{after}#~")}
        request: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True,
                                   "KeyConditionExpression": condition, "ExpressionAttributeValues": values}
        if limit is not None:
            request.update(ScanIndexForward=False, Limit=limit)
        page = clients.client("dynamodb").query(**request)
        items = page["Items"]
        while limit is None and "LastEvaluatedKey" in page:  # a long conversation spans pages
            page = clients.client("dynamodb").query(**request, ExclusiveStartKey=page["LastEvaluatedKey"])
            items += page["Items"]
        found = [Turn.from_dict(json.loads(i["body"]["S"])) for i in items if i["sk"]["S"].startswith(TURN_PREFIX)]
        return list(reversed(found)) if limit is not None else found

    def read_transcript(self, session: SessionState) -> Transcript | None:
        try:
            obj = clients.client("s3").get_object(
                Bucket=self.bucket_name, Key=transcript_key(session.session_id, session.started_at))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        return Transcript.from_dict(json.loads(obj["Body"].read()))

    # Writing -------------------------------------------------------------------------------------

    def record(self, session: SessionState, turns: list[Turn], escalation: EscalationRecord | None = None, *,
               extra_writes: Sequence[dict[str, Any]] = (),
               transcript_escalations: Sequence[EscalationRecord] = ()) -> None:
        """Stores the turns (and the escalation) atomically in DynamoDB, then merges them into the transcript.

        DynamoDB is the record of what was accepted. If only the transcript write fails, TranscriptWriteFailed
        tells the caller the turns are safe anyway (the next turn's merge carries the recent turns again).
        `extra_writes` join the same transaction (e.g. a conditional claim on an ESCALATION item, so a turn is
        written at most once per claim); `transcript_escalations` are existing escalation records whose
        current state goes into the transcript with the turns (they are not written to DynamoDB here).
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
                         "status": _s(escalation.status),
                         "body": _s(json.dumps(escalation.to_dict(), ensure_ascii=False)),
                         "expires_at": _n(expires_at)},
                "ConditionExpression": "attribute_not_exists(sk)",
            }})
        writes.extend(extra_writes)  # before the SESSION write, which stays last (EscalationAlreadyOpen reads it)
        writes.append(self._session_write(session, now, expires_at, escalation))
        try:
            self._transact(writes, token=new_id())
        except ClientError as error:
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if escalation is not None and reasons and reasons[-1] == "ConditionalCheckFailed":
                raise EscalationAlreadyOpen(session.session_id) from None
            raise
        if escalation is not None:
            session.open_escalation_id = escalation.escalation_id
        session.is_new = False
        try:
            self.write_transcript(session, session.recent_turns + turns,
                                  [*transcript_escalations, *([escalation] if escalation else [])], updated_at=now)
        except (ClientError, BotoCoreError) as error:
            raise TranscriptWriteFailed(f"transcript of session {session.session_id}: {error}") from error
        except (ValueError, KeyError, TypeError) as error:
            # The stored transcript is unreadable (bad JSON, unknown schema_version, wrong shape): it is left
            # as it is, never overwritten, and the turns are safe in DynamoDB.
            raise TranscriptWriteFailed(f"transcript of session {session.session_id} is unreadable: "
                                        f"{type(error).__name__}: {error}") from error

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
                       escalation: EscalationRecord | None) -> dict[str, Any]:
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
        return {"Update": {"TableName": self.table_name, "Key": key, "UpdateExpression": update,
                           "ConditionExpression": condition, "ExpressionAttributeValues": values}}

    def write_transcript(self, session: SessionState, turns: list[Turn], escalations: list[EscalationRecord],
                         *, updated_at: str) -> Transcript:
        s3 = clients.client("s3")
        key = transcript_key(session.session_id, session.started_at)
        for _ in range(_TRANSCRIPT_WRITE_ATTEMPTS):
            try:
                current = s3.get_object(Bucket=self.bucket_name, Key=key)
                transcript = Transcript.from_dict(json.loads(current["Body"].read()))
                condition = {"IfMatch": current["ETag"]}
            except ClientError as error:
                if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                    raise
                transcript = Transcript(session_id=session.session_id, started_at=session.started_at,
                                        updated_at=updated_at)
                condition = {"IfNoneMatch": "*"}
            transcript.merge(turns, escalations, updated_at)
            try:
                s3.put_object(Bucket=self.bucket_name, Key=key, ContentType="application/json",
                              Body=json.dumps(transcript.to_dict(), ensure_ascii=False).encode(), **condition)
                return transcript
            except ClientError as error:
                if error.response["Error"]["Code"] not in _CONDITIONAL_PUT_CONFLICTS:
                    raise
        raise TranscriptWriteFailed(f"transcript {key} changed under each of {_TRANSCRIPT_WRITE_ATTEMPTS} attempts")
