"""Customers' thumbs: a customer's thumbs up or down, with an optional short comment, on one bot answer.

Three shapes of one thumb, each validated on the way in and naming the bad field:
- `Thumb`, as the sessions table keeps it (the `feedback` attribute of the answer's TURN item, JSON, written by
  the chat API: lambdas/chatbot/thumbs.py) and as the transcript lists it (`Transcript.feedback`, with
  `"kind": "thumb"`, written by the outbox: lambdas/stream_consumer/transcripts.py);
- `ThumbRecord`, the thumb with the question and the answer it judged, as the feedback sampler exports it
  (JSON Lines files under THUMBS_PREFIX of the labeling bucket, one per sampling run) and as the dataset
  builder (lambdas/common/training_data.py) reads it. Rating records (lambdas/common/feedback.py
  RatingRecord) stay the 1-5 ratings of experts; a thumb is never one of them.

A customer's thumb is one per answer (the answer's TURN item holds it): the latest choice wins, and clearing
it removes it. Pure Python, no boto3: the training job ships this module (stacks/constructs/training_code.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.common.feedback import FeedbackFormatError, text_field

THUMBS = ("up", "down")
MAX_COMMENT_CHARS = 500  # a short comment: what a customer types under an answer, not a letter
THUMB_KIND = "thumb"  # its `kind` in a transcript's feedback list
THUMBS_SOURCE = "thumbs"  # a ThumbRecord's `source`, and its KTO rows' (never a rating source)
THUMBS_PREFIX = "thumbs/"  # where the sampler exports ThumbRecord files in the labeling bucket
THUMB_SCHEMA_VERSION = 1


def _thumb(data: dict[str, Any]) -> str:
    value = data.get("thumb")
    if value not in THUMBS:
        raise FeedbackFormatError("thumb", f"must be one of {', '.join(THUMBS)}")
    return str(value)


def _comment(data: dict[str, Any]) -> str:
    if data.get("comment") is None:
        return ""
    return text_field(data, "comment", allow_empty=True, max_chars=MAX_COMMENT_CHARS)


@dataclass(frozen=True)
class Thumb:
    """A customer's thumb on the bot turn `turn_id`, given at `given_at` (transcript.utc_now's format)."""

    turn_id: str
    thumb: str  # "up" | "down"
    given_at: str
    comment: str = ""

    def __post_init__(self) -> None:
        _thumb({"thumb": self.thumb})
        _comment({"comment": self.comment})

    def to_dict(self) -> dict[str, Any]:
        """The transcript's feedback entry (and, without `kind`, what the TURN item keeps)."""
        data: dict[str, Any] = {"kind": THUMB_KIND, "turn_id": self.turn_id, "thumb": self.thumb,
                                "given_at": self.given_at}
        if self.comment:
            data["comment"] = self.comment
        return data

    def customer_view(self) -> dict[str, Any]:
        """What the chat API tells the customer who gave it."""
        return {"thumb": self.thumb, "comment": self.comment, "given_at": self.given_at}

    @classmethod
    def from_dict(cls, data: Any) -> "Thumb":
        if not isinstance(data, dict):
            raise FeedbackFormatError("feedback", "must be a JSON object")
        if data.get("kind", THUMB_KIND) != THUMB_KIND:
            raise FeedbackFormatError("kind", f"must be {THUMB_KIND}")
        return cls(turn_id=text_field(data, "turn_id"), thumb=_thumb(data), given_at=text_field(data, "given_at"),
                   comment=_comment(data))


def is_thumb_entry(entry: Any) -> bool:
    """Whether a transcript feedback entry is a customer's thumb (other kinds may share the list)."""
    return isinstance(entry, dict) and entry.get("kind") == THUMB_KIND


@dataclass(frozen=True)
class ThumbRecord:
    """A customer's thumb on one bot answer, with the question and the answer, for the dataset builder."""

    session_id: str
    turn_id: str
    question: str
    answer: str
    thumb: str
    given_at: str
    comment: str = ""
    source: str = THUMBS_SOURCE
    schema_version: int = THUMB_SCHEMA_VERSION

    def __post_init__(self) -> None:
        _thumb({"thumb": self.thumb})
        _comment({"comment": self.comment})
        if self.source != THUMBS_SOURCE:
            raise FeedbackFormatError("source", f"must be {THUMBS_SOURCE}")

    @property
    def label(self) -> bool:
        """The KTO label: a thumbs up is a desirable answer, a thumbs down an undesirable one."""
        return self.thumb == "up"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema_version": self.schema_version, "session_id": self.session_id,
                                "turn_id": self.turn_id, "question": self.question, "answer": self.answer,
                                "thumb": self.thumb, "given_at": self.given_at, "source": self.source}
        if self.comment:
            data["comment"] = self.comment
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "ThumbRecord":
        if not isinstance(data, dict):
            raise FeedbackFormatError("record", "must be a JSON object")
        if data.get("schema_version", THUMB_SCHEMA_VERSION) != THUMB_SCHEMA_VERSION:
            raise FeedbackFormatError("schema_version", f"must be {THUMB_SCHEMA_VERSION}")
        if data.get("source") != THUMBS_SOURCE:
            raise FeedbackFormatError("source", f"must be {THUMBS_SOURCE}")
        return cls(session_id=text_field(data, "session_id"), turn_id=text_field(data, "turn_id"),
                   question=text_field(data, "question"), answer=text_field(data, "answer", allow_empty=True),
                   thumb=_thumb(data), given_at=text_field(data, "given_at"), comment=_comment(data))
