"""Fixtures for the pre-annotation Lambda: moto S3 (the labeling bucket: source-ref items and rating
records) and its environment; the context, `invoke` and `logs` are tests/conftest.py's."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

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
def aws(aws, set_environment):
    """The labeling bucket the function reads rating records from, and its environment."""
    set_environment({"RATINGS_BUCKET": BUCKET, "RATINGS_PREFIX": RATINGS_PREFIX})
    aws.create("labeling_bucket", BUCKET)
    return aws
