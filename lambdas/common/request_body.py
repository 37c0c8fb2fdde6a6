"""The body of a request to a Tandem API, read from the API Gateway event (REST, Lambda proxy integration).

API Gateway hands a body over as text, or base64-encoded with `isBase64Encoded` when it treats it as binary
(a binary media type; the local runtime does the same for bytes that are not UTF-8: local/gateway.py). Every
API reads it here, so a body is refused the same way in all of them: a RequestError naming `body` (400) when
it is not base64, not UTF-8, not JSON or not a JSON object, and one naming the field when it holds a field
the request does not take (a misspelt `coment` is named rather than silently dropped). What each field must
hold is the API's own rule, checked where the API parses its request.

No size bound here: API Gateway refuses a payload over 10 MB and Lambda one over 6 MB before the function
runs, and each API bounds the texts it keeps. Pure Python: nothing here touches AWS.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Collection, Mapping

from lambdas.common.request_errors import RequestError

MAX_ECHOED_NAME_CHARS = 40  # an unknown field's name is echoed in the answer: a request cannot make it long


def body_text(event: Mapping[str, Any]) -> str:
    """The body as text, "" for none: base64-decoded when API Gateway encoded it, and UTF-8."""
    body = event.get("body")
    if body is None:
        return ""
    if not isinstance(body, str):
        raise RequestError("body", "must be text")
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise RequestError("body", "is not valid base64-encoded UTF-8") from None


def json_object(text: str, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """`text` as a JSON object; with `allowed`, one holding no field but those."""
    try:
        data = json.loads(text)
    # ValueError covers JSONDecodeError and an integer longer than Python converts (4,300 digits);
    # RecursionError, nesting deeper than Python's stack.
    except (ValueError, RecursionError):
        raise RequestError("body", "is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError("body", "must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            accepted = f"accepted: {', '.join(allowed)}" if allowed else "this request takes none"
            raise RequestError(echoed_name(unknown[0]), f"is not a known field ({accepted})")
    return data


def json_body(event: Mapping[str, Any], allowed: Collection[str], *, required: str | None = None) -> dict[str, Any]:
    """The request's body as a JSON object holding no field but `allowed`. No body (or white space only) is an
    empty object, unless `required` says what the body must be: then it is a RequestError naming `body`."""
    text = body_text(event)
    if not text.strip():
        if required:
            raise RequestError("body", f"{required} is required")
        return {}
    return json_object(text, allowed)


def echoed_name(name: str) -> str:
    """A field's name as an error answer may repeat it: cut short, and writable as UTF-8 (JSON can name a field
    with a lone surrogate, "\\ud800", which no response can carry)."""
    return name[:MAX_ECHOED_NAME_CHARS].encode("utf-8", "replace").decode("utf-8")
