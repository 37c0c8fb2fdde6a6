"""From a Ground Truth pre-annotation request to the task input the template shows (pure: no AWS here).

Request (AWS-CONTRACTS.md), one input-manifest line in `dataObject`, extra keys passed through:
    {"version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:...:labeling-job/<name>",
     "dataObject": {"source": "<inline text>", ...}}        # or {"source-ref": "s3://bucket/key", ...}
Where the labeling item (lambdas/common/feedback.py) is found, first match wins:
1. the data object itself, when it carries item fields (the sampler's manifest lines are LabelingItem dicts);
2. the object at `source-ref`, which holds the item's JSON;
3. the inline `source`, when it is the item's JSON.
Anything else is an UnreadableItem: it names the field and the problem, never the text (customer text stays
out of the logs), and the rater is shown ERROR_MESSAGE instead of a crash that could fail the job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from lambdas.common.feedback import FeedbackFormatError, LabelingItem

GT_REQUEST_VERSION = "2018-10-16"
ERROR_MESSAGE = "This item could not be read; please skip it."
# The fields that make a data object an item in itself (rule 1); `source` alone does not.
ITEM_FIELDS = ("session_id", "turn_id", "question", "answer", "sampling")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$", re.DOTALL)
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# (bucket, key) -> the object's bytes; raises UnreadableItem when it cannot be read.
ReadObject = Callable[[str, str], bytes]


class UnreadableItem(ValueError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class PreRequest:
    version: str | None
    labeling_job_arn: str | None
    data_object: Any  # checked by labeling_item(), so that a bad one still gets an answer

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


def parse_s3_uri(uri: Any) -> tuple[str, str]:
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match:
        raise UnreadableItem("source-ref", "must be an s3://bucket/key URI")
    return match.group(1), match.group(2)


def _item(data: Any, field: str, default_source: str) -> LabelingItem:
    if not isinstance(data, dict):
        raise UnreadableItem(field, "must hold a JSON object")
    if not data.get("source"):
        data = {**data, "source": default_source}
    try:
        return LabelingItem.from_dict(data)
    except FeedbackFormatError as error:
        raise UnreadableItem(error.field, str(error).split(": ", 1)[-1]) from None


def _json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise UnreadableItem(field, "is not a labeling item (not valid JSON)") from None


def labeling_item(data_object: Any, read_object: ReadObject) -> LabelingItem:
    if not isinstance(data_object, dict):
        raise UnreadableItem("dataObject", "must be a JSON object")
    ref, source = data_object.get("source-ref"), data_object.get("source")
    if any(name in data_object for name in ITEM_FIELDS):
        return _item(data_object, "dataObject", ref if isinstance(ref, str) else "")
    if ref is not None:
        raw = read_object(*parse_s3_uri(ref))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise UnreadableItem("source-ref", "is not UTF-8 text") from None
        return _item(_json(text, "source-ref"), "source-ref", ref)
    if source is None:
        raise UnreadableItem("dataObject", "has neither source nor source-ref")
    if not isinstance(source, str):
        raise UnreadableItem("source", "must be a string")
    return _item(_json(source, "source"), "source", source)


def task_input(item: LabelingItem) -> dict[str, Any]:
    """What the template reads as task.input.* (groundtruth_templates/relevance.liquid.html)."""
    return {"question": item.question, "answer": item.answer, "sources": list(item.sources)}


def error_task_input() -> dict[str, Any]:
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

