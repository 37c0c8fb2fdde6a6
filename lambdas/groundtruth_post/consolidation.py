"""Annotation consolidation: one Ground Truth payload file in, one consolidated entry per data object out.

Pure module (no boto3): the handler hands in the payload as a binary file object (the S3 body, unread), the
job's input manifest (a `Manifest`: manifest_index.ManifestIndex) and a `fetch` callable for the `s3Uri`
forms. The payload is parsed with ijson, one data object at a time (`ijson.items(file, "item")`), so memory
holds the object being consolidated and the answers, never the file or all of its objects. ijson uses its C
backend (yajl2_c; the wheel exists for Lambda's cp314 manylinux aarch64) and falls back on its own to the
pure-Python one. The C backend cannot decode a lone low-surrogate escape ("\\udc00") in the payload's own
strings; iter_objects raises UndecodableText then, and the handler parses the batch again in pure Python.

A data object is what Ground Truth sends of the manifest line: `{"content": <the line's source>}` or
`{"s3Uri": <its source-ref>}`, nothing else (docs/ground-truth.md). Its labeling item comes from the job's
input manifest line with exactly that value (feedback.manifest_item, the pre-annotation Lambda's rules).

A worker's answer (annotationData.content, a JSON string) is what groundtruth_templates/ submits:
    {"relevance": {"label": "1".."5"}, "comment": "<free text, optional>"}
`comment` is the name of the template's free-text field; a missing or empty comment is "".

The consolidated content, under the job's labelAttributeName:
    {"rating": <median, may be a half>, "mean": <mean, 4 decimals>, "agreement": <share of the workers who
     gave the most common value, 4 decimals>, "workerCount": <annotations received>,
     "workers": [{"workerId", "label": <the raw label string>, "comment"} or {"workerId", "error"}]}
A worker whose answer is malformed (not JSON, nested too deeply to parse, no valid label, a comment that is
not valid Unicode, ...) stays in `workers` with an `error`, and the others are consolidated. An object that
cannot be consolidated (no valid answer, an empty annotations list, a data object not in the job's input
manifest or on two of its lines, a line that is not a labeling item, ...) is an error entry,
{"error": <reason>, "workerCount", "workers"}: never dropped, never a failure of the batch, and never a
rating record. Nothing in an entry or a record holds a lone surrogate (it could not be written as UTF-8).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterator, Protocol

import ijson

from lambdas.common.feedback import (
    MAX_RATING,
    MIN_RATING,
    LabelingItem,
    RatingRecord,
    UnreadableItem,
    WorkerRating,
    is_unicode,
    manifest_item,
)
from lambdas.groundtruth_post.manifest_index import ManifestLookupError

BACKEND = ijson.backend  # "yajl2_c" where the C extension loads, else "python"
_PURE_PYTHON = ijson.get_backend("python")
COMMENT_FIELD = "comment"
_LABELS = {str(v): v for v in range(MIN_RATING, MAX_RATING + 1)}
MAX_COMMENT_CHARS = 5_000  # a comment longer than this is cut: it goes to the output manifest and to training

Fetch = Callable[[str], bytes]  # s3://bucket/key -> the object's bytes; raises on any failure


class ObjectError(ValueError):
    """Why one data object (or one worker's answer) could not be used; becomes an error entry."""


class UndecodableText(ValueError):
    """The C parser met a string escape it cannot decode; the pure-Python parser can (iter_objects)."""


class Manifest(Protocol):
    def find(self, kind: str, value: str) -> dict[str, Any]:
        """The manifest line whose `kind` ("source" or "source-ref") is `value`; ManifestLookupError if none."""


@dataclass(frozen=True)
class Consolidated:
    entry: dict[str, Any]  # the response entry for Ground Truth
    record: RatingRecord | None  # None for an error entry


def iter_objects(payload: IO[bytes], *, pure_python: bool = False) -> Iterator[Any]:
    """The payload file's array items, one at a time (a binary file object: an S3 StreamingBody or a file)."""
    backend = _PURE_PYTHON if pure_python else ijson
    try:
        yield from backend.items(payload, "item", use_float=True)
    except UnicodeDecodeError:
        if pure_python:  # bytes that are not UTF-8: the payload itself is broken
            raise
        # yajl2_c turns a lone "\udc00" escape into bytes Python will not decode; the text is still JSON.
        raise UndecodableText("the payload holds a string escape the C parser cannot decode") from None


def _failure(error: Exception) -> str:
    """A read failure's name for an error entry: botocore's error code, else the exception's type."""
    return getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__


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
            raise ObjectError(f"{what}.s3Uri could not be read ({_failure(error)})") from None
    else:
        raise ObjectError(f"{what} has neither content nor s3Uri")
    try:
        return json.loads(text)
    except ValueError:  # UnicodeDecodeError is one
        raise ObjectError(f"{what} is not JSON") from None
    except RecursionError:
        raise ObjectError(f"{what} is nested too deeply to read") from None


def _shown(label: Any) -> str:
    """A rejected label for an error message: at most 20 characters, lone surrogates escaped by repr."""
    if isinstance(label, (list, dict)):
        return f"a JSON {'array' if isinstance(label, list) else 'object'}"  # str() of a deep one recurses
    return repr(str(label)[:20])


def _worker(annotation: Any, fetch: Fetch, worker_ids: dict[str, str]) -> tuple[dict[str, Any], WorkerRating | None]:
    if not isinstance(annotation, dict):
        return {"workerId": "", "error": "annotation must be an object"}, None
    worker_id = annotation.get("workerId")
    if isinstance(worker_id, str) and not is_unicode(worker_id):
        return {"workerId": "", "error": "workerId is not valid Unicode (it holds a lone surrogate)"}, None
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
            raise ObjectError(f"relevance.label must be one of 1-5, not {_shown(label)}")
        comment = answer.get(COMMENT_FIELD, "")
        if comment is None:
            comment = ""
        if not isinstance(comment, str):
            raise ObjectError(f"{COMMENT_FIELD} must be a string")
        if not is_unicode(comment):
            raise ObjectError(f"{COMMENT_FIELD} is not valid Unicode (it holds a lone surrogate)")
    except ObjectError as error:
        return {"workerId": worker_id, "error": str(error)}, None
    comment = comment.strip()[:MAX_COMMENT_CHARS]
    return ({"workerId": worker_id, "label": label, "comment": comment},
            WorkerRating(worker_id=worker_id, value=value, comment=comment))


def _read_object(fetch: Fetch) -> Callable[[str, str], bytes]:
    """feedback.manifest_item's reader of a `source-ref` object, through the handler's fetch."""
    def read(bucket: str, key: str) -> bytes:
        try:
            return fetch(f"s3://{bucket}/{key}")
        except Exception as error:  # noqa: BLE001 (any read failure is this object's error, not the batch's)
            raise UnreadableItem("source-ref", f"could not be read ({_failure(error)})") from None
    return read


def _labeling_item(data_object: Any, manifest: Manifest, fetch: Fetch) -> LabelingItem:
    """The item of the manifest line Ground Truth's data object stands for: the line whose `source` is
    exactly dataObject.content, or whose `source-ref` is exactly dataObject.s3Uri."""
    if not isinstance(data_object, dict):
        raise ObjectError("dataObject must be an object")
    if isinstance(data_object.get("content"), str):
        name, kind, value = "dataObject.content", "source", data_object["content"]
    elif isinstance(data_object.get("s3Uri"), str):
        name, kind, value = "dataObject.s3Uri", "source-ref", data_object["s3Uri"]
    else:
        raise ObjectError("dataObject has neither content nor s3Uri")
    try:
        line = manifest.find(kind, value)
    except ManifestLookupError as error:
        raise ObjectError(f"{name} {error}") from None
    try:
        return manifest_item(line, _read_object(fetch))
    except UnreadableItem as error:
        raise ObjectError(f"the job's input manifest line is not a labeling item ({error})") from None


def _object_id(obj: Any) -> tuple[Any, str | None]:
    """The datasetObjectId to echo, and what is wrong with it. Ground Truth sends strings; a number is
    echoed as given so the entry still matches; anything else could not be written back."""
    value = obj.get("datasetObjectId") if isinstance(obj, dict) else None
    if value is None or value == "":
        return "", "datasetObjectId is missing"
    if isinstance(value, str) and not is_unicode(value):
        return value.encode("utf-8", "backslashreplace").decode("utf-8"), "datasetObjectId is not valid Unicode"
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return value, None
    return "", "datasetObjectId must be a string"


def consolidate(obj: Any, *, label_attribute: str, job_name: str, manifest: Manifest, fetch: Fetch,
                worker_ids: dict[str, str] | None = None) -> Consolidated:
    """One payload item -> its response entry and, when it could be consolidated, its rating record.
    `worker_ids` interns the worker ids of a batch (a few workers rate thousands of objects)."""
    dataset_object_id, id_problem = _object_id(obj)
    worker_ids = {} if worker_ids is None else worker_ids
    annotations = obj.get("annotations") if isinstance(obj, dict) else None
    workers: list[dict[str, Any]] = []
    ratings: list[WorkerRating] = []
    try:
        if not isinstance(obj, dict):
            raise ObjectError("payload item must be an object")
        if id_problem:
            raise ObjectError(id_problem)
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
        item = _labeling_item(obj.get("dataObject"), manifest, fetch)
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
