"""Annotation consolidation: one Ground Truth payload file in, one consolidated entry per data object out.

Pure module (no boto3): the handler hands in the payload as a binary file object (the S3 body, unread) and
a `fetch` callable for the `s3Uri` forms. The payload is parsed with ijson, one data object at a time
(`ijson.items(file, "item")`), so memory holds the object being consolidated and the answers, never the
file or all of its objects. ijson uses its C backend (yajl2_c; the wheel exists for Lambda's cp314
manylinux aarch64) and falls back on its own to the pure-Python one.

A worker's answer (annotationData.content, a JSON string) is what groundtruth_templates/ submits:
    {"relevance": {"label": "1".."5"}, "comment": "<free text, optional>"}
`comment` is the name of the template's free-text field; a missing or empty comment is "".

The consolidated content, under the job's labelAttributeName:
    {"rating": <median, may be a half>, "mean": <mean, 4 decimals>, "agreement": <share of the workers who
     gave the most common value, 4 decimals>, "workerCount": <annotations received>,
     "workers": [{"workerId", "label": <the raw label string>, "comment"} or {"workerId", "error"}]}
A worker whose answer is malformed stays in `workers` with an `error`, and the others are consolidated.
An object that cannot be consolidated (no valid answer, an empty annotations list, a data object that is
not a labeling item, ...) is an error entry, {"error": <reason>, "workerCount", "workers"}: never dropped,
never a failure of the batch, and never a rating record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator

import ijson

from lambdas.common.feedback import (MAX_RATING, MIN_RATING, FeedbackFormatError, LabelingItem, RatingRecord,
                                     WorkerRating)

BACKEND = ijson.backend  # "yajl2_c" where the C extension loads, else "python"
COMMENT_FIELD = "comment"
_LABELS = {str(v): v for v in range(MIN_RATING, MAX_RATING + 1)}
MAX_COMMENT_CHARS = 5_000  # a comment longer than this is cut: it goes to the output manifest and to training

Fetch = Callable[[str], bytes]  # s3://bucket/key -> the object's bytes; raises on any failure


class ObjectError(ValueError):
    """Why one data object (or one worker's answer) could not be used; becomes an error entry."""


@dataclass(frozen=True)
class Consolidated:
    entry: dict[str, Any]  # the response entry for Ground Truth
    record: RatingRecord | None  # None for an error entry


def iter_objects(payload: IO[bytes]) -> Iterator[Any]:
    """The payload file's array items, one at a time (a binary file object: an S3 StreamingBody or a file)."""
    return ijson.items(payload, "item", use_float=True)


def _read_json(holder: Any, what: str, fetch: Fetch) -> Any:
    """The JSON of a {"content": "<json>"} or {"s3Uri": "s3://..."} holder (annotationData, dataObject)."""
    if not isinstance(holder, dict):
        raise ObjectError(f"{what} must be an object")
    if isinstance(holder.get("content"), str):
        text: str | bytes = holder["content"]
    elif isinstance(holder.get("s3Uri"), str):
        try:
            text = fetch(holder["s3Uri"])
        except Exception as error:  # noqa: BLE001 (any read failure is this object's error, not the batch's)
            code = getattr(error, "response", {}).get("Error", {}).get("Code")  # botocore's ClientError
            raise ObjectError(f"{what}.s3Uri could not be read ({code or type(error).__name__})") from None
    else:
        raise ObjectError(f"{what} has neither content nor s3Uri")
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ObjectError(f"{what} is not JSON") from None


def _worker(annotation: Any, fetch: Fetch, worker_ids: dict[str, str]) -> tuple[dict[str, Any], WorkerRating | None]:
    if not isinstance(annotation, dict):
        return {"workerId": "", "error": "annotation must be an object"}, None
    worker_id = annotation.get("workerId")
    worker_id = worker_ids.setdefault(worker_id, worker_id) if isinstance(worker_id, str) and worker_id else ""
    try:
        if not worker_id:
            raise ObjectError("workerId is missing")
        answer = _read_json(annotation.get("annotationData"), "annotationData", fetch)
        relevance = answer.get("relevance") if isinstance(answer, dict) else None
        label = relevance.get("label") if isinstance(relevance, dict) else None
        if label is None:
            raise ObjectError("relevance.label is missing")
        value = _LABELS.get(label) if isinstance(label, str) else None
        if value is None:
            raise ObjectError(f"relevance.label must be one of 1-5, not {str(label)[:20]!r}")
        comment = answer.get(COMMENT_FIELD, "")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise ObjectError(f"{COMMENT_FIELD} must be a string")
    except ObjectError as error:
        return {"workerId": worker_id, "error": str(error)}, None
    comment = comment.strip()[:MAX_COMMENT_CHARS]
    return ({"workerId": worker_id, "label": label, "comment": comment},
            WorkerRating(worker_id=worker_id, value=value, comment=comment))


def _labeling_item(data_object: Any, fetch: Fetch) -> LabelingItem:
    content = _read_json(data_object, "dataObject", fetch)
    try:
        return LabelingItem.from_dict(content)
    except FeedbackFormatError as error:
        raise ObjectError(f"dataObject is not a labeling item ({error})") from None


def consolidate(obj: Any, *, label_attribute: str, job_name: str, fetch: Fetch,
                worker_ids: dict[str, str] | None = None) -> Consolidated:
    """One payload item -> its response entry and, when it could be consolidated, its rating record.
    `worker_ids` interns the worker ids of a batch (a few workers rate thousands of objects)."""
    dataset_object_id = obj.get("datasetObjectId") if isinstance(obj, dict) else None
    if not isinstance(dataset_object_id, str):
        # Ground Truth sends strings; anything else is echoed as given so the entry still matches.
        dataset_object_id = "" if dataset_object_id is None else dataset_object_id
    worker_ids = {} if worker_ids is None else worker_ids
    annotations = obj.get("annotations") if isinstance(obj, dict) else None
    workers: list[dict[str, Any]] = []
    ratings: list[WorkerRating] = []
    try:
        if not isinstance(obj, dict):
            raise ObjectError("payload item must be an object")
        if dataset_object_id == "":
            raise ObjectError("datasetObjectId is missing")
        if not isinstance(annotations, list):
            raise ObjectError("annotations must be a list")
        for annotation in annotations:
            worker, rating = _worker(annotation, fetch, worker_ids)
            workers.append(worker)
            if rating is not None:
                ratings.append(rating)
        if not annotations:
            raise ObjectError("annotations is empty")
        if not ratings:
            raise ObjectError("no worker gave a valid answer")
        item = _labeling_item(obj.get("dataObject"), fetch)
        record = RatingRecord.consolidate(session_id=item.session_id, turn_id=item.turn_id, question=item.question,
                                          answer=item.answer, ratings=tuple(ratings), source="groundtruth",
                                          labeling_job=job_name)
    except ObjectError as error:
        content = {"error": str(error), "workerCount": len(annotations) if isinstance(annotations, list) else 0,
                   "workers": workers}
        return Consolidated(_entry(dataset_object_id, label_attribute, content), None)
    content = {"rating": record.rating, "mean": record.mean, "agreement": record.agreement,
               "workerCount": len(annotations), "workers": workers}
    return Consolidated(_entry(dataset_object_id, label_attribute, content), record)


def _entry(dataset_object_id: Any, label_attribute: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"datasetObjectId": dataset_object_id, "consolidatedAnnotation": {"content": {label_attribute: content}}}
