"""What the pipeline sends the gate, checked before any work:

    {"evaluation_id": "<the pipeline's execution name>",
     "answers_uri": "s3://<bucket>/<key>",      the answers file (lambdas/finetune_gate/answers.py), plain JSON Lines
     "metrics_uri": "s3://<bucket>/<key>"}      optional: the training job's metrics.json, a JSON object whose
                                                "checks" ({"passed", "failures"}) the gate takes and whose "eval"
                                                (the held-out margin) the report shows

The report is written under <REPORT_PREFIX><evaluation_id>/, so the id takes the pipeline's execution names
only (letters, digits and hyphens), which cannot climb out of the prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdas.common.env_settings import S3_URI, Rejected

EVALUATION_ID = re.compile(r"^[A-Za-z0-9](?:-*[A-Za-z0-9]){0,79}$")


class InvalidRequest(ValueError):
    """The event is not what the gate takes; the message names the field."""


@dataclass(frozen=True)
class GateRequest:
    evaluation_id: str
    answers_uri: str
    metrics_uri: str | None = None


def _uri(event: dict[str, Any], name: str) -> str:
    value = event.get(name)
    try:
        return S3_URI.parse(value if isinstance(value, str) else "")  # not a string: refused as a blank one
    except Rejected as rejected:
        raise InvalidRequest(f"{name} must be {rejected.accepted}") from None


def parse_request(event: Any) -> GateRequest:
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object")
    evaluation_id = event.get("evaluation_id")
    if not isinstance(evaluation_id, str) or not EVALUATION_ID.fullmatch(evaluation_id):
        raise InvalidRequest("evaluation_id (the pipeline's execution name) must be 1 to 80 letters, digits and "
                             "hyphens, starting and ending with a letter or digit")
    metrics_uri = _uri(event, "metrics_uri") if event.get("metrics_uri") is not None else None
    return GateRequest(evaluation_id=evaluation_id, answers_uri=_uri(event, "answers_uri"), metrics_uri=metrics_uri)
