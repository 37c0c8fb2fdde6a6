"""Fixtures for the pre-annotation Lambda: moto S3 (the labeling bucket: source-ref items and rating
records), its environment, the Lambda context and the lines its logger writes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import boto3
import pytest
from moto import mock_aws

from lambdas.common import clients
from lambdas.groundtruth_pre import handler as pre_handler
from tests.lambda_context import lambda_context as make_context
from tests.log_capture import captured

EVENTS = Path(__file__).resolve().parents[2] / "events"
BUCKET = "tandem-feedback-pre"
RATINGS_PREFIX = "ratings/"


def event(name: str, **data_object: Any) -> dict[str, Any]:
    """tests/events/groundtruth_pre_<name>.json, with dataObject keys replaced (None removes a key)."""
    loaded = json.loads((EVENTS / f"groundtruth_pre_{name}.json").read_text())
    result = copy.deepcopy(loaded)
    for key, value in data_object.items():
        if value is None:
            result["dataObject"].pop(key, None)
        else:
            result["dataObject"][key] = value
    return result


def rating_line(session_id: str, turn_id: str, rating: int = 4) -> str:
    return json.dumps({"schema_version": 1, "session_id": session_id, "turn_id": turn_id, "question": "q",
                       "answer": "a", "rating": rating, "ratings": [{"worker_id": "w1", "value": rating}],
                       "agreement": 1.0, "source": "groundtruth", "mean": rating})


@pytest.fixture
def lambda_context() -> SimpleNamespace:
    return make_context("tandem-groundtruth-pre", memory_mb=256)


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        clients.reset()
        pre_handler.dependencies.reset()
        monkeypatch.setenv("RATINGS_BUCKET", BUCKET)
        monkeypatch.setenv("RATINGS_PREFIX", RATINGS_PREFIX)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield SimpleNamespace(s3=s3)
        clients.reset()
        pre_handler.dependencies.reset()


@pytest.fixture
def invoke(aws, lambda_context) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def call(request: dict[str, Any]) -> dict[str, Any]:
        result = pre_handler.handler(request, lambda_context)
        json.dumps(result)  # what Lambda sends back must serialise
        return result

    return call


@pytest.fixture
def logs():
    with captured(pre_handler.logger) as found:
        yield found
