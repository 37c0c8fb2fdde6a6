"""Chat API request parsing (POST /chat, GET messages, POST feedback). API Gateway validates the body's schema
first; this checks again, because the function must never trust its trigger, and names the offending field in
every error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdas.common.request_body import json_body
from lambdas.common.request_errors import RequestError
from lambdas.common.thumbs import MAX_COMMENT_CHARS, THUMBS
from lambdas.common.transcript import IDENTIFIER

SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_FIELDS = ("session_id", "message")


@dataclass(frozen=True)
class ChatRequest:
    message: str
    session_id: str | None = None


def _unicode(value: str, name: str) -> None:
    try:  # JSON may escape a lone surrogate ("\ud800"): no UTF-8 store can hold it, so it fails at every resend
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(name, "must be valid Unicode text (it contains an unpaired surrogate)") from None


def parse_chat_request(event: dict[str, Any], *, max_message_chars: int) -> ChatRequest:
    data = json_body(event, _FIELDS, required="a JSON object with a 'message'")

    message = data.get("message")
    if message is None:
        raise RequestError("message", "is required")
    if not isinstance(message, str):
        raise RequestError("message", "must be a string")
    if not message.strip():
        raise RequestError("message", "must not be empty")
    _unicode(message, "message")
    if len(message) > max_message_chars:
        raise RequestError("message", f"must be at most {max_message_chars} characters (got {len(message)})")

    session_id = data.get("session_id")
    if session_id is not None:
        if not isinstance(session_id, str):
            raise RequestError("session_id", "must be a string")
        if not SESSION_ID.fullmatch(session_id):
            raise RequestError("session_id", "must be a lowercase UUID v4 returned by an earlier /chat call")
    return ChatRequest(message=message.strip(), session_id=session_id)


TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def parse_messages_request(session_id: str, event: dict[str, Any]) -> tuple[str, str | None]:
    """GET /chat/{session_id}/messages?after=<created_at of the last turn seen>, `session_id` from its path."""
    if not SESSION_ID.fullmatch(session_id):
        raise RequestError("session_id", "must be a lowercase UUID v4 returned by an earlier /chat call")
    after = (event.get("queryStringParameters") or {}).get("after")
    if after is not None and not TIMESTAMP.fullmatch(after):
        raise RequestError("after", "must be a turn's created_at, such as 2026-11-25T01:20:00.123456Z")
    return session_id, after


@dataclass(frozen=True)
class ThumbRequest:
    """POST /chat/{session_id}/feedback: the customer's thumb on one bot answer (None clears it)."""

    session_id: str
    turn_id: str
    thumb: str | None
    comment: str = ""


_THUMB_FIELDS = ("turn_id", "thumb", "comment")


def parse_thumb_request(session_id: str, event: dict[str, Any]) -> ThumbRequest:
    """{"turn_id": "<a bot answer's turn_id>", "thumb": "up" | "down" | null, "comment"?: "<at most
    MAX_COMMENT_CHARS characters>"}; null clears the thumb (and takes no comment)."""
    if not SESSION_ID.fullmatch(session_id):
        raise RequestError("session_id", "must be a lowercase UUID v4 returned by an earlier /chat call")
    data = json_body(event, _THUMB_FIELDS, required="a JSON object with a 'turn_id' and a 'thumb'")
    turn_id = data.get("turn_id")
    if turn_id is None:
        raise RequestError("turn_id", "is required")
    if not isinstance(turn_id, str) or not IDENTIFIER.fullmatch(turn_id):
        raise RequestError("turn_id", "must be the turn_id of one of the assistant's answers")
    if "thumb" not in data:
        raise RequestError("thumb", "is required: up, down, or null to take the thumb back")
    thumb = data["thumb"]
    if thumb is not None and thumb not in THUMBS:
        raise RequestError("thumb", "must be up, down, or null to take the thumb back")
    comment = data.get("comment")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise RequestError("comment", "must be a string")
    _unicode(comment, "comment")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_CHARS:
        raise RequestError("comment", f"must be at most {MAX_COMMENT_CHARS} characters (got {len(comment)})")
    if thumb is None and comment:
        raise RequestError("comment", "goes with a thumb: taking the thumb back takes no comment")
    return ThumbRequest(session_id=session_id, turn_id=turn_id, thumb=thumb, comment=comment)


def customer_id(event: dict[str, Any]) -> str:
    """The caller's Cognito `sub`, put there by the API's authorizer; sessions belong to it."""
    try:
        sub = event["requestContext"]["authorizer"]["claims"]["sub"]
    except (KeyError, TypeError):
        sub = None
    if not isinstance(sub, str) or not sub:
        raise RequestError("authorization", "no authenticated caller in the request", status=401)
    return sub
