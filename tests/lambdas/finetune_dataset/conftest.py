"""Fixtures for the dataset Lambda: moto S3 (the labeling bucket's rating records, the dataset bucket), its
environment, the Lambda context and the lines its logger writes."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Callable

import boto3
import pytest
from moto import mock_aws

from lambdas.common import clients
from lambdas.finetune_dataset import handler as dataset_handler
from tests.lambda_context import lambda_context as make_context
from tests.log_capture import captured

RATINGS_BUCKET = "tandem-labeling-unit"
RATINGS_PREFIX = "ratings/"
DATASET_BUCKET = "tandem-datasets-unit"
DATASET_PREFIX = "datasets/"
DATASET_ID = "run-2026-12-01-a"
ENVIRONMENT = {"RATINGS_BUCKET": RATINGS_BUCKET, "RATINGS_PREFIX": RATINGS_PREFIX,
               "DATASET_BUCKET": DATASET_BUCKET, "DATASET_PREFIX": DATASET_PREFIX,
               "GOOD_MIN_RATING": "4", "BAD_MAX_RATING": "2", "EVAL_FRACTION": "0.25", "SPLIT_SEED": "unit",
               "WEIGHT_BY_AGREEMENT": "false", "MIN_TRAIN_ROWS": "3",
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
def lambda_context() -> SimpleNamespace:
    return make_context("tandem-finetune-dataset", memory_mb=1024, remaining_ms=600_000)


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        clients.reset()
        dataset_handler.dependencies.reset()
        for name, value in ENVIRONMENT.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=RATINGS_BUCKET)
        s3.create_bucket(Bucket=DATASET_BUCKET)

        def put_ratings(name: str, *lines: str) -> None:
            s3.put_object(Bucket=RATINGS_BUCKET, Key=f"{RATINGS_PREFIX}{name}", Body="\n".join(lines).encode())

        def read(key: str) -> bytes:
            return s3.get_object(Bucket=DATASET_BUCKET, Key=key)["Body"].read()

        def keys() -> list[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=DATASET_BUCKET)
            return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))

        yield SimpleNamespace(s3=s3, put_ratings=put_ratings, read=read, keys=keys)
        clients.reset()
        dataset_handler.dependencies.reset()


@pytest.fixture
def invoke(aws, lambda_context) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def call(request: Any) -> dict[str, Any]:
        result = dataset_handler.handler(request, lambda_context)
        json.dumps(result)  # what Lambda hands to Step Functions must serialise
        return result

    return call


@pytest.fixture
def logs():
    with captured(dataset_handler.logger) as found:
        yield found
