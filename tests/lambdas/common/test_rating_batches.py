"""Rating batches in moto's ratings table (as FeedbackStack defines it): items handed out to N raters, holds
that run out, skips, ratings refused for a reason, and each item consolidated into one rating record."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from lambdas.common import clients
from lambdas.common.feedback import LabelingItem, RatingRecord, Sampling
from lambdas.common.rating_batches import Rating, RatingBatches, RatingRefused, console_key
from lambdas.common.rating_files import RatingFiles

TABLE = "tandem-ratings-unit"
BUCKET = "tandem-labeling-unit"
PREFIX = "ratings/"
BATCH = "tandem-feedback-20261201T050000Z"


class Clock:
    def __init__(self) -> None:
        self.now = 1_796_000_000.0

    def __call__(self) -> float:
        return self.now


def items(count: int) -> list[LabelingItem]:
    return [LabelingItem(source=f"Q{n} / A{n}", session_id=f"session-{n}", turn_id=f"turn-{n}",
                         question=f"question {n}?", answer=f"answer {n}.", sampling=Sampling("random", 7))
            for n in range(1, count + 1)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def batches(aws, clock) -> RatingBatches:
    aws.create("ratings_table", TABLE)
    aws.create("labeling_bucket", BUCKET)
    return RatingBatches(table_name=TABLE, ratings_bucket=BUCKET, ratings_prefix=PREFIX, clock=clock)


def records(aws) -> list[RatingRecord]:
    files = RatingFiles(aws.s3, BUCKET, PREFIX)
    return [RatingRecord.from_dict(json.loads(line)) for key in files.list().keys for line in files.lines(key)]


def rate_all(batches: RatingBatches, rater: str, value: int) -> list[str]:
    rated = []
    while (assignment := batches.next_item(BATCH, rater)) is not None:
        batches.rate(BATCH, assignment.item_id, rater, Rating(value))
        rated.append(assignment.item.turn_id)
    return rated


def test_two_raters_rate_every_item_once_and_each_item_becomes_one_record(aws, batches):
    batches.create(BATCH, items(3), ratings_per_item=2, assignment_seconds=600)
    assert rate_all(batches, "rater-a", 4) == ["turn-1", "turn-2", "turn-3"]
    assert records(aws) == []  # one rating each: not consolidated yet
    assert rate_all(batches, "rater-b", 5) == ["turn-1", "turn-2", "turn-3"]
    found = sorted(records(aws), key=lambda r: r.turn_id)
    assert [(r.turn_id, r.rating, r.agreement, r.source, r.labeling_job) for r in found] == [
        (f"turn-{n}", 4.5, 0.5, "console", BATCH) for n in (1, 2, 3)]
    assert [w.worker_id for w in found[0].ratings] == ["rater-a", "rater-b"]
    batch = batches.batch(BATCH)
    assert (batch.item_count, batch.done_count, batch.agreement) == (3, 3, 0.5)
    assert batches.raters(BATCH) == {"rater-a": {"rated": 3, "skipped": 0}, "rater-b": {"rated": 3, "skipped": 0}}
    assert batches.next_item(BATCH, "rater-c") is None  # nothing left


def test_an_item_never_goes_to_more_raters_than_it_needs(batches):
    batches.create(BATCH, items(1), ratings_per_item=2, assignment_seconds=600)
    first, second = batches.next_item(BATCH, "a"), batches.next_item(BATCH, "b")
    assert first and second and first.item_id == second.item_id == "000001"
    assert batches.next_item(BATCH, "c") is None  # both slots held
    again = batches.next_item(BATCH, "a")  # asking again resumes the same hold
    assert again and again.item_id == "000001"


def test_a_hold_not_rated_in_time_returns_to_the_pool_and_its_late_rating_is_refused(batches, clock):
    batches.create(BATCH, items(1), ratings_per_item=1, assignment_seconds=600)
    held = batches.next_item(BATCH, "slow")
    assert held and batches.next_item(BATCH, "quick") is None
    clock.now += 601
    taken = batches.next_item(BATCH, "quick")
    assert taken and taken.item_id == held.item_id
    with pytest.raises(RatingRefused) as refused:
        batches.rate(BATCH, held.item_id, "slow", Rating(3))
    assert refused.value.code == "not_assigned"
    assert batches.rate(BATCH, taken.item_id, "quick", Rating(2)) is not None


def test_a_skipped_item_goes_to_someone_else_and_never_back(batches):
    batches.create(BATCH, items(2), ratings_per_item=1, assignment_seconds=600)
    first = batches.next_item(BATCH, "a")
    assert first and first.item_id == "000001"
    batches.skip(BATCH, first.item_id, "a")
    nxt = batches.next_item(BATCH, "a")
    assert nxt and nxt.item_id == "000002"
    other = batches.next_item(BATCH, "b")
    assert other and other.item_id == "000001"
    assert batches.raters(BATCH)["a"] == {"rated": 0, "skipped": 1}


@pytest.mark.parametrize("rating, field", [
    (lambda: Rating(0), "value"), (lambda: Rating(6), "value"), (lambda: Rating(True), "value"),
    (lambda: Rating(3, comment="x" * 2001), "comment"), (lambda: Rating(3, better_answer="\ud800"), "better_answer"),
])
def test_a_rating_outside_what_is_allowed_names_its_field(rating: Any, field: str):
    with pytest.raises(RatingRefused) as refused:
        rating()
    assert (refused.value.code, refused.value.field) == ("invalid", field)


def test_bad_requests_are_refused_and_write_nothing(aws, batches):
    batches.create(BATCH, items(2), ratings_per_item=2, assignment_seconds=600)
    mine = batches.next_item(BATCH, "a")
    assert mine
    cases = [
        (lambda: batches.rate(BATCH, mine.item_id, "b", Rating(3)), "not_assigned"),  # not b's
        (lambda: batches.rate(BATCH, "000099", "a", Rating(3)), "not_found"),
        (lambda: batches.rate("no-such-batch", mine.item_id, "a", Rating(3)), "not_found"),
        (lambda: batches.skip(BATCH, "000002", "a"), "not_assigned"),
    ]
    for call, code in cases:
        with pytest.raises(RatingRefused) as refused:
            call()
        assert refused.value.code == code
    batches.rate(BATCH, mine.item_id, "a", Rating(3))
    with pytest.raises(RatingRefused) as refused:
        batches.rate(BATCH, mine.item_id, "a", Rating(4))  # a second, different rating
    assert refused.value.code == "already_rated"
    assert batches.raters(BATCH) == {"a": {"rated": 1, "skipped": 0}}
    batches.close(BATCH)
    with pytest.raises(RatingRefused) as refused:
        batches.next_item(BATCH, "b")
    assert refused.value.code == "closed"
    assert records(aws) == []


def test_a_retried_rating_answers_as_the_first_and_the_record_is_written_once(aws, batches):
    batches.create(BATCH, items(1), ratings_per_item=1, assignment_seconds=600)
    held = batches.next_item(BATCH, "a")
    assert held
    first = batches.rate(BATCH, held.item_id, "a", Rating(5, comment="spot on"))
    again = batches.rate(BATCH, held.item_id, "a", Rating(5, comment="spot on"))
    assert first == again and first is not None
    assert [r.ratings[0].comment for r in records(aws)] == ["spot on"]
    assert batches.batch(BATCH).done_count == 1  # counted once
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)["KeyCount"] == 1
    assert console_key(PREFIX, BATCH, held.item_id) == f"ratings/console/{BATCH}/000001.jsonl"


class OneRequestAtATime:
    """DynamoDB applies each conditional write atomically; moto does not lock, so its client is called one
    request at a time here, as the service serializes writes to an item. The threads still interleave between
    requests: between reading an item and claiming it."""

    def __init__(self, client: Any):
        self._client, self._lock = client, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)
        return call


def test_concurrent_raters_each_item_gets_exactly_n_ratings(aws, batches):
    clients.set_client("dynamodb", OneRequestAtATime(clients.client("dynamodb")))
    batches.create(BATCH, items(6), ratings_per_item=2, assignment_seconds=600)
    done: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def work(rater: str) -> None:
        try:
            done[rater] = rate_all(batches, rater, 1 + len(rater) % 5)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"rater-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(turns) for turns in done.values()) == 12  # 6 items x 2 ratings, no more
    assert all(len(set(turns)) == len(turns) for turns in done.values())  # nobody rated one twice
    found = records(aws)
    assert sorted(r.turn_id for r in found) == sorted(f"turn-{n}" for n in range(1, 7))
    assert all(len(r.ratings) == 2 for r in found)
    assert batches.batch(BATCH).done_count == 6


def test_a_better_answer_travels_into_the_record(aws, batches):
    batches.create(BATCH, items(1), ratings_per_item=1, assignment_seconds=600)
    held = batches.next_item(BATCH, "a")
    assert held
    batches.rate(BATCH, held.item_id, "a", Rating(2, better_answer="Hold the reset button for ten seconds."))
    [record] = records(aws)
    assert record.ratings[0].better_answer == "Hold the reset button for ten seconds."
    assert record.to_dict()["ratings"][0]["better_answer"] == "Hold the reset button for ten seconds."


def test_creating_a_batch_again_changes_nothing(batches):
    batches.create(BATCH, items(2), ratings_per_item=1, assignment_seconds=600)
    held = batches.next_item(BATCH, "a")
    assert held
    batches.rate(BATCH, held.item_id, "a", Rating(4))
    batch = batches.create(BATCH, items(2), ratings_per_item=1, assignment_seconds=600)
    assert (batch.item_count, batch.done_count) == (2, 1)


def test_an_item_that_would_not_read_back_is_left_out_and_counted(batches):
    good = items(1)[0]
    batch = batches.create(BATCH, [good, LabelingItem(source="", session_id="s", turn_id="t", question="q?",
                                                      answer="a", sampling=Sampling("random"))],
                           ratings_per_item=1, assignment_seconds=600)
    assert (batch.item_count, batch.invalid_count) == (1, 1)
    held = batches.next_item(BATCH, "a")
    assert held and held.item == good


class CountingClient:
    """Counts the items DynamoDB reads for queries (ScannedCount), before any filter."""

    def __init__(self, client: Any):
        self._client, self.scanned = client, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name != "query":
            return attr

        def query(**kwargs: Any) -> Any:
            page = attr(**kwargs)
            self.scanned += page["ScannedCount"]
            return page
        return query


def test_a_rater_far_into_a_batch_does_not_read_again_what_they_rated(batches):
    batches.create(BATCH, items(130), ratings_per_item=2, assignment_seconds=600)
    for _ in range(110):  # rated by one rater, waiting for a second: all still open
        held = batches.next_item(BATCH, "keen")
        assert held
        batches.rate(BATCH, held.item_id, "keen", Rating(4))
    counting = CountingClient(clients.client("dynamodb"))
    clients.set_client("dynamodb", counting)
    held = batches.next_item(BATCH, "keen")
    assert held and held.item_id == "000111"
    assert counting.scanned <= 50  # one page after the cursor, not the 110 items behind it


def test_an_item_that_returns_to_the_pool_behind_a_raters_cursor_is_found(batches, clock):
    batches.create(BATCH, items(3), ratings_per_item=1, assignment_seconds=600)
    dropped = batches.next_item(BATCH, "gone")
    assert dropped and dropped.item_id == "000001"
    for expected in ("000002", "000003"):
        held = batches.next_item(BATCH, "keen")
        assert held and held.item_id == expected
        batches.rate(BATCH, held.item_id, "keen", Rating(3))
    assert batches.next_item(BATCH, "keen") is None  # item 1 is still held
    clock.now += 601
    back = batches.next_item(BATCH, "keen")
    assert back and back.item_id == "000001"
