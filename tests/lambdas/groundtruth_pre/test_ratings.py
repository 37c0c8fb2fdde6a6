"""The rated-turns cache on its own: refreshed after its maximum age, bounded in size, and never caching a
failed read."""

from __future__ import annotations

import pytest

from lambdas.groundtruth_pre.ratings import RatedTurns, RatingsUnavailable
from tests.lambdas.groundtruth_pre.conftest import BUCKET, RATINGS_PREFIX, rating_line


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rated(clock: Clock, *, max_turns: int = 100, bucket: str = BUCKET, loads: list | None = None) -> RatedTurns:
    return RatedTurns(bucket=bucket, prefix=RATINGS_PREFIX, max_turns=max_turns, max_age_seconds=600,
                      clock=clock, on_load=(loads.append if loads is not None else lambda stats: None))


def put(aws, name: str, *lines: str) -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=f"{RATINGS_PREFIX}{name}", Body="\n".join(lines).encode())


def test_the_set_is_read_again_once_it_is_older_than_its_maximum_age(aws):
    clock, loads = Clock(), []
    turns = rated(clock, loads=loads)
    assert not turns("s1", "t1")
    put(aws, "job.jsonl", rating_line("s1", "t1"))

    clock.now += 600
    assert not turns("s1", "t1")  # not older than the maximum age yet
    clock.now += 1
    assert turns("s1", "t1")
    assert len(loads) == 2


def test_the_set_is_bounded_and_says_so(aws):
    put(aws, "a.jsonl", *(rating_line(f"s{i}", "t") for i in range(5)))
    loads = []
    turns = rated(Clock(), max_turns=3, loads=loads)

    found = [turns(f"s{i}", "t") for i in range(5)]

    assert found.count(True) == 3
    assert loads[0].truncated and loads[0].turns == 3


def test_keys_that_are_not_rating_files_are_not_read(aws):
    put(aws, "notes.txt", rating_line("s1", "t1"))
    put(aws, "old.json", rating_line("s2", "t2"))  # rating files are .jsonl or .jsonl.gz, for every reader
    put(aws, "new.jsonl", rating_line("s3", "t3"))

    turns = rated(Clock())
    assert not turns("s1", "t1") and not turns("s2", "t2") and turns("s3", "t3")


def test_a_failed_read_raises_and_is_not_cached(aws):
    clock = Clock()
    turns = rated(clock, bucket="tandem-created-later")
    with pytest.raises(RatingsUnavailable, match="NoSuchBucket"):
        turns("s1", "t1")

    aws.s3.create_bucket(Bucket="tandem-created-later")
    aws.s3.put_object(Bucket="tandem-created-later", Key=f"{RATINGS_PREFIX}a.jsonl",
                      Body=rating_line("s1", "t1").encode())
    assert turns("s1", "t1")  # tried again at once, not after the maximum age


def test_a_broken_gzip_file_makes_the_records_unavailable(aws):
    aws.s3.put_object(Bucket=BUCKET, Key=f"{RATINGS_PREFIX}bad.jsonl.gz", Body=b"\x1f\x8bnot really gzip")

    with pytest.raises(RatingsUnavailable):
        rated(Clock())("s1", "t1")
