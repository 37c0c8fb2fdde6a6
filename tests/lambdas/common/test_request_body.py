"""How every Tandem API reads a request's body (lambdas/common/request_body.py): base64 when API Gateway
encoded it, UTF-8, a JSON object with no field the request does not take; each refusal a RequestError
naming the field."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.request_body import MAX_ECHOED_NAME_CHARS, body_text, json_body, json_object
from lambdas.common.request_errors import RequestError

EVENT = Path(__file__).parents[2] / "events" / "chat_request.json"
FIELDS = ("message", "session_id")


def event(body: Any, *, encoded: bool = False) -> dict[str, Any]:
    """API Gateway's documented proxy event with `body`; `encoded`: as API Gateway sends a binary body."""
    found: dict[str, Any] = json.loads(EVENT.read_text())
    found["body"], found["isBase64Encoded"] = body, encoded
    return found


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def refusal(call: Any) -> RequestError:
    with pytest.raises(RequestError) as raised:
        call()
    return raised.value


def test_a_json_object_is_read_as_sent():
    read = json_body(event('{"message": "Olá", "session_id": null}'), FIELDS)

    assert read == {"message": "Olá", "session_id": None}


def test_a_base64_encoded_body_is_decoded_as_utf8():
    assert json_body(event(b64('{"message": "Olá"}'.encode()), encoded=True), FIELDS) == {"message": "Olá"}


def test_a_text_body_is_not_base64_decoded():
    # "e30=" is base64 for "{}"; sent as text it is just the four characters, and not JSON.
    assert body_text(event("e30=")) == "e30="
    assert body_text(event("e30=", encoded=True)) == "{}"


@pytest.mark.parametrize(("body", "encoded", "message"), [
    ("!!! not base64 !!!", True, "is not valid base64-encoded UTF-8"),
    (b64(b"\xff\xfe{}"), True, "is not valid base64-encoded UTF-8"),  # base64, but not UTF-8
    ("{not json", False, "is not valid JSON"),
    ('{"message": ' + "[" * 100_000 + "]" * 100_000 + "}", False, "is not valid JSON"),  # deeper than the stack
    ('{"message": ' + "1" * 5_000 + "}", False, "is not valid JSON"),  # a longer integer than Python converts
    ("[1, 2]", False, "must be a JSON object"),
    ('"just a string"', False, "must be a JSON object"),
    ("null", False, "must be a JSON object"),
    (b64(b"[]"), True, "must be a JSON object"),
    (42, False, "must be text"),
], ids=["bad-base64", "not-utf8", "not-json", "too-deep", "huge-integer", "list", "string", "null",
        "base64-list", "not-text"])
def test_a_malformed_body_is_refused_naming_the_body(body, encoded, message):
    error = refusal(lambda: json_body(event(body, encoded=encoded), FIELDS))

    assert (error.field, error.message, error.status) == ("body", message, 400)


def test_an_unknown_field_is_named_with_the_fields_the_request_takes():
    error = refusal(lambda: json_body(event('{"message": "hi", "user": "admin", "zz": 1}'), FIELDS))

    assert (error.field, error.status) == ("user", 400)
    assert error.message == "is not a known field (accepted: message, session_id)"


def test_a_request_that_takes_no_fields_says_so():
    error = refusal(lambda: json_body(event('{"value": 3}'), ()))

    assert (error.field, error.message) == ("value", "is not a known field (this request takes none)")


def test_an_unknown_fields_name_is_echoed_short_and_writable():
    long_name = refusal(lambda: json_body(event(json.dumps({"x" * 10_000: 1})), FIELDS))
    surrogate = refusal(lambda: json_body(event('{"a\\ud800b": 1}'), FIELDS))

    assert long_name.field == "x" * MAX_ECHOED_NAME_CHARS
    assert surrogate.field == "a?b"
    surrogate.field.encode("utf-8")


@pytest.mark.parametrize(("body", "encoded"), [(None, False), ("", False), ("  \n", False), ("", True),
                                              (b64(b" \n"), True)],
                         ids=["none", "empty", "white-space", "base64-empty", "base64-white-space"])
def test_no_body_is_no_fields_or_refused_when_one_is_required(body, encoded):
    assert json_body(event(body, encoded=encoded), FIELDS) == {}

    error = refusal(lambda: json_body(event(body, encoded=encoded), FIELDS, required="a JSON object with a 'message'"))

    assert (error.field, error.message) == ("body", "a JSON object with a 'message' is required")


def test_without_allowed_fields_any_field_is_read():
    assert json_object('{"anything": 1, "else": [2]}') == {"anything": 1, "else": [2]}
