"""The offline loop's hub formats (ARCHITECTURE.md): the labeling item raters see and the rating record
every rating source writes (Ground Truth's consolidation, the import CLI, ...), which training reads.

Both validate on the way in and name the bad field; both are plain dicts on the wire (JSON Lines). A text
must be valid Unicode: a lone surrogate (which JSON's "\\ud800" escape can carry) cannot be written as
UTF-8, so it would fail whoever writes the item or the record next.

`manifest_item` finds the labeling item of one input-manifest line, by the same rules for the
pre-annotation Lambda (which Ground Truth hands the line) and for the consolidation Lambda (which finds the
line in the job's input manifest), so a line one of them accepts is a line the other accepts.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

RATING_SCHEMA_VERSION = 1
MIN_RATING, MAX_RATING = 1, 5
RATING_SOURCES = ("groundtruth", "import", "console")
# Ground Truth's input manifest limits (AWS-CONTRACTS.md): per object and per attribute, in characters.
MAX_OBJECT_CHARS = 100_000
MAX_ATTRIBUTE_CHARS = 20_000


class FeedbackFormatError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def is_unicode(value: str) -> bool:
    """Whether `value` can be written as UTF-8 (it holds no lone surrogate)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_field(data: Mapping[str, Any], name: str, *, allow_empty: bool = False, max_chars: int | None = None) -> str:
    """`data[name]` as a text the hub formats keep: a string, not blank unless `allow_empty`, valid Unicode,
    and at most `max_chars` characters when that is given. Rating records, labeling items and thumbs
    (lambdas/common/thumbs.py) all check their texts with it."""
    value = data.get(name)
    if not isinstance(value, str):
        raise FeedbackFormatError(name, "must be a string")
    if not allow_empty and not value.strip():
        raise FeedbackFormatError(name, "must not be empty")
    if not is_unicode(value):
        raise FeedbackFormatError(name, "is not valid Unicode (it holds a lone surrogate)")
    if max_chars is not None and len(value) > max_chars:
        raise FeedbackFormatError(name, f"must be at most {max_chars} characters")
    return value


@dataclass(frozen=True)
class Sampling:
    strategy: str
    seed: int | None = None


@dataclass(frozen=True)
class LabelingItem:
    """One line of a Ground Truth input manifest: a bot answer to rate, with the question it answered."""

    source: str  # the text Ground Truth shows and stores (question and answer, for the record)
    session_id: str
    turn_id: str
    question: str
    answer: str
    sampling: Sampling
    sources: tuple[str, ...] = ()  # knowledge-base sources the answer cited, when there were any

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = list(self.sources)
        if not self.sources:
            del data["sources"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabelingItem":
        if not isinstance(data, dict):
            raise FeedbackFormatError("item", "must be a JSON object")
        sampling = data.get("sampling")
        if not isinstance(sampling, dict) or not isinstance(sampling.get("strategy"), str):
            raise FeedbackFormatError("sampling", "must be an object with a strategy")
        sources = data.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise FeedbackFormatError("sources", "must be a list of strings")
        if not all(is_unicode(s) for s in sources):
            raise FeedbackFormatError("sources", "is not valid Unicode (it holds a lone surrogate)")
        return cls(source=text_field(data, "source"), session_id=text_field(data, "session_id"),
                   turn_id=text_field(data, "turn_id"), question=text_field(data, "question"),
                   answer=text_field(data, "answer", allow_empty=True),
                   sampling=Sampling(strategy=sampling["strategy"], seed=sampling.get("seed")),
                   sources=tuple(sources))


# Input-manifest lines ------------------------------------------------------------------------------------

# The fields that make a manifest line an item in itself (the sampler's lines); `source` alone does not.
ITEM_FIELDS = ("session_id", "turn_id", "question", "answer", "sampling")
_S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$", re.DOTALL)

# (bucket, key) -> the object's bytes; raises UnreadableItem when it cannot be read.
ReadObject = Callable[[str, str], bytes]


class UnreadableItem(ValueError):
    """A manifest line holds no usable labeling item. Names the field and the problem, never the text."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


def split_s3_uri(uri: Any) -> tuple[str, str]:
    """(bucket, key) of an s3://bucket/key URI (every reader of one: labeling items, Ground Truth's payloads,
    the evaluation gate's files); ValueError otherwise."""
    match = _S3_URI.fullmatch(uri) if isinstance(uri, str) else None
    if not match:
        raise ValueError("not an s3://bucket/key URI")
    return match.group(1), match.group(2)


def parse_s3_uri(uri: Any) -> tuple[str, str]:
    """split_s3_uri for a labeling item's source-ref."""
    try:
        return split_s3_uri(uri)
    except ValueError:
        raise UnreadableItem("source-ref", "must be an s3://bucket/key URI") from None


def _item(data: Any, field_name: str, default_source: str) -> LabelingItem:
    if not isinstance(data, dict):
        raise UnreadableItem(field_name, "must hold a JSON object")
    if not data.get("source"):
        data = {**data, "source": default_source}
    try:
        return LabelingItem.from_dict(data)
    except FeedbackFormatError as error:
        raise UnreadableItem(error.field, str(error).split(": ", 1)[-1]) from None


def _json(text: str, field_name: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise UnreadableItem(field_name, "is not a labeling item (not valid JSON)") from None


def manifest_item(line: Any, read_object: ReadObject) -> LabelingItem:
    """The labeling item of one input-manifest line; first match wins:
    1. the line itself, when it carries item fields (the sampler writes such lines);
    2. the object at `source-ref`, which holds the item's JSON;
    3. the inline `source`, when it is the item's JSON.
    Anything else raises UnreadableItem."""
    if not isinstance(line, dict):
        raise UnreadableItem("dataObject", "must be a JSON object")
    ref, source = line.get("source-ref"), line.get("source")
    if any(name in line for name in ITEM_FIELDS):
        return _item(line, "dataObject", ref if isinstance(ref, str) else "")
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


@dataclass(frozen=True)
class WorkerRating:
    worker_id: str
    value: int
    comment: str = ""
    better_answer: str = ""  # the answer the rater would have given (Tandem's rating console asks for it)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not self.better_answer:
            del data["better_answer"]
        return data


@dataclass(frozen=True)
class RatingRecord:
    """A consolidated rating of one bot turn. `rating` is the median of the workers' values."""

    session_id: str
    turn_id: str
    question: str
    answer: str
    rating: float
    ratings: tuple[WorkerRating, ...]
    agreement: float  # 0..1: the share of workers who gave the most common value
    source: str
    mean: float | None = None
    labeling_job: str | None = None
    schema_version: int = field(default=RATING_SCHEMA_VERSION)

    def __post_init__(self) -> None:
        validate_rating(self.rating, "rating", allow_half=True)
        if not 0.0 <= self.agreement <= 1.0:
            raise FeedbackFormatError("agreement", "must be from 0 to 1")
        if self.source not in RATING_SOURCES:
            raise FeedbackFormatError("source", f"must be one of {', '.join(RATING_SOURCES)}")
        if not self.ratings:
            raise FeedbackFormatError("ratings", "must hold at least one worker's rating")
        if self.mean is not None and not MIN_RATING <= self.mean <= MAX_RATING:
            raise FeedbackFormatError("mean", f"must be from {MIN_RATING} to {MAX_RATING}")

    @classmethod
    def consolidate(cls, *, session_id: str, turn_id: str, question: str, answer: str,
                    ratings: tuple[WorkerRating, ...], source: str, labeling_job: str | None = None) -> "RatingRecord":
        """Several raters of one answer -> one record: median rating, mean, and agreement = the share of the
        raters who gave the most common value. Every rating source consolidates the same way."""
        if not ratings:
            raise FeedbackFormatError("ratings", "must hold at least one worker's rating")
        values = [r.value for r in ratings]
        return cls(session_id=session_id, turn_id=turn_id, question=question, answer=answer,
                   rating=float(statistics.median(values)), ratings=ratings,
                   agreement=round(Counter(values).most_common(1)[0][1] / len(values), 4), source=source,
                   mean=round(statistics.fmean(values), 4), labeling_job=labeling_job)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratings"] = [r.to_dict() for r in self.ratings]
        return {k: v for k, v in data.items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RatingRecord":
        if not isinstance(data, dict):
            raise FeedbackFormatError("record", "must be a JSON object")
        if data.get("schema_version", RATING_SCHEMA_VERSION) != RATING_SCHEMA_VERSION:
            raise FeedbackFormatError("schema_version", f"must be {RATING_SCHEMA_VERSION}")
        raw = data.get("ratings")
        if not isinstance(raw, list) or not raw:
            raise FeedbackFormatError("ratings", "must be a non-empty list")
        if not all(isinstance(r, dict) for r in raw):
            raise FeedbackFormatError("ratings", "every entry must be an object")
        ratings = tuple(WorkerRating(worker_id=text_field(r, "worker_id"),
                                     value=int(validate_rating(r.get("value"), "value")),
                                     comment=text_field(r, "comment", allow_empty=True) if "comment" in r else "",
                                     better_answer=(text_field(r, "better_answer", allow_empty=True)
                                                    if "better_answer" in r else ""))
                        for r in raw)
        labeling_job = data.get("labeling_job")
        if labeling_job is not None and not isinstance(labeling_job, str):
            raise FeedbackFormatError("labeling_job", "must be a string")
        mean = data.get("mean")
        return cls(session_id=text_field(data, "session_id"), turn_id=text_field(data, "turn_id"),
                   question=text_field(data, "question"), answer=text_field(data, "answer", allow_empty=True),
                   rating=float(validate_rating(data.get("rating"), "rating", allow_half=True)), ratings=ratings,
                   agreement=float(_number(data.get("agreement"), "agreement")), source=text_field(data, "source"),
                   mean=None if mean is None else float(_number(mean, "mean")), labeling_job=labeling_job)


def _number(value: Any, name: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise FeedbackFormatError(name, "must be a number")
    return value


def validate_rating(value: Any, name: str, *, allow_half: bool = False) -> Any:
    """A worker's value is an integer 1..5; a consolidated median may be a half (two middle values)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        raise FeedbackFormatError(name, f"must be a number from {MIN_RATING} to {MAX_RATING}")
    if not MIN_RATING <= value <= MAX_RATING:
        raise FeedbackFormatError(name, f"must be from {MIN_RATING} to {MAX_RATING}, not {value}")
    step = 0.5 if allow_half else 1
    if (value / step) != int(value / step):
        raise FeedbackFormatError(name, f"must be a whole{' or half' if allow_half else ''} number")
    return value
