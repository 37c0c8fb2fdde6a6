"""POST /chat/{session_id}/feedback end to end: a customer's thumb on one of the assistant's answers, stored on
the answer's turn item, read back by GET messages, carried into the transcript by the outbox; every refusal
named and nothing written."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from lambdas.chatbot import handler as chatbot_handler
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import Turn
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.conftest import CUSTOMER, TABLE, chat_event
from tests.lambdas.chatbot.helpers import emitted_metrics, items, messages_event, transcript

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
OTHER_CUSTOMER = "0b0b0b0b-2222-4c4c-8d8d-0123456789ab"
FEEDBACK_RESOURCE = "/chat/{session_id}/feedback"


def feedback_event(session_id: str, body: Any, *, raw_body: str | None = None, sub: str | None = CUSTOMER
                   ) -> dict[str, Any]:
    """POST /chat/{session_id}/feedback as API Gateway (REST) sends it."""
    event = chat_event(body, raw_body=raw_body, sub=sub)
    path = f"/chat/{quote(session_id, safe='')}/feedback"
    event.update(resource=FEEDBACK_RESOURCE, path=path, pathParameters={"session_id": session_id})
    event["requestContext"].update(resourcePath=FEEDBACK_RESOURCE, path=f"/{event['requestContext']['stage']}{path}")
    return event


@pytest.fixture
def thumb(configure, lambda_context):
    def call(session_id: str, body: Any = None, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = chatbot_handler.handler(feedback_event(session_id, body, **kwargs), lambda_context)
        return result["statusCode"], json.loads(result["body"])

    return call


@pytest.fixture
def answered(aws, bedrock, chat) -> dict[str, Any]:
    """A conversation with one answer: the POST /chat body."""
    bedrock.add_response("converse", converse_text("Hold the reset button for ten seconds."))
    status, body = chat({"message": "How do I reset my hub?"})
    assert status == 200
    return body


def stored_feedback(aws, session_id: str) -> dict[str, Any]:
    """turn_id -> the `feedback` JSON each TURN item holds."""
    return {json.loads(i["body"])["turn_id"]: json.loads(i["feedback"])
            for i in items(aws.ddb, session_id) if i["sk"].startswith("TURN#") and "feedback" in i}


def test_a_thumbs_down_with_a_comment_is_stored_read_back_and_reaches_the_transcript(
        aws, answered, thumb, lambda_context, capsys):
    session_id, turn_id = answered["session_id"], answered["turn_id"]
    comment = "  That did not work: the <b>light</b> stays red.  "

    status, body = thumb(session_id, {"turn_id": turn_id, "thumb": "down", "comment": comment})

    assert status == 200
    assert body["session_id"] == session_id and body["turn_id"] == turn_id
    assert body["feedback"]["thumb"] == "down"
    assert body["feedback"]["comment"] == comment.strip()
    (stored,) = stored_feedback(aws, session_id).values()
    assert stored == {"turn_id": turn_id, "thumb": "down", "comment": comment.strip(),
                      "given_at": body["feedback"]["given_at"]}
    assert emitted_metrics(capsys.readouterr().out).get("ThumbsDown") == 1

    result = chatbot_handler.handler(messages_event(session_id), lambda_context)
    messages = json.loads(result["body"])["messages"]
    assert [m.get("feedback") for m in messages] == [None, body["feedback"]]

    _, doc = transcript(aws, session_id)
    assert doc["feedback"] == [{"kind": "thumb", "turn_id": turn_id, "thumb": "down",
                                "comment": comment.strip(), "given_at": body["feedback"]["given_at"]}]
    assert [t["role"] for t in doc["turns"]] == ["customer", "bot"]  # the turns themselves are untouched


def test_the_latest_choice_wins_and_null_takes_the_thumb_back(aws, answered, thumb, capsys):
    session_id, turn_id = answered["session_id"], answered["turn_id"]
    assert thumb(session_id, {"turn_id": turn_id, "thumb": "down", "comment": "wrong"})[0] == 200
    status, body = thumb(session_id, {"turn_id": turn_id, "thumb": "up"})
    assert status == 200
    assert stored_feedback(aws, session_id)[turn_id]["thumb"] == "up"
    assert "comment" not in stored_feedback(aws, session_id)[turn_id]  # the new choice replaced the old one whole
    _, doc = transcript(aws, session_id)
    assert [(f["thumb"], f.get("comment")) for f in doc["feedback"]] == [("up", None)]

    status, body = thumb(session_id, {"turn_id": turn_id, "thumb": None})
    assert (status, body["feedback"]) == (200, None)
    assert stored_feedback(aws, session_id) == {}
    _, doc = transcript(aws, session_id)
    assert doc["feedback"] == []
    metrics = emitted_metrics(capsys.readouterr().out)
    assert (metrics.get("ThumbsDown"), metrics.get("ThumbsUp"), metrics.get("ThumbsCleared")) == (1, 1, 1)


def snapshot(aws) -> list[dict[str, Any]]:
    return items(aws.ddb)


@pytest.mark.parametrize("body, field", [
    ({"turn_id": "x", "thumb": "sideways"}, "thumb"),
    ({"turn_id": "x", "thumb": 1}, "thumb"),
    ({"turn_id": "x"}, "thumb"),
    ({"thumb": "up"}, "turn_id"),
    ({"turn_id": "../etc", "thumb": "up"}, "turn_id"),
    ({"turn_id": "x", "thumb": "down", "comment": "y" * 501}, "comment"),
    ({"turn_id": "x", "thumb": "down", "comment": 5}, "comment"),
    ({"turn_id": "x", "thumb": "down", "comment": "\ud800"}, "comment"),
    ({"turn_id": "x", "thumb": None, "comment": "why"}, "comment"),
    ({"turn_id": "x", "thumb": "up", "rating": 5}, "rating"),
    (["up"], "body"),
])
def test_bad_input_is_400_naming_the_field_and_writes_nothing(aws, answered, thumb, body, field):
    if isinstance(body, dict) and body.get("turn_id") == "x":
        body = {**body, "turn_id": answered["turn_id"]}
    before = snapshot(aws)
    status, answer = thumb(answered["session_id"], body)
    assert status == 400
    assert answer["error"]["field"] == field
    assert snapshot(aws) == before


def test_a_comment_of_exactly_the_limit_is_taken(aws, answered, thumb):
    status, body = thumb(answered["session_id"], {"turn_id": answered["turn_id"], "thumb": "down",
                                                  "comment": "y" * 500})
    assert status == 200 and len(body["feedback"]["comment"]) == 500


def test_a_body_that_is_not_json_is_400(aws, answered, thumb):
    status, body = thumb(answered["session_id"], raw_body="{not json")
    assert (status, body["error"]["field"]) == (400, "body")


def test_an_unknown_turn_is_404_naming_the_turn(aws, answered, thumb):
    before = snapshot(aws)
    status, body = thumb(answered["session_id"], {"turn_id": "5d0c1d2e-3f40-4a5b-8c6d-7e8f9a0b1c2d", "thumb": "up"})
    assert (status, body["error"]["field"]) == (404, "turn_id")
    assert "no such turn" in body["error"]["message"]
    assert snapshot(aws) == before


def test_a_customer_turn_takes_no_thumb(aws, answered, thumb):
    before = snapshot(aws)
    customer_turn = answered["customer_turn"]["turn_id"]
    status, body = thumb(answered["session_id"], {"turn_id": customer_turn, "thumb": "up"})
    assert (status, body["error"]["field"]) == (400, "turn_id")
    assert "customer turn" in body["error"]["message"]
    assert snapshot(aws) == before


def test_an_expert_turn_takes_no_thumb(aws, answered, thumb):
    store = SessionStore(table_name=TABLE, ttl_days=30)
    expert_turn = Turn(role="expert", text="I'm Dana, let me help.")
    store.record(store.load(answered["session_id"], None, recent_items=0), [expert_turn])
    before = snapshot(aws)
    status, body = thumb(answered["session_id"], {"turn_id": expert_turn.turn_id, "thumb": "down"})
    assert (status, body["error"]["field"]) == (400, "turn_id")
    assert "expert turn" in body["error"]["message"]
    assert snapshot(aws) == before


def test_another_customers_session_is_404_and_nothing_is_written(aws, answered, thumb):
    before = snapshot(aws)
    status, body = thumb(answered["session_id"], {"turn_id": answered["turn_id"], "thumb": "down"},
                         sub=OTHER_CUSTOMER)
    assert (status, body["error"]["field"]) == (404, "session_id")
    assert snapshot(aws) == before


def test_a_bad_session_id_is_400(aws, answered, thumb):
    status, body = thumb("not-a-session", {"turn_id": answered["turn_id"], "thumb": "down"})
    assert (status, body["error"]["field"]) == (400, "session_id")


def test_an_unauthenticated_request_is_401(aws, answered, thumb):
    before = snapshot(aws)
    status, body = thumb(answered["session_id"], {"turn_id": answered["turn_id"], "thumb": "down"}, sub=None)
    assert (status, body["error"]["field"]) == (401, "authorization")
    assert snapshot(aws) == before


def test_get_is_405_with_allow(aws, answered, configure, lambda_context):
    event = feedback_event(answered["session_id"], None)
    event.update(httpMethod="GET", body=None)
    result = chatbot_handler.handler(event, lambda_context)
    assert result["statusCode"] == 405
    assert result["headers"]["Allow"] == "POST"
