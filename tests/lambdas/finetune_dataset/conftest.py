"""Fixtures for the dataset Lambda: moto S3 (the labeling bucket's rating records, the dataset bucket) and its
environment; the context, `invoke` and `logs` are tests/conftest.py's."""

from __future__ import annotations

import json
from typing import Any

import pytest

RATINGS_BUCKET = "tandem-labeling-unit"
RATINGS_PREFIX = "ratings/"
DATASET_BUCKET = "tandem-datasets-unit"
DATASET_PREFIX = "datasets/"
DATASET_ID = "run-2026-12-01-a"
ENVIRONMENT = {"RATINGS_BUCKET": RATINGS_BUCKET, "RATINGS_PREFIX": RATINGS_PREFIX,
               "DATASET_BUCKET": DATASET_BUCKET, "DATASET_PREFIX": DATASET_PREFIX,
               "GOOD_MIN_RATING": "4", "BAD_MAX_RATING": "2", "EVAL_FRACTION": "0.25", "SPLIT_SEED": "unit",
               "WEIGHT_BY_AGREEMENT": "false", "MIN_TRAIN_ROWS": "3",
               # The tests' datasets are a few sessions: too small for the default minimum of held-out rows
               # (10 well-rated and 10 badly rated). Tests of that minimum set it themselves.
               "MIN_EVAL_ROWS": "0",
               "SYSTEM_PROMPT": "You are Tandem's support assistant."}


def event(dataset_id: Any = DATASET_ID) -> dict[str, Any]:
    """What the state machine sends: {"dataset_id": <the execution name>}."""
    return {"dataset_id": dataset_id}


def rating_line(session_id: str, turn_id: str, rating: float = 4, **changes: Any) -> str:
    data = {"schema_version": 1, "session_id": session_id, "turn_id": turn_id,
            "question": f"How do I reset my password? ({session_id}/{turn_id})",
            "answer": f"Open Settings, then Security, then Reset. ({session_id}/{turn_id})", "rating": rating,
            "ratings": [{"worker_id": "w1", "value": int(rating)}], "agreement": 1.0, "source": "groundtruth",
            "labeling_job": "tandem-feedback-1"}
    data.update(changes)
    return json.dumps(data)


@pytest.fixture
def aws(aws, set_environment):
    """The labeling bucket's rating records (`aws.put_ratings`) and the dataset bucket (`aws.read`,
    `aws.keys`), and the function's environment."""
    set_environment(ENVIRONMENT)
    aws.create("labeling_bucket", RATINGS_BUCKET)
    aws.create("finetune_artifacts_bucket", DATASET_BUCKET)

    def put_ratings(name: str, *lines: str) -> None:
        aws.s3.put_object(Bucket=RATINGS_BUCKET, Key=f"{RATINGS_PREFIX}{name}", Body="\n".join(lines).encode())

    def read(key: str) -> bytes:
        return aws.s3.get_object(Bucket=DATASET_BUCKET, Key=key)["Body"].read()

    def keys() -> list[str]:
        pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=DATASET_BUCKET)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))

    aws.put_ratings, aws.read, aws.keys = put_ratings, read, keys
    return aws
