"""Bad requests are answered 4xx with the offending field named, and nothing is written or asked of Bedrock.

The `bedrock` fixture has nothing queued: a request that reached the model would get an apology and be
stored, which the empty table and bucket rule out.
"""

from __future__ import annotations

import base64
import json

import pytest

from lambdas.chatbot import handler as chatbot_handler
from lambdas.chatbot.request import RequestError, parse_chat_request
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.conftest import CUSTOMER, chat_event
from tests.lambdas.chatbot.helpers import assert_nothing_written, bucket_keys, items, transcript

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

SESSION_ID = "3f2b8c1e-9d4a-4e6b-8f1a-2c3d4e5f6a7b"


def call(event, lambda_context):
    result = chatbot_handler.handler(event, lambda_context)
    return result["statusCode"], json.loads(result["body"])


def with_body(body, *, base64_encoded: bool = False):
    event = chat_event(raw_body="")
    event["body"] = body
    event["isBase64Encoded"] = base64_encoded
    return event


@pytest.mark.parametrize(("event", "field"), [
    (with_body(None), "body"),
    (with_body(""), "body"),
    (with_body("{not json"), "body"),
    (with_body('"just a string"'), "body"),
    (with_body("[1, 2]"), "body"),
    (with_body("null"), "body"),
    (with_body("{}"), "message"),
    (with_body('{"session_id": "%s"}' % SESSION_ID), "message"),
    (with_body('{"message": null}'), "message"),
    (with_body('{"message": ""}'), "message"),
    (with_body('{"message": "   \\n\\t "}'), "message"),
    (with_body('{"message": 42}'), "message"),
    (with_body('{"message": ["hi"]}'), "message"),
    (with_body('{"message": {"text": "hi"}}'), "message"),
    (with_body('{"message": true}'), "message"),
    (with_body('{"message": "hi \\ud800 there"}'), "message"),  # a lone surrogate cannot be stored as UTF-8
    (with_body('{"message": "hi", "user": "admin"}'), "user"),
    (with_body('{"message": "hi", "session_id": 12}'), "session_id"),
    (with_body('{"message": "hi", "session_id": ["%s"]}' % SESSION_ID), "session_id"),
    (with_body('{"message": "hi", "session_id": "not-a-session"}'), "session_id"),
    (with_body('{"message": "hi", "session_id": "%s"}' % SESSION_ID.upper()), "session_id"),
    (with_body('{"message": "hi", "session_id": "%s "}' % SESSION_ID), "session_id"),
    (with_body('{"message": "hi", "session_id": "%s\\n"}' % SESSION_ID), "session_id"),
    (with_body('{"message": ' + "[" * 100_000 + "]" * 100_000 + "}"), "body"),
    (with_body('{"message": "hi", "session_id": "3f2b8c1e-9d4a-1e6b-8f1a-2c3d4e5f6a7b"}'), "session_id"),  # v1
    (with_body("!!! not base64 !!!", base64_encoded=True), "body"),
    (with_body(base64.b64encode(b"\xff\xfe{}").decode(), base64_encoded=True), "body"),  # not UTF-8
    (with_body(base64.b64encode(b"[]").decode(), base64_encoded=True), "body"),
], ids=[
    "no-body", "empty-body", "invalid-json", "json-string", "json-list", "json-null", "empty-object",
    "only-session-id", "message-null", "message-empty", "message-whitespace", "message-number", "message-list",
    "message-object", "message-bool", "message-lone-surrogate", "unknown-field", "session-id-number",
    "session-id-list", "session-id-malformed", "session-id-uppercase", "session-id-trailing-space",
    "session-id-trailing-newline", "deeply-nested-json", "session-id-not-v4", "base64-invalid", "base64-not-utf8", "base64-json-list",
])
def test_bad_requests_answer_400_naming_the_field_and_write_nothing(aws, bedrock, configure, lambda_context,
                                                                    event, field):
    status, body = call(event, lambda_context)

    assert status == 400
    assert body["error"]["field"] == field
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert_nothing_written(aws)


def test_a_message_over_max_message_chars_is_rejected(aws, bedrock, chat, configure):
    configure(max_message_chars=50)

    status, body = chat({"message": "x" * 51})

    assert status == 400
    assert body["error"]["field"] == "message"
    assert "50" in body["error"]["message"]
    assert_nothing_written(aws)


def test_a_message_of_exactly_max_message_chars_is_accepted(aws, bedrock, chat, configure):
    configure(max_message_chars=50)
    bedrock.add_response("converse", converse_text("ok"))

    status, body = chat({"message": "é" * 50})  # characters, not bytes

    assert status == 200
    assert body["reply"] == "ok"


def test_the_default_limit_applies(aws, bedrock, chat, configure):
    settings = configure()

    status, body = chat({"message": "x" * (settings["max_message_chars"] + 1)})

    assert (status, body["error"]["field"]) == (400, "message")
    assert_nothing_written(aws)


def test_an_unknown_session_is_404_and_writes_nothing(aws, bedrock, chat):
    status, body = chat({"message": "hi", "session_id": SESSION_ID})

    assert status == 404
    assert body["error"]["field"] == "session_id"
    assert_nothing_written(aws)


def test_another_customers_session_is_404_and_changes_nothing(aws, bedrock, chat):
    bedrock.add_response("converse", converse_text("first answer"))
    _, first = chat({"message": "first question"})
    stored = items(aws.ddb)
    key, doc = transcript(aws, first["session_id"])

    status, body = chat({"message": "let me in", "session_id": first["session_id"]},
                        sub="0b6d2a9e-2222-4c3d-8e4f-fedcba987654")

    assert status == 404
    assert body["error"]["field"] == "session_id"
    assert "first question" not in json.dumps(body)
    assert items(aws.ddb) == stored
    assert bucket_keys(aws.s3) == [key]
    assert transcript(aws, first["session_id"])[1] == doc


@pytest.mark.parametrize("sub", [None, ""])
def test_no_authenticated_caller_is_401(aws, bedrock, chat, sub):
    status, body = chat({"message": "hi"}, sub=sub)

    assert status == 401
    assert body["error"]["field"] == "authorization"
    assert_nothing_written(aws)


def test_missing_request_context_is_401(aws, bedrock, configure, lambda_context):
    event = chat_event({"message": "hi"})
    del event["requestContext"]

    status, body = call(event, lambda_context)

    assert (status, body["error"]["field"]) == (401, "authorization")
    assert_nothing_written(aws)


def test_authentication_is_checked_before_the_body(aws, bedrock, configure, lambda_context):
    event = with_body("{not json")
    del event["requestContext"]["authorizer"]

    status, _ = call(event, lambda_context)

    assert status == 401


def test_the_parsed_request_is_stripped():
    request = parse_chat_request({"body": json.dumps({"message": "  hello \n", "session_id": SESSION_ID})},
                                 max_message_chars=100)

    assert (request.message, request.session_id) == ("hello", SESSION_ID)


def test_request_error_body_names_the_field():
    assert RequestError("message", "is required").to_body() == {"error": {"field": "message", "message": "is required"}}


def test_the_fixture_customer_owns_new_sessions(aws, bedrock, chat):
    bedrock.add_response("converse", converse_text("hello"))

    _, body = chat({"message": "hi"})

    assert [i["customer_id"] for i in items(aws.ddb) if i["sk"] == "SESSION"] == [CUSTOMER]


def test_an_unknown_field_name_is_echoed_cut_short(aws, chat):
    status, body = chat({"message": "hi", "x" * 500: 1})
    assert status == 400
    assert body["error"]["field"] == "x" * 40
