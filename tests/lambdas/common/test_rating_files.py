"""rating_files: one definition of a rating file and one way to list and read them, for every reader."""

from __future__ import annotations

import gzip
import json

import pytest

from lambdas.common.rating_files import DEFAULT_PREFIX, RatingFiles, ratings_key, turn_of

BUCKET = "tandem-labeling-unit"


@pytest.fixture
def files(aws):
    aws.create("labeling_bucket", BUCKET)
    return RatingFiles(aws.s3, BUCKET, DEFAULT_PREFIX)


def put(files: RatingFiles, key: str, body: bytes) -> None:
    files.s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def test_rating_files_are_jsonl_and_gzipped_jsonl_under_the_prefix_in_key_order(files):
    for key in ("ratings/b.jsonl", "ratings/a.jsonl.gz", "ratings/notes.txt", "ratings/old.json", "ratings/sub/",
                "elsewhere/c.jsonl"):
        put(files, key, b"")

    listing = files.list()

    assert listing.keys == ["ratings/a.jsonl.gz", "ratings/b.jsonl"]
    assert listing.skipped == 2  # notes.txt and old.json; the folder is not counted, the other prefix not listed


def test_lines_are_read_from_both_forms_without_blank_lines(files):
    lines = [json.dumps({"session_id": "s", "turn_id": f"t{n}"}).encode() for n in range(3)]
    put(files, "ratings/plain.jsonl", lines[0] + b"\r\n\n" + lines[1] + b"\n")
    put(files, "ratings/packed.jsonl.gz", gzip.compress(lines[2] + b"\n"))

    assert list(files.lines("ratings/plain.jsonl")) == lines[:2]
    assert list(files.lines("ratings/packed.jsonl.gz")) == lines[2:]


@pytest.mark.parametrize(("line", "turn"), [
    (b'{"session_id": "s", "turn_id": "t", "rating": 4}', ("s", "t")),
    (b'{"session_id": "s"}', None), (b'{"session_id": "s", "turn_id": 7}', None), (b'["s", "t"]', None),
    (b"{not json", None), (b"[" * 100_000, None), (b'{"session_id": "", "turn_id": "t"}', None),
])
def test_the_turn_a_line_rates(line, turn):
    assert turn_of(line) == turn


def test_a_files_key_is_named_after_its_job():
    assert ratings_key(DEFAULT_PREFIX, "tandem-feedback-20261130-120000") == "ratings/tandem-feedback-20261130-120000.jsonl"
