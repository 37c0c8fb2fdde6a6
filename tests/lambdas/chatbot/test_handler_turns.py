"""POST /chat end to end: what a normal turn answers, stores in DynamoDB and writes to the S3 transcript."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime, timezone

import pytest

from lambdas.chatbot import handler as chatbot_handler
from lambdas.common import clients
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.conftest import CUSTOMER, chat_event
from tests.lambdas.chatbot.helpers import (
    bucket_keys,
    items,
    record_requests,
    session_item,
    transcript,
    turn_items,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


def test_first_turn_answers_and_stores_session_turns_and_transcript(aws, bedrock, chat, configure):
    settings = configure()
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link on the sign-in page."))
    day_before = today()

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == "Use the 'Forgot password' link on the sign-in page."
    assert body["escalated"] is False
    assert "escalation" not in body and "error" not in body
    assert body["sources"] == []
    session_id = body["session_id"]
    assert UUID4.match(session_id)
    bedrock.assert_no_pending_responses()

    stored = items(aws.ddb, session_id)
    assert [i["sk"].split("#")[0] for i in stored] == ["SESSION", "TURN", "TURN"]
    session = session_item(aws.ddb, session_id)
    assert session["customer_id"] == CUSTOMER
    assert "open_escalation_id" not in session
    expires_at = int(session["expires_at"])
    assert abs(expires_at - (time.time() + settings["session_ttl_days"] * 86400)) < 60
    customer, bot = turn_items(aws.ddb, session_id)
    assert (customer["role"], customer["text"]) == ("customer", "How do I reset my password?")
    assert customer["sentiment"]["detector"] == "vader"
    assert (bot["role"], bot["text"]) == ("bot", "Use the 'Forgot password' link on the sign-in page.")
    assert bot["turn_id"] == body["turn_id"]
    assert bot["model_id"] == settings["model_id"]
    assert isinstance(bot["latency_ms"], int) and "error" not in bot
    assert all(i["role"] == t["role"] for i, t in zip(items(aws.ddb, session_id)[1:], (customer, bot), strict=True))

    key, doc = transcript(aws, session_id)
    assert key == f"transcripts/dt={session['started_at'][:10]}/{session_id}.json"
    assert session["started_at"][:10] in (day_before, today())
    assert bucket_keys(aws.s3) == [key]
    assert doc["schema_version"] == 2
    assert doc["session_id"] == session_id and doc["started_at"] == session["started_at"]
    assert [(t["role"], t["text"]) for t in doc["turns"]] == [
        ("customer", "How do I reset my password?"),
        ("bot", "Use the 'Forgot password' link on the sign-in page."),
    ]
    assert doc["turns"][0]["sentiment"]["detector"] == "vader"
    assert doc["turns"][0]["sentiment"]["label"] in ("negative", "neutral", "positive")
    assert doc["turns"] == [customer, bot]  # the transcript holds exactly what DynamoDB accepted
    assert doc["escalations"] == [] and doc["feedback"] == []


def test_second_turn_sends_the_history_and_extends_the_transcript(aws, bedrock, chat):
    sent = record_requests(clients.client("bedrock-runtime"), "Converse")
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link."))
    bedrock.add_response("converse", converse_text("The link is valid for one hour."))

    _, first = chat({"message": "How do I reset my password?"})
    status, second = chat({"message": "How long is the link valid?", "session_id": first["session_id"]})

    assert status == 200
    assert second["session_id"] == first["session_id"]
    assert second["reply"] == "The link is valid for one hour."
    assert len(sent) == 2
    assert sent[0]["messages"] == [{"role": "user", "content": [{"text": "How do I reset my password?"}]}]
    assert sent[1]["messages"] == [
        {"role": "user", "content": [{"text": "How do I reset my password?"}]},
        {"role": "assistant", "content": [{"text": "Use the 'Forgot password' link."}]},
        {"role": "user", "content": [{"text": "How long is the link valid?"}]},
    ]
    session_id = first["session_id"]
    assert [t["text"] for t in turn_items(aws.ddb, session_id)] == [
        "How do I reset my password?", "Use the 'Forgot password' link.",
        "How long is the link valid?", "The link is valid for one hour.",
    ]
    _, doc = transcript(aws, session_id)
    assert [(t["role"], t["text"]) for t in doc["turns"]] == [
        ("customer", "How do I reset my password?"), ("bot", "Use the 'Forgot password' link."),
        ("customer", "How long is the link valid?"), ("bot", "The link is valid for one hour."),
    ]
    assert len(bucket_keys(aws.s3)) == 1


def test_history_is_limited_to_history_turns(aws, bedrock, chat, configure):
    configure(history_turns=2)
    sent = record_requests(clients.client("bedrock-runtime"), "Converse")
    for reply in ("one", "two", "three"):
        bedrock.add_response("converse", converse_text(reply))

    _, first = chat({"message": "first question"})
    chat({"message": "second question", "session_id": first["session_id"]})
    chat({"message": "third question", "session_id": first["session_id"]})

    assert [m["content"][0]["text"] for m in sent[2]["messages"]] == ["second question", "two", "third question"]


def test_the_system_prompt_and_model_settings_reach_converse(aws, bedrock, chat, configure):
    settings = configure(system_prompt="You answer questions about Tandem only.", temperature=0.3, max_tokens=256)
    sent = record_requests(clients.client("bedrock-runtime"), "Converse")
    bedrock.add_response("converse", converse_text("Sure."))

    chat({"message": "What is Tandem?"})

    (request,) = sent
    assert request["modelId"] == settings["model_id"]
    assert request["system"] == [{"text": "You answer questions about Tandem only."}]
    assert request["inferenceConfig"]["temperature"] == 0.3
    assert request["inferenceConfig"]["maxTokens"] == 256
    assert "guardrailConfig" not in request


def test_a_base64_encoded_body_is_accepted(aws, bedrock, chat, lambda_context):
    bedrock.add_response("converse", converse_text("Hello!"))
    event = chat_event(raw_body=base64.b64encode('{"message": "Olá, tudo bem?"}'.encode()).decode())
    event["isBase64Encoded"] = True

    result = chatbot_handler.handler(event, lambda_context)

    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "application/json"
    assert result["headers"]["Cache-Control"] == "no-store"
    session_id = json.loads(result["body"])["session_id"]
    assert turn_items(aws.ddb, session_id)[0]["text"] == "Olá, tudo bem?"
