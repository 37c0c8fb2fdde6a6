"""The review queue of experts' answers (lambdas/common/expert_answers.py has the candidates and the records) in
the ratings table (stacks/feedback_stack.py). The feedback sampler adds the candidates, masked like everything
raters see; the rating API lists, accepts and discards them.

One partition, QUEUE_PARTITION (not a valid batch id, so no rating batch can share it), one row per candidate:
- `sk` = `ANSWER#<candidate_id>`, candidate_id = `<escalation_id>.<expert turn_id>` (both plain ids);
- `candidate` (the JSON of ExpertAnswer), `review` (pending | accepted | discarded), `added_at`;
- `open_sk` = `<resolved_at>#<escalation_id>#<answered_at>#<turn_id>` while the row needs something (pending,
  or accepted and not yet written out): the sparse index `open-items` lists the queue oldest escalation first,
  and one escalation's answers in the order they were given, as it lists a batch's open items;
- once reviewed: `reviewer` (Cognito sub), `reviewed_at`; once accepted, `record` (the ExpertAnswerRecord).
Adding is a conditional put, so a candidate seen by two runs (overlapping windows, a redelivered event) is
added once. Accepting sets the decision first (conditional on `pending`: two admins at once get one success
and one conflict), then writes the record to `expert-answers/<escalation_id>/<turn_id>.jsonl` in the ratings
bucket, then takes the row out of the index. An accept whose write failed keeps its row in the index, and the
next read of the queue writes that record again: an accepted answer is never lost.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.expert_answers import ExpertAnswer, ExpertAnswerRecord, checked_text, record_key
from lambdas.common.feedback import FeedbackFormatError

QUEUE_PARTITION = "QUEUE#expert-answers"
ANSWER_PREFIX = "ANSWER#"
OPEN_ITEMS = "open-items"
QUEUE_PAGE = 25
# Two plain ids joined by "." (transcript.IDENTIFIER: Tandem's are UUIDs, which hold no ".").
CANDIDATE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,256}")


class ReviewRefused(ValueError):
    """A review the queue cannot take: `code` (not_found | invalid | reviewed) and the field that was wrong."""

    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.field = field


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _row_key(candidate_id: str) -> dict[str, Any]:
    return {"batch_id": {"S": QUEUE_PARTITION}, "sk": {"S": f"{ANSWER_PREFIX}{candidate_id}"}}


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Queued:
    """A pending candidate as the queue holds it."""

    candidate: ExpertAnswer
    added_at: str


class ExpertAnswerQueue:
    def __init__(self, *, table_name: str, ratings_bucket: str = "", clock: Callable[[], float] = time.time):
        """ratings_bucket: where accepted answers are written (the rating API's; the sampler only adds)."""
        self.table_name = table_name
        self.ratings_bucket = ratings_bucket
        self.clock = clock

    def _ddb(self) -> Any:
        return clients.client("dynamodb")

    def _s3(self) -> Any:
        return clients.client("s3")

    def add(self, candidates: Iterable[ExpertAnswer]) -> tuple[int, int]:
        """Adds each candidate not already queued (reviewed or not); returns (added, already there)."""
        added = existing = 0
        now = _now_iso(self.clock())
        for candidate in candidates:
            item = {**_row_key(candidate.candidate_id), "review": {"S": "pending"}, "added_at": {"S": now},
                    "open_sk": {"S": "#".join((candidate.resolved_at, candidate.escalation_id, candidate.answered_at,
                                               candidate.turn_id))},
                    "candidate": {"S": json.dumps(candidate.to_dict(), ensure_ascii=False)}}
            try:
                self._ddb().put_item(TableName=self.table_name, Item=item,
                                     ConditionExpression="attribute_not_exists(sk)")
                added += 1
            except ClientError as error:
                if not _conditional_failed(error):
                    raise
                existing += 1
        return added, existing

    def pending(self, limit: int = QUEUE_PAGE) -> tuple[list[Queued], int]:
        """The oldest pending candidates (at most `limit`), and how many accepted answers whose record had not
        been written were written now."""
        pending: list[Queued] = []
        repaired = 0
        request: dict[str, Any] = {
            "TableName": self.table_name, "IndexName": OPEN_ITEMS, "KeyConditionExpression": "batch_id = :q",
            "ExpressionAttributeValues": {":q": {"S": QUEUE_PARTITION}}, "Limit": QUEUE_PAGE}
        while len(pending) < limit:
            page = self._ddb().query(**request)
            for item in page["Items"]:
                if item["review"]["S"] == "accepted":
                    self._write_out(item)
                    repaired += 1
                elif item["review"]["S"] == "pending" and len(pending) < limit:
                    pending.append(Queued(ExpertAnswer.from_dict(json.loads(item["candidate"]["S"])),
                                          item["added_at"]["S"]))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return pending, repaired

    def _row(self, candidate_id: str) -> dict[str, Any]:
        if not CANDIDATE_ID.fullmatch(candidate_id):
            raise ReviewRefused("not_found", f"no expert answer {candidate_id[:80]!r}", field="candidate_id")
        item = self._ddb().get_item(TableName=self.table_name, Key=_row_key(candidate_id),
                                    ConsistentRead=True).get("Item")
        if item is None:
            raise ReviewRefused("not_found", f"no expert answer {candidate_id!r}", field="candidate_id")
        return item

    def accept(self, candidate_id: str, reviewer: str, *, question: str | None = None,
               answer: str | None = None) -> ExpertAnswerRecord:
        """Accepts the candidate, with the reviewer's edit of its question or answer when given. A retry of the
        same accept (same reviewer and texts) answers as the first did; any other review of a reviewed
        candidate is refused (`reviewed`)."""
        item = self._row(candidate_id)
        candidate = ExpertAnswer.from_dict(json.loads(item["candidate"]["S"]))
        try:
            final_question = checked_text({"question": candidate.question if question is None else question},
                                           "question")
            final_answer = checked_text({"answer": candidate.answer if answer is None else answer}, "answer")
        except FeedbackFormatError as error:
            raise ReviewRefused("invalid", str(error), field=error.field) from None
        record = ExpertAnswerRecord(
            session_id=candidate.session_id, turn_id=candidate.turn_id, escalation_id=candidate.escalation_id,
            question=final_question.strip(), answer=final_answer.strip(), reviewer=reviewer,
            reviewed_at=_now_iso(self.clock()),
            expert_answer=candidate.answer if final_answer.strip() != candidate.answer else "",
            replaced=candidate.replaced, replaced_model_id=candidate.replaced_model_id)
        if item["review"]["S"] != "pending":
            return self._same_accept(item, record)
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=_row_key(candidate_id),
                UpdateExpression="SET review = :accepted, reviewer = :who, reviewed_at = :at, #record = :record",
                ConditionExpression="review = :pending",
                ExpressionAttributeNames={"#record": "record"},
                ExpressionAttributeValues={":accepted": {"S": "accepted"}, ":pending": {"S": "pending"},
                                           ":who": {"S": reviewer}, ":at": {"S": record.reviewed_at},
                                           ":record": {"S": json.dumps(record.to_dict(), ensure_ascii=False)}})
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            return self._same_accept(self._row(candidate_id), record)
        updated = {**item, "review": {"S": "accepted"},
                   "record": {"S": json.dumps(record.to_dict(), ensure_ascii=False)}}
        self._write_out(updated)
        return record

    def _same_accept(self, item: dict[str, Any], record: ExpertAnswerRecord) -> ExpertAnswerRecord:
        """A reviewed row: the same accept again writes its record again (a retry); anything else is refused."""
        if item["review"]["S"] == "accepted":
            stored = ExpertAnswerRecord.from_dict(json.loads(item["record"]["S"]))
            if (stored.reviewer, stored.question, stored.answer) == (record.reviewer, record.question, record.answer):
                self._write_out(item)
                return stored
        raise ReviewRefused("reviewed", f"this answer was already {item['review']['S']}", field="candidate_id")

    def discard(self, candidate_id: str, reviewer: str) -> None:
        """Discards a pending candidate (a retry of the same discard succeeds again)."""
        item = self._row(candidate_id)
        if item["review"]["S"] == "discarded" and item.get("reviewer", {}).get("S") == reviewer:
            return
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=_row_key(candidate_id),
                UpdateExpression="SET review = :discarded, reviewer = :who, reviewed_at = :at REMOVE open_sk",
                ConditionExpression="review = :pending",
                ExpressionAttributeValues={":discarded": {"S": "discarded"}, ":pending": {"S": "pending"},
                                           ":who": {"S": reviewer}, ":at": {"S": _now_iso(self.clock())}})
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            raise ReviewRefused("reviewed", "this answer was already reviewed", field="candidate_id") from None

    def _write_out(self, item: dict[str, Any]) -> None:
        """Writes an accepted row's record (same key every time), then takes the row out of the queue's index."""
        record = ExpertAnswerRecord.from_dict(json.loads(item["record"]["S"]))
        body = (json.dumps(record.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        self._s3().put_object(Bucket=self.ratings_bucket, Key=record_key(record.escalation_id, record.turn_id),
                              Body=body, ContentType="application/x-ndjson")
        self._ddb().update_item(TableName=self.table_name, Key={"batch_id": item["batch_id"], "sk": item["sk"]},
                                UpdateExpression="REMOVE open_sk", ConditionExpression="review = :accepted",
                                ExpressionAttributeValues={":accepted": {"S": "accepted"}})
