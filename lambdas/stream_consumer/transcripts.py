"""The S3 transcript of a session, materialised from the sessions table (the record of what was accepted).

Each time a session's items change, its transcript is composed again from ALL of the session's items in
the table, so it is complete and ordered whatever was delivered, missed or delivered twice before:
- turns ordered by (created_at, turn_id), each once (by turn_id);
- escalations with their current state from the table;
- `feedback`: the customers' thumbs the table's turn items hold (lambdas/common/thumbs.py), as they are now: a
  thumb changed or taken back changes or leaves the transcript's; the transcript's `updated_at` is at least
  the latest thumb's time (the sampler reads the transcripts updated in its window);
- turns, escalations and thumbs already in the transcript but gone from the table (expired by its TTL: S3
  keeps conversations longer) are kept, and so is any other kind of feedback entry;
- a stored transcript that cannot be read (not JSON, an unknown schema) is rebuilt from the table alone.
The PUT is conditional on the version read (If-Match, or If-None-Match for a new object), so two writers
cannot overwrite each other; the loser composes again from a fresh read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

from botocore.exceptions import ClientError

from lambdas.common.escalations import state_from_item
from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK, TURN_PREFIX, thumb_of
from lambdas.common.thumbs import Thumb, is_thumb_entry
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, transcript_key

_CONDITIONAL_PUT_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict")
WRITE_ATTEMPTS = 4


class TranscriptConflict(RuntimeError):
    """The stored transcript changed under every attempt; the stream record is retried."""


@dataclass(frozen=True)
class SessionItems:
    """What the table holds of one session."""

    session_id: str
    started_at: str
    updated_at: str
    turns: list[Turn]
    escalations: list[EscalationRecord]
    thumbs: list[Thumb] = field(default_factory=list)  # the customer's thumbs on the turns, as stored now
    unreadable: int = 0  # TURN or ESCALATION items that could not be read (left out, never retried forever)


def compose(items: SessionItems, stored: Transcript | None) -> Transcript:
    """The transcript of `items`, keeping what only `stored` still has (pure)."""
    turns = {t.turn_id: t for t in (stored.turns if stored else [])}
    turns.update((t.turn_id, t) for t in items.turns)
    escalations = {e.escalation_id: e for e in (stored.escalations if stored else [])}
    escalations.update((e.escalation_id, e) for e in items.escalations)
    # A turn the table still holds has its thumb there (or none: taken back); the others keep the stored one.
    held = {t.turn_id for t in items.turns}
    kept = [f for f in (stored.feedback if stored else []) if not (is_thumb_entry(f) and f.get("turn_id") in held)]
    thumbs = sorted(items.thumbs, key=lambda t: (t.given_at, t.turn_id))
    updated_at = max([items.updated_at, *([stored.updated_at] if stored else []), *(t.given_at for t in thumbs)])
    return Transcript(
        session_id=items.session_id, started_at=items.started_at, updated_at=updated_at,
        turns=sorted(turns.values(), key=lambda t: (t.created_at, t.turn_id)),
        escalations=sorted(escalations.values(), key=lambda e: (e.requested_at, e.escalation_id)),
        feedback=kept + [t.to_dict() for t in thumbs],
    )


class TranscriptWriter:
    def __init__(self, *, table_name: str, bucket_name: str, ddb: Callable[[], Any], s3: Callable[[], Any]):
        self.table_name = table_name
        self.bucket_name = bucket_name
        self.ddb = ddb
        self.s3 = s3

    def session_items(self, session_id: str) -> SessionItems | None:
        """Every item of the session (None when its SESSION item is gone: expired, or never written)."""
        request = {"TableName": self.table_name, "ConsistentRead": True,
                   "KeyConditionExpression": "session_id = :id",
                   "ExpressionAttributeValues": {":id": {"S": session_id}}}
        page = self.ddb().query(**request)
        items = page["Items"]
        while "LastEvaluatedKey" in page:
            page = self.ddb().query(**request, ExclusiveStartKey=page["LastEvaluatedKey"])
            items += page["Items"]
        session = next((i for i in items if i["sk"]["S"] == SESSION_SK), None)
        if session is None:
            return None
        turns, escalations, thumbs, unreadable = [], [], [], 0
        for item in items:
            sk = item["sk"]["S"]
            try:
                if sk.startswith(TURN_PREFIX):
                    turns.append(Turn.from_dict(json.loads(item["body"]["S"])))
                    thumb = thumb_of(item)
                    if thumb is not None:
                        thumbs.append(thumb)
                elif sk.startswith(ESCALATION_PREFIX):
                    escalations.append(state_from_item(item).record)
            except (KeyError, TypeError, ValueError, RecursionError):
                unreadable += 1
        return SessionItems(session_id=session_id, started_at=session["started_at"]["S"],
                            updated_at=session["updated_at"]["S"], turns=turns, escalations=escalations,
                            thumbs=thumbs, unreadable=unreadable)

    def materialize(self, session_id: str) -> tuple[str, int]:
        """Writes the session's transcript; returns "written", "rebuilt" (the stored one was unreadable) or
        "no_session", and how many of the session's items could not be read (left out of it)."""
        items = self.session_items(session_id)
        if items is None:
            return "no_session", 0
        key = transcript_key(session_id, items.started_at)
        for _ in range(WRITE_ATTEMPTS):
            stored, condition, readable = self._read(key)
            transcript = compose(items, stored)
            try:
                self.s3().put_object(Bucket=self.bucket_name, Key=key, ContentType="application/json",
                                     Body=json.dumps(transcript.to_dict(), ensure_ascii=False).encode(), **condition)
            except ClientError as error:
                if error.response["Error"]["Code"] not in _CONDITIONAL_PUT_CONFLICTS:
                    raise
                continue
            return ("written" if readable else "rebuilt"), items.unreadable
        raise TranscriptConflict(f"transcript {key} changed under each of {WRITE_ATTEMPTS} attempts")

    def _read(self, key: str) -> tuple[Transcript | None, dict[str, str], bool]:
        """The stored transcript (None if missing or unreadable), the PUT condition, and whether it was
        readable (a missing one counts as readable: there is nothing to rebuild)."""
        try:
            current = self.s3().get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            return None, {"IfNoneMatch": "*"}, True
        condition = {"IfMatch": current["ETag"]}
        with current["Body"] as body:
            raw = body.read()
        try:
            return Transcript.from_dict(json.loads(raw)), condition, True
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None, condition, False
