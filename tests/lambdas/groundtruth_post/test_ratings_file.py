"""The job's ratings file: read-merge-write under moto S3, a lost race, and a key twice in one batch."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from lambdas.common.feedback import RatingRecord, WorkerRating
from lambdas.groundtruth_post import ratings_file
from lambdas.groundtruth_post.ratings_file import RatingsFile, RatingsWriteFailed
from tests.lambdas.groundtruth_post.conftest import RATINGS_BUCKET, RATINGS_KEY


def record(n: int, rating: int = 4) -> RatingRecord:
    return RatingRecord(session_id=f"s{n}", turn_id=f"t{n}", question="q", answer="a", rating=float(rating),
                        ratings=(WorkerRating("w1", rating),), agreement=1.0, source="groundtruth",
                        mean=float(rating), labeling_job="job")


def commit(aws, *records: RatingRecord) -> int:
    file = RatingsFile(s3=aws.s3, bucket=RATINGS_BUCKET, key=RATINGS_KEY)
    for r in records:
        file.add(r)
    return file.commit()


def lines(aws) -> list[dict]:
    return [json.loads(x) for x in aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].iter_lines()]


def test_a_key_twice_in_one_batch_keeps_the_last(aws):
    assert commit(aws, record(1, 2), record(2), record(1, 5)) == 2
    assert [(r["session_id"], r["rating"]) for r in lines(aws)] == [("s2", 4.0), ("s1", 5.0)]


def test_merge_keeps_other_records_and_foreign_lines(aws):
    aws.s3.put_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY, Body=b'{"session_id":"s9","turn_id":"t9"}\nnot json\n'
                                                                   b'{"session_id":"s1","turn_id":"t1","old":1}')
    assert commit(aws, record(1)) == 3
    body = aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read().decode()
    assert body.splitlines()[:2] == ['{"session_id":"s9","turn_id":"t9"}', "not json"]
    assert '"old"' not in body


class LosingRace:
    """Wraps the moto client: another writer changes the file between this writer's read and its PUT."""

    def __init__(self, s3, races: int):
        self.s3, self.races = s3, races

    def get_object(self, **kwargs):
        return self.s3.get_object(**kwargs)

    def put_object(self, **kwargs):
        if self.races:
            self.races -= 1  # a different record each race: an unchanged body would keep its ETag
            self.s3.put_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY,
                               Body=(json.dumps(record(7 + self.races).to_dict()) + "\n").encode())
        return self.s3.put_object(**kwargs)


def test_a_writer_that_lost_a_race_merges_again(aws, monkeypatch):
    monkeypatch.setattr(ratings_file.time, "sleep", lambda _: None)
    commit(aws, record(1))
    file = RatingsFile(s3=LosingRace(aws.s3, races=1), bucket=RATINGS_BUCKET, key=RATINGS_KEY)
    file.add(record(2))
    assert file.commit() == 2  # the racing writer's s7 replaced s1; this writer re-read it and kept it
    assert [r["session_id"] for r in lines(aws)] == ["s7", "s2"]


def test_losing_every_race_fails_the_invocation(aws, monkeypatch):
    monkeypatch.setattr(ratings_file.time, "sleep", lambda _: None)
    file = RatingsFile(s3=LosingRace(aws.s3, races=99), bucket=RATINGS_BUCKET, key=RATINGS_KEY)
    file.add(record(2))
    with pytest.raises(RatingsWriteFailed):
        file.commit()


def test_other_s3_errors_are_not_retried(aws):
    file = RatingsFile(s3=aws.s3, bucket="no-such-bucket-here", key=RATINGS_KEY)
    file.add(record(1))
    with pytest.raises(ClientError):
        file.commit()
