"""From a Ground Truth pre-annotation request to the task input the template shows (pure: no AWS here).

Request (AWS-CONTRACTS.md), one input-manifest line in `dataObject`, extra keys passed through:
    {"version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:...:labeling-job/<name>",
     "dataObject": {"source": "<inline text>", ...}}        # or {"source-ref": "s3://bucket/key", ...}
The handler finds the labeling item with lambdas/common/feedback.manifest_item (the line itself, the
object at its `source-ref`, or its `source` when that is the item's JSON), the rules the consolidation
Lambda applies to the same line; an UnreadableItem names the field and the problem, never the text
(customer text stays out of the logs). An item a rater cannot use (unreadable, no question, an empty
answer) needs no human: Ground Truth then shows it to nobody.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from lambdas.common.feedback import LabelingItem

GT_REQUEST_VERSION = "2018-10-16"
ERROR_MESSAGE = "This item could not be read; please skip it."
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class PreRequest:
    version: str | None
    labeling_job_arn: str | None
    data_object: Any  # checked by feedback.manifest_item(), so that a bad one still gets an answer

    @property
    def job_name(self) -> str:
        """The labeling job's name (the ARN's last part), for the logs."""
        arn = self.labeling_job_arn or ""
        name = arn.rsplit("/", 1)[-1] if "/" in arn else ""
        return name if _SAFE_KEY.fullmatch(name) else "unknown"


@dataclass(frozen=True)
class Decision:
    task_input: dict[str, Any]
    human_required: bool
    outcome: str  # human_required | empty_answer | already_rated | unreadable


def parse_request(event: Any) -> PreRequest:
    if not isinstance(event, dict):
        return PreRequest(version=None, labeling_job_arn=None, data_object=None)
    version, arn = event.get("version"), event.get("labelingJobArn")
    return PreRequest(version=version if isinstance(version, str) else None,
                      labeling_job_arn=arn if isinstance(arn, str) else None, data_object=event.get("dataObject"))


def task_input(item: LabelingItem) -> dict[str, Any]:
    """What the template reads as task.input.* (groundtruth_templates/relevance.liquid.html)."""
    return {"question": item.question, "answer": item.answer, "sources": list(item.sources)}


def error_task_input() -> dict[str, Any]:
    """The task input of an item no rater sees (isHumanAnnotationRequired false): no customer text, and
    the template still renders it should it ever be shown."""
    return {"question": "", "answer": "", "sources": [], "error": ERROR_MESSAGE}


def decide(item: LabelingItem, already_rated: Callable[[str, str], bool]) -> Decision:
    """Whether the item needs a rater: not for an empty answer (nothing to rate) nor for a turn a rating
    record already covers (a duplicate across jobs or samples)."""
    shown = task_input(item)
    if not item.answer.strip():
        return Decision(shown, human_required=False, outcome="empty_answer")
    if already_rated(item.session_id, item.turn_id):
        return Decision(shown, human_required=False, outcome="already_rated")
    return Decision(shown, human_required=True, outcome="human_required")


def response(decision: Decision) -> dict[str, Any]:
    return {"taskInput": decision.task_input, "isHumanAnnotationRequired": decision.human_required}


def safe_keys(data_object: Any) -> list[str]:
    """The data object's key names fit for a log line (names only, never values)."""
    if not isinstance(data_object, dict):
        return []
    return sorted(k for k in data_object if isinstance(k, str) and _SAFE_KEY.fullmatch(k))[:20]

