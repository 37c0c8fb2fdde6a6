"""POST /chat request parsing. API Gateway validates the body's schema first; this checks again, because
the function must never trust its trigger, and names the offending field in every error."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from lambdas.common.request_errors import RequestError

SESSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_FIELDS = ("session_id", "message")


@dataclass(frozen=True)
class ChatRequest:
    message: str
    session_id: str | None = None


def parse_chat_request(event: dict[str, Any], *, max_message_chars: int) -> ChatRequest:
    body = event.get("body")
    if body is None or body == "":
        raise RequestError("body", "a JSON object with a 'message' is required")
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise RequestError("body", "is not valid base64-encoded UTF-8") from None
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, TypeError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise RequestError("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("body", "must be a JSON object")
    unknown = sorted(set(data) - set(_FIELDS))
    if unknown:
        # The name is echoed back, so it is cut short: a request cannot make the error arbitrarily large.
        raise RequestError(unknown[0][:40], f"is not a known field (accepted: {', '.join(_FIELDS)})")

    message = data.get("message")
    if message is None:
        raise RequestError("message", "is required")
    if not isinstance(message, str):
        raise RequestError("message", "must be a string")
    if not message.strip():
        raise RequestError("message", "must not be empty")
    try:  # JSON may escape a lone surrogate ("\ud800"): no UTF-8 store can hold it, so it fails at every resend
        message.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError("message", "must be valid Unicode text (it contains an unpaired surrogate)") from None
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


def customer_id(event: dict[str, Any]) -> str:
    """The caller's Cognito `sub`, put there by the API's authorizer; sessions belong to it."""
    try:
        sub = event["requestContext"]["authorizer"]["claims"]["sub"]
    except (KeyError, TypeError):
        sub = None
    if not isinstance(sub, str) or not sub:
        raise RequestError("authorization", "no authenticated caller in the request", status=401)
    return sub
