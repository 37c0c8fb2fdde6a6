"""Tandem's own rating workflow, where Ground Truth is not available: rating batches in the ratings table,
each item rated by N raters, consolidated into a rating record (source `console`) when its N-th rating is in.

Table layout (stacks/feedback_stack.py; partition key `batch_id`, sort key `sk`):
- `BATCH`           the batch: `status` (open | closed), `ratings_per_item` (N), `assignment_seconds`,
                    `item_count`, `created_at`, and, counted as items are consolidated, `done_count` and
                    `agreement_sum`.
- `ITEM#<item_id>`  one labeling item (lambdas/common/feedback.py LabelingItem, PII masked by the sampler)
                    in `item`, and its raters in `slots`: a map rater -> {"state": "held", "until": epoch
                    seconds} while the rater has it, {"state": "rated"} once rated; `ratings` (rater ->
                    {value, comment, better_answer, rated_at}), `rated_count`, `skipped` (a string set of the
                    raters who passed on it). `open_sk` (= `sk`) is present until the item is consolidated: the
                    sparse index `open-items` lists what is left to rate.
- `RATER#<rater>`   one rater's counts in the batch (`rated`, `skipped`) for the batch's view, the item they
                    hold (`holding`) and the last one they were given (`cursor`), where their next search
                    starts.

Rules, each a conditional write, so they hold under retries and raters working at the same time:
- an item has at most N slots; a rater holds at most one slot of an item, and never rates it twice;
- a hold not rated by its `until` returns to the pool: the next rater who finds the item full clears it;
- a rating needs the rater's own hold; a retried rating with the same content answers as the first did;
- the N-th rating consolidates the item (RatingRecord.consolidate, the rule of every rating source) into
  `<ratings prefix>console/<batch_id>/<item_id>.jsonl`: one key per item, so a retry writes the same record
  again, never a second one; then `open_sk` goes and the batch's counts move on, once.
- a closed batch takes no more ratings and hands out no more items.
A rater is named by their Cognito `sub` (raters stay pseudonymous in the records, as Ground Truth's workers do).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.feedback import (
    MAX_RATING,
    MIN_RATING,
    FeedbackFormatError,
    LabelingItem,
    RatingRecord,
    WorkerRating,
    is_unicode,
)
from lambdas.common.rating_files import RatingFiles

BATCH_SK = "BATCH"
ITEM_PREFIX = "ITEM#"
RATER_PREFIX = "RATER#"
OPEN_ITEMS = "open-items"
BATCHES_BY_STATUS = "batches-by-status"  # sparse: only the BATCH rows have a status
CONSOLE_SOURCE = "console"
MAX_COMMENT_CHARS = 2_000
MAX_BETTER_ANSWER_CHARS = 20_000  # a labeling item's answer may be as long (Ground Truth's attribute limit)
CANDIDATE_PAGE = 50  # open items read per query while looking for one this rater may take


class RatingRefused(ValueError):
    """A request the batch cannot take: `code` says why (a 4xx for the API), `field` what was wrong."""

    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code  # not_found | invalid | not_assigned | already_rated | closed
        self.field = field


@dataclass(frozen=True)
class Batch:
    batch_id: str
    status: str
    ratings_per_item: int
    assignment_seconds: int
    item_count: int
    done_count: int
    agreement_sum: float
    created_at: str
    invalid_count: int = 0  # items left out because they would not read back

    @property
    def agreement(self) -> float | None:
        """The mean agreement of the consolidated items (None before the first)."""
        return round(self.agreement_sum / self.done_count, 4) if self.done_count else None


@dataclass(frozen=True)
class Assignment:
    """The item a rater holds: what to show them, and until when it is theirs."""

    batch_id: str
    item_id: str
    item: LabelingItem
    until: int  # epoch seconds


@dataclass(frozen=True)
class Rating:
    value: int
    comment: str = ""
    better_answer: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, int) or not MIN_RATING <= self.value <= MAX_RATING:
            raise RatingRefused("invalid", f"must be a whole number from {MIN_RATING} to {MAX_RATING}",
                                field="value")
        for name, text, limit in (("comment", self.comment, MAX_COMMENT_CHARS),
                                  ("better_answer", self.better_answer, MAX_BETTER_ANSWER_CHARS)):
            if not isinstance(text, str):
                raise RatingRefused("invalid", "must be a string", field=name)
            if len(text) > limit:
                raise RatingRefused("invalid", f"must be at most {limit} characters", field=name)
            if not is_unicode(text):
                raise RatingRefused("invalid", "is not valid Unicode", field=name)

    def to_attribute(self, rated_at: str) -> dict[str, Any]:
        return {"M": {"value": {"N": str(self.value)}, "comment": {"S": self.comment},
                      "better_answer": {"S": self.better_answer}, "rated_at": {"S": rated_at}}}


def item_key(batch_id: str, item_id: str) -> dict[str, Any]:
    return {"batch_id": {"S": batch_id}, "sk": {"S": f"{ITEM_PREFIX}{item_id}"}}


def console_key(prefix: str, batch_id: str, item_id: str) -> str:
    """Where an item's consolidated record goes (a rating file, lambdas/common/rating_files.py)."""
    return f"{prefix}{CONSOLE_SOURCE}/{batch_id}/{item_id}.jsonl"


def _now_iso(now: float) -> str:
    return datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _conditional_failed(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "ConditionalCheckFailedException"


def _rating_of(attribute: dict[str, Any]) -> Rating:
    data = attribute["M"]
    return Rating(value=int(data["value"]["N"]), comment=data.get("comment", {}).get("S", ""),
                  better_answer=data.get("better_answer", {}).get("S", ""))


class RatingBatches:
    def __init__(self, *, table_name: str, ratings_bucket: str, ratings_prefix: str,
                 clock: Callable[[], float] = time.time):
        self.table_name = table_name
        self.ratings_bucket = ratings_bucket
        self.ratings_prefix = ratings_prefix
        self.clock = clock

    def _ddb(self) -> Any:
        return clients.client("dynamodb")

    def _s3(self) -> Any:
        return clients.client("s3")

    # Batches ------------------------------------------------------------------------------------------

    def create(self, batch_id: str, items: Iterable[LabelingItem], *, ratings_per_item: int,
               assignment_seconds: int) -> Batch:
        """Writes the batch's items, then the batch itself (so a batch that exists has all its items). Run
        again with the same id and items, it writes the same items and finds the batch there. An item that
        would not read back (an empty text, a lone surrogate) is left out and counted (`invalid_count`): one
        bad item never stops the others."""
        if ratings_per_item < 1:
            raise ValueError("ratings_per_item must be at least 1")
        valid, invalid = [], 0
        for item in items:
            try:
                valid.append(LabelingItem.from_dict(item.to_dict()))
            except FeedbackFormatError:
                invalid += 1
        count = 0
        for chunk in _chunks(enumerate(valid, start=1), 25):
            requests = []
            for number, item in chunk:
                item_id = f"{number:06d}"
                key = item_key(batch_id, item_id)
                requests.append({"PutRequest": {"Item": {
                    **key, "open_sk": key["sk"], "item": {"S": json.dumps(item.to_dict(), ensure_ascii=False)},
                    "slots": {"M": {}}, "ratings": {"M": {}}, "rated_count": {"N": "0"}}}})
            self._write_all(requests)
            count += len(chunk)
        created_at = _now_iso(self.clock())
        try:
            self._ddb().put_item(
                TableName=self.table_name, ConditionExpression="attribute_not_exists(sk)",
                Item={"batch_id": {"S": batch_id}, "sk": {"S": BATCH_SK}, "status": {"S": "open"},
                      "ratings_per_item": {"N": str(ratings_per_item)},
                      "assignment_seconds": {"N": str(assignment_seconds)}, "item_count": {"N": str(count)},
                      "done_count": {"N": "0"}, "agreement_sum": {"N": "0"}, "created_at": {"S": created_at},
                      "invalid_count": {"N": str(invalid)}})
        except ClientError as error:
            if not _conditional_failed(error):
                raise
        return self.batch(batch_id)

    def _write_all(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table_name: requests}
        for _ in range(8):
            unprocessed = self._ddb().batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not unprocessed:
                return
            pending = unprocessed
            time.sleep(0.05)
        raise RuntimeError("DynamoDB left items of the batch unwritten after retries")

    def batch(self, batch_id: str) -> Batch:
        item = self._ddb().get_item(TableName=self.table_name, ConsistentRead=True,
                                    Key={"batch_id": {"S": batch_id}, "sk": {"S": BATCH_SK}}).get("Item")
        if item is None:
            raise RatingRefused("not_found", f"there is no rating batch {batch_id}", field="batch_id")
        return Batch(batch_id=batch_id, status=item["status"]["S"],
                     ratings_per_item=int(item["ratings_per_item"]["N"]),
                     assignment_seconds=int(item["assignment_seconds"]["N"]), item_count=int(item["item_count"]["N"]),
                     done_count=int(item["done_count"]["N"]), agreement_sum=float(item["agreement_sum"]["N"]),
                     created_at=item["created_at"]["S"], invalid_count=int(item.get("invalid_count", {}).get("N", "0")))

    def close(self, batch_id: str) -> Batch:
        self.batch(batch_id)
        self._ddb().update_item(TableName=self.table_name, Key={"batch_id": {"S": batch_id}, "sk": {"S": BATCH_SK}},
                                UpdateExpression="SET #status = :closed",
                                ExpressionAttributeNames={"#status": "status"},
                                ExpressionAttributeValues={":closed": {"S": "closed"}})
        return self.batch(batch_id)

    def _open_batch(self, batch_id: str) -> Batch:
        batch = self.batch(batch_id)
        if batch.status != "open":
            raise RatingRefused("closed", f"the rating batch {batch_id} is closed", field="batch_id")
        return batch

    # Handing out items --------------------------------------------------------------------------------

    def next_item(self, batch_id: str, rater: str) -> Assignment | None:
        """The item this rater holds, or a new one they may rate; None when the batch has nothing left for
        them (every open item is rated by them already, skipped by them, or full).

        The rater's row remembers the item they hold and the last one they were given (`cursor`): the search
        starts after it, so a rater far into a batch does not read again the items they rated while those wait
        for other raters; only when nothing is left after it does the search go back to the start, where an
        item may have returned to the pool."""
        batch = self._open_batch(batch_id)
        now = int(self.clock())
        row = self._rater_row(batch_id, rater)
        holding = row.get("holding", {}).get("S")
        if holding:
            item = self._ddb().get_item(TableName=self.table_name, ConsistentRead=True,
                                        Key={"batch_id": {"S": batch_id}, "sk": {"S": holding}}).get("Item")
            slot = (item or {}).get("slots", {}).get("M", {}).get(rater)
            if item and "open_sk" in item and slot and slot["M"]["state"]["S"] == "held":
                resumed = self._hold(batch, item, rater, now, renew=True)
                if resumed:
                    return resumed
        cursor = row.get("cursor", {}).get("S")
        full: list[dict[str, Any]] = []
        for after, up_to in ((cursor, None), (None, cursor)) if cursor else ((None, None),):
            for item in self._open_items(batch_id, rater, after=after, up_to=up_to):
                slot = item["slots"]["M"].get(rater)
                if slot is not None:
                    if slot["M"]["state"]["S"] == "held":
                        return self._hold(batch, item, rater, now, renew=True)
                    continue  # rated, waiting for the others
                if len(item["slots"]["M"]) >= batch.ratings_per_item:
                    full.append(item)
                    continue
                assignment = self._hold(batch, item, rater, now)
                if assignment:
                    return assignment
        for item in full:  # a hold nobody rated in time returns to the pool
            if self._release_expired(item, now):
                assignment = self._hold(batch, item, rater, now)
                if assignment:
                    return assignment
        return None

    def _rater_row(self, batch_id: str, rater: str) -> dict[str, Any]:
        item: dict[str, Any] = self._ddb().get_item(
            TableName=self.table_name, ConsistentRead=True,
            Key={"batch_id": {"S": batch_id}, "sk": {"S": f"{RATER_PREFIX}{rater}"}}).get("Item") or {}
        return item

    def _open_items(self, batch_id: str, rater: str, *, after: str | None = None,
                    up_to: str | None = None) -> Iterator[dict[str, Any]]:
        """The batch's open items that `rater` did not skip, in order; only those after `after`, or up to and
        including `up_to`."""
        condition, values = "batch_id = :batch", {":batch": {"S": batch_id}, ":rater": {"S": rater}}
        if after:
            condition, values[":edge"] = condition + " AND open_sk > :edge", {"S": after}
        elif up_to:
            condition, values[":edge"] = condition + " AND open_sk <= :edge", {"S": up_to}
        query = {"TableName": self.table_name, "IndexName": OPEN_ITEMS, "Limit": CANDIDATE_PAGE,
                 "KeyConditionExpression": condition, "FilterExpression": "NOT contains(skipped, :rater)",
                 "ExpressionAttributeValues": values}
        while True:
            page = self._ddb().query(**query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _hold(self, batch: Batch, item: dict[str, Any], rater: str, now: int, *,
              renew: bool = False) -> Assignment | None:
        until = now + batch.assignment_seconds
        condition = ("attribute_exists(open_sk) AND slots.#rater.#state = :held" if renew else
                     "attribute_exists(open_sk) AND attribute_not_exists(slots.#rater) AND size(slots) < :n "
                     "AND NOT contains(skipped, :rater_s)")
        values: dict[str, Any] = {":slot": {"M": {"state": {"S": "held"}, "until": {"N": str(until)}}}}
        if renew:
            values[":held"] = {"S": "held"}
        else:
            values[":n"] = {"N": str(batch.ratings_per_item)}
            values[":rater_s"] = {"S": rater}
        names = {"#rater": rater, **({"#state": "state"} if renew else {})}
        try:
            self._ddb().update_item(TableName=self.table_name, Key={"batch_id": item["batch_id"], "sk": item["sk"]},
                                    UpdateExpression="SET slots.#rater = :slot", ConditionExpression=condition,
                                    ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as error:
            if _conditional_failed(error):
                return None  # another rater took the last slot, or it was consolidated meanwhile
            raise
        if not renew:
            self._ddb().update_item(
                TableName=self.table_name,
                Key={"batch_id": {"S": batch.batch_id}, "sk": {"S": f"{RATER_PREFIX}{rater}"}},
                UpdateExpression="SET holding = :sk, #cursor = :sk", ExpressionAttributeNames={"#cursor": "cursor"},
                ExpressionAttributeValues={":sk": item["sk"]})
        item_id = item["sk"]["S"].removeprefix(ITEM_PREFIX)
        return Assignment(batch_id=batch.batch_id, item_id=item_id,
                          item=LabelingItem.from_dict(json.loads(item["item"]["S"])), until=until)

    def _release_expired(self, item: dict[str, Any], now: int) -> bool:
        released = False
        for holder, slot in item["slots"]["M"].items():
            state = slot["M"]
            if state["state"]["S"] != "held" or int(state["until"]["N"]) > now:
                continue
            try:
                self._ddb().update_item(
                    TableName=self.table_name, Key={"batch_id": item["batch_id"], "sk": item["sk"]},
                    UpdateExpression="REMOVE slots.#holder",
                    ConditionExpression="slots.#holder.#state = :held AND slots.#holder.#until = :until",
                    ExpressionAttributeNames={"#holder": holder, "#state": "state", "#until": "until"},
                    ExpressionAttributeValues={":held": {"S": "held"}, ":until": state["until"]})
                released = True
            except ClientError as error:
                if not _conditional_failed(error):
                    raise
        return released

    # Rating and skipping ------------------------------------------------------------------------------

    def skip(self, batch_id: str, item_id: str, rater: str) -> None:
        """The rater passes on the item they hold: it goes back to the pool, and never to them again."""
        self._open_batch(batch_id)
        try:
            self._ddb().update_item(
                TableName=self.table_name, Key=item_key(batch_id, item_id),
                UpdateExpression="REMOVE slots.#rater ADD skipped :rater_set",
                ConditionExpression="slots.#rater.#state = :held",
                ExpressionAttributeNames={"#rater": rater, "#state": "state"},
                ExpressionAttributeValues={":held": {"S": "held"}, ":rater_set": {"SS": [rater]}})
        except ClientError as error:
            if _conditional_failed(error):
                raise self._refusal(batch_id, item_id, rater, None) from None
            raise
        self._count(batch_id, rater, "skipped")

    def rate(self, batch_id: str, item_id: str, rater: str, rating: Rating) -> RatingRecord | None:
        """Stores the rater's rating of the item they hold; returns the item's record when this rating was
        its N-th (the item is consolidated), else None."""
        batch = self._open_batch(batch_id)
        rated_at = _now_iso(self.clock())
        try:
            item = self._ddb().update_item(
                TableName=self.table_name, Key=item_key(batch_id, item_id),
                UpdateExpression="SET slots.#rater = :rated, ratings.#rater = :rating ADD rated_count :one",
                ConditionExpression="attribute_exists(open_sk) AND slots.#rater.#state = :held",
                ExpressionAttributeNames={"#rater": rater, "#state": "state"},
                ExpressionAttributeValues={":rated": {"M": {"state": {"S": "rated"}}}, ":held": {"S": "held"},
                                           ":rating": rating.to_attribute(rated_at), ":one": {"N": "1"}},
                ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as error:
            if not _conditional_failed(error):
                raise
            item = self._refusal(batch_id, item_id, rater, rating)  # raises unless it is this very rating again
        else:
            self._count(batch_id, rater, "rated")
        if int(item["rated_count"]["N"]) < batch.ratings_per_item:
            return None
        return self._consolidate(batch, item)

    def _refusal(self, batch_id: str, item_id: str, rater: str, rating: Rating | None) -> Any:
        """Why a conditional write on an item failed, as a RatingRefused; or, when `rating` is exactly what the
        rater already gave (a retry), the item, so the retry finishes what the first call may not have."""
        item = self._ddb().get_item(TableName=self.table_name, Key=item_key(batch_id, item_id),
                                    ConsistentRead=True).get("Item")
        if item is None:
            raise RatingRefused("not_found", f"the batch has no item {item_id}", field="item_id")
        given = item.get("ratings", {}).get("M", {}).get(rater)
        if given is not None:
            if rating is not None and _rating_of(given) == rating:
                return item
            raise RatingRefused("already_rated", "you have rated this item already", field="item_id")
        raise RatingRefused("not_assigned", "this item is not assigned to you (the time to rate it may have run "
                                            "out): ask for the next item", field="item_id")

    def _count(self, batch_id: str, rater: str, what: str) -> None:
        self._ddb().update_item(
            TableName=self.table_name, Key={"batch_id": {"S": batch_id}, "sk": {"S": f"{RATER_PREFIX}{rater}"}},
            UpdateExpression="ADD #what :one REMOVE holding", ExpressionAttributeNames={"#what": what},
            ExpressionAttributeValues={":one": {"N": "1"}})

    # Consolidation ------------------------------------------------------------------------------------

    def _consolidate(self, batch: Batch, item: dict[str, Any]) -> RatingRecord:
        labeling = LabelingItem.from_dict(json.loads(item["item"]["S"]))
        ratings = tuple(
            WorkerRating(worker_id=rater, value=rating.value, comment=rating.comment,
                         better_answer=rating.better_answer)
            for rater, rating in sorted((r, _rating_of(a)) for r, a in item["ratings"]["M"].items()))
        record = RatingRecord.consolidate(session_id=labeling.session_id, turn_id=labeling.turn_id,
                                          question=labeling.question, answer=labeling.answer, ratings=ratings,
                                          source=CONSOLE_SOURCE, labeling_job=batch.batch_id)
        item_id = item["sk"]["S"].removeprefix(ITEM_PREFIX)
        body = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"
        self._s3().put_object(Bucket=self.ratings_bucket, Key=console_key(self.ratings_prefix, batch.batch_id, item_id),
                              Body=body.encode(), ContentType="application/x-ndjson")
        try:
            self._ddb().transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table_name, "Key": item_key(batch.batch_id, item_id),
                            "UpdateExpression": "REMOVE open_sk SET consolidated_at = :at",
                            "ConditionExpression": "attribute_exists(open_sk)",
                            "ExpressionAttributeValues": {":at": {"S": _now_iso(self.clock())}}}},
                {"Update": {"TableName": self.table_name,
                            "Key": {"batch_id": {"S": batch.batch_id}, "sk": {"S": BATCH_SK}},
                            "UpdateExpression": "ADD done_count :one, agreement_sum :agreement",
                            "ExpressionAttributeValues": {":one": {"N": "1"},
                                                          ":agreement": {"N": str(record.agreement)}}}},
            ])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise  # the record is written; a retry of the rating finishes the bookkeeping
        return record

    # The batch's view ---------------------------------------------------------------------------------

    def open_batches(self) -> list[Batch]:
        """The open batches, newest first."""
        found: list[Batch] = []
        query = {"TableName": self.table_name, "IndexName": BATCHES_BY_STATUS, "ScanIndexForward": False,
                 "KeyConditionExpression": "#status = :open", "ExpressionAttributeNames": {"#status": "status"},
                 "ExpressionAttributeValues": {":open": {"S": "open"}}}
        while True:
            page = self._ddb().query(**query)
            found.extend(self.batch(item["batch_id"]["S"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def counts(self, batch_id: str, rater: str) -> dict[str, int]:
        """{"rated": n, "skipped": n}: one rater's work in the batch."""
        item = self._ddb().get_item(TableName=self.table_name, ConsistentRead=True, Key={
            "batch_id": {"S": batch_id}, "sk": {"S": f"{RATER_PREFIX}{rater}"}}).get("Item") or {}
        return {what: int(item.get(what, {}).get("N", "0")) for what in ("rated", "skipped")}

    def records(self, batch_id: str) -> Iterator[RatingRecord]:
        """The batch's consolidated records, as written."""
        files = RatingFiles(self._s3(), self.ratings_bucket, f"{self.ratings_prefix}{CONSOLE_SOURCE}/{batch_id}/")
        for key in files.list().keys:
            for line in files.lines(key):
                yield RatingRecord.from_dict(json.loads(line))

    def raters(self, batch_id: str) -> dict[str, dict[str, int]]:
        """rater -> {"rated": n, "skipped": n} in the batch."""
        found: dict[str, dict[str, int]] = {}
        query = {"TableName": self.table_name, "KeyConditionExpression": "batch_id = :batch AND begins_with(sk, :p)",
                 "ExpressionAttributeValues": {":batch": {"S": batch_id}, ":p": {"S": RATER_PREFIX}}}
        while True:
            page = self._ddb().query(**query)
            for item in page.get("Items", []):
                found[item["sk"]["S"].removeprefix(RATER_PREFIX)] = {
                    what: int(item.get(what, {}).get("N", "0")) for what in ("rated", "skipped")}
            if "LastEvaluatedKey" not in page:
                return found
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _chunks(iterable: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for element in iterable:
        chunk.append(element)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk

