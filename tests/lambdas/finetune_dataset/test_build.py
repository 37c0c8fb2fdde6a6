"""The dataset step's rules over in-memory seams (no moto): what is written, in which order, and what is
not written when the data is too small. tests/lambdas/finetune_dataset/test_handler.py runs the same through
the handler against moto."""

from __future__ import annotations

import inspect
from typing import Iterator

import pytest

from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.rating_files import Listing
from lambdas.finetune_dataset.dataset import NotEnoughTrainingData, build
from lambdas.finetune_dataset.settings import DatasetSettings
from tests.lambdas.finetune_dataset.conftest import ENVIRONMENT, rating_line


class FakeRatings:
    def __init__(self, files: dict[str, list[str]], skipped: int = 0):
        self.files, self.skipped = files, skipped
        self.opened: list[str] = []

    def list(self) -> Listing:
        return Listing(keys=sorted(self.files), skipped=self.skipped)

    def lines(self, key: str) -> Iterator[bytes]:
        self.opened.append(key)
        yield from (line.encode() for line in self.files[key])


class FakeBucket:
    def __init__(self, bucket: str):
        self.bucket = bucket
        self.puts: list[tuple[str, str]] = []

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.puts.append((key, content_type))


def settings(**changes: str) -> DatasetSettings:
    return DatasetSettings.from_env({**ENVIRONMENT, **changes})


def ratings_of(sessions: int) -> FakeRatings:
    lines = [rating_line(f"session-{s}", f"turn-{t}", rating=5 if t % 2 else 1) for s in range(sessions) for t in range(4)]
    return FakeRatings({"ratings/job-2.jsonl": lines[len(lines) // 2:], "ratings/job-1.jsonl": lines[:len(lines) // 2]},
                       skipped=1)


@pytest.mark.parametrize("fake, real", [(FakeBucket, BucketWriter)])
def test_the_fake_takes_the_parameters_of_the_class_it_stands_in_for(fake, real):
    assert str(inspect.signature(fake.put)) == str(inspect.signature(real.put))


def test_the_report_comes_first_then_every_row_file_and_the_files_are_read_in_key_order():
    ratings, output = ratings_of(20), FakeBucket("datasets-bucket")

    result, dataset, stats = build(settings(MIN_TRAIN_ROWS="1"), "run-1", ratings=ratings, output=output)

    assert ratings.opened == ["ratings/job-1.jsonl", "ratings/job-2.jsonl"]
    assert (stats.objects_read, stats.objects_skipped) == (2, 1)
    keys = [key for key, _ in output.puts]
    assert keys[0].endswith("run-1/report.json") and output.puts[0][1] == "application/json"
    assert len(keys) == 9 and all(content == "application/x-ndjson" for _, content in output.puts[1:])
    assert result["dataset_uri"] == f"s3://datasets-bucket/{keys[0][:-len('report.json')]}"
    assert dataset.records == 80


def test_too_little_data_writes_the_report_only():
    output = FakeBucket("datasets-bucket")

    with pytest.raises(NotEnoughTrainingData, match="fewer than MIN_TRAIN_ROWS=1000"):
        build(settings(MIN_TRAIN_ROWS="1000"), "run-2", ratings=ratings_of(2), output=output)

    assert [key.rsplit("/", 1)[1] for key, _ in output.puts] == ["report.json"]
