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

from dataclasses import dataclass
from typing import Any

from lambdas.common.pipeline_request import execution_name, s3_uri


class InvalidRequest(ValueError):
    """The event is not what the gate takes; the message names the field."""


@dataclass(frozen=True)
class GateRequest:
    evaluation_id: str
    answers_uri: str
    metrics_uri: str | None = None


def parse_request(event: Any) -> GateRequest:
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object")
    metrics_uri = s3_uri(event, "metrics_uri", InvalidRequest) if event.get("metrics_uri") is not None else None
    return GateRequest(evaluation_id=execution_name(event, "evaluation_id", InvalidRequest),
                       answers_uri=s3_uri(event, "answers_uri", InvalidRequest), metrics_uri=metrics_uri)
