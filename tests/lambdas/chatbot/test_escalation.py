"""The escalation rules through the handler, how an escalation is recorded, and how the outbox keeps the
promise made to the customer (the workflow starts, or the escalation is visibly withdrawn)."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from lambdas.chatbot import handler as chatbot_handler
from lambdas.common import clients
from lambdas.stream_consumer import handler as consumer_handler
from testing.bedrock_replies import comprehend_result, converse_text
from testing.outbox import BUSY_MESSAGE
from tests.lambdas.chatbot.helpers import (
    emitted_metrics,
    escalation_items,
    messages_event,
    record_requests,
    session_item,
    transcript,
    turn_items,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def negative(score: float) -> dict:
    return comprehend_result("NEGATIVE", negative=score, neutral=round(1 - score, 4))


def neutral() -> dict:
    return comprehend_result("NEUTRAL", neutral=0.9, negative=0.05, positive=0.05)


def test_human_request_escalates_without_asking_the_model(aws, bedrock, chat, configure, capsys):
    settings = configure()  # vader; nothing is queued on `bedrock`, so any answer call would fail the turn
    answer_requests = record_requests(clients.client("bedrock-runtime"), "Converse")

    status, body = chat({"message": "can I talk to a person?"})

    assert status == 200
    assert body["escalated"] is True
    assert body["escalation"]["reason"] == "human_requested"
    assert body["escalation"]["status"] == "pending"
    assert body["reply"] == settings["handoff_message"]
    assert "error" not in body
    assert answer_requests == []
    customer, reply = turn_items(aws.ddb, body["session_id"])
    assert reply["role"] == "system" and reply["text"] == settings["handoff_message"]
    assert "model_id" not in reply and "error" not in reply
    assert emitted_metrics(capsys.readouterr().out).get("Escalations") == 1


@pytest.mark.parametrize("score", [0.75, 0.9])
def test_negative_sentiment_at_or_over_the_threshold_escalates(aws, bedrock, comprehend, chat, configure, score):
    settings = configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75)
    comprehend.add_response("detect_sentiment", negative(score))
    bedrock.add_response("converse", converse_text("An answer nobody will read."))

    status, body = chat({"message": "This is not what I ordered."})

    assert status == 200
    assert body["escalated"] is True
    assert body["escalation"]["reason"] == "negative_sentiment"
    assert body["reply"] == settings["handoff_message"]


def test_the_models_answer_to_an_escalating_question_is_kept_unseen_on_the_hand_off(aws, bedrock, comprehend, chat,
                                                                                    configure):
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75)
    comprehend.add_response("detect_sentiment", negative(0.9))
    bedrock.add_response("converse", converse_text("Unplug the router for ten seconds."))

    status, body = chat({"message": "This router is useless."})

    assert status == 200 and body["escalated"] is True
    assert "Unplug" not in json.dumps(body)  # the customer is told a human is coming, nothing else
    _, reply = turn_items(aws.ddb, body["session_id"])
    assert reply["role"] == "system"
    assert reply["withheld"]["text"] == "Unplug the router for ten seconds." and reply["withheld"]["model_id"]


def test_negative_sentiment_below_the_threshold_does_not_escalate(aws, bedrock, comprehend, chat, configure):
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75, consecutive_negative_turns=3)
    comprehend.add_response("detect_sentiment", negative(0.74))
    bedrock.add_response("converse", converse_text("Let me check that for you."))

    status, body = chat({"message": "This is not what I ordered."})

    assert status == 200
    assert body["escalated"] is False
    assert body["reply"] == "Let me check that for you."
    assert escalation_items(aws.ddb, body["session_id"]) == []
    assert turn_items(aws.ddb, body["session_id"])[0]["sentiment"]["score"] == 0.74


def run_turns(chat, bedrock, comprehend, sentiments: list[dict]) -> list[dict]:
    bodies: list[dict] = []
    for n, result in enumerate(sentiments, 1):
        comprehend.add_response("detect_sentiment", result)
        bedrock.add_response("converse", converse_text(f"answer {n}"))
        session = {"session_id": bodies[0]["session_id"]} if bodies else {}
        status, body = chat({"message": f"message {n}", **session})
        assert status == 200
        bodies.append(body)
    return bodies


def test_negative_streak_escalates_on_the_nth_negative_turn(aws, bedrock, comprehend, chat, configure):
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75, consecutive_negative_turns=3)

    bodies = run_turns(chat, bedrock, comprehend, [negative(0.5), negative(0.5), negative(0.5)])

    assert [b["escalated"] for b in bodies] == [False, False, True]
    assert bodies[2]["escalation"]["reason"] == "negative_streak"
    assert [b["reply"] for b in bodies[:2]] == ["answer 1", "answer 2"]


def test_a_neutral_turn_resets_the_streak(aws, bedrock, comprehend, chat, configure):
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75, consecutive_negative_turns=3)

    bodies = run_turns(chat, bedrock, comprehend, [negative(0.5), neutral(), negative(0.5), negative(0.5)])

    assert [b["escalated"] for b in bodies] == [False, False, False, False]


def test_a_failing_gate_on_the_nth_turn_still_completes_the_streak(aws, bedrock, comprehend, chat, configure):
    """Fail safe toward the human: the turn the detector could not read counts toward the streak."""
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75, consecutive_negative_turns=3)
    first, second = run_turns(chat, bedrock, comprehend, [negative(0.5), negative(0.5)])
    comprehend.add_client_error("detect_sentiment", "TextSizeLimitExceededException", http_status_code=400)
    bedrock.add_response("converse", converse_text("answer 3"))

    status, body = chat({"message": "message 3", "session_id": first["session_id"]})

    assert status == 200 and body["escalated"] is True
    assert body["escalation"]["reason"] == "negative_streak"
    (item,) = escalation_items(aws.ddb, first["session_id"])
    explanation = json.loads(item["body"])["explanation"]
    assert explanation["rule"] == "negative_streak" and "gate failed" in explanation["signal"]
    assert explanation["excerpt"] == "message 3"


def test_the_escalation_record_explains_a_human_request(aws, comprehend, chat, configure):
    configure(sentiment_detector="comprehend")
    comprehend.add_response("detect_sentiment", neutral())

    status, body = chat({"message": "Bitte verbinden Sie mich mit einem Mit\u200barbeiter."})

    assert status == 200 and body["escalation"]["reason"] == "human_requested"
    (item,) = escalation_items(aws.ddb, body["session_id"])
    assert json.loads(item["body"])["explanation"] == {
        "rule": "human_request_pattern", "signal": "pattern de:verbinden", "excerpt": "verbinden Sie mich"}


def test_zero_consecutive_turns_never_escalates_on_a_streak(aws, bedrock, comprehend, chat, configure):
    configure(sentiment_detector="comprehend", comprehend_negative_threshold=0.75, consecutive_negative_turns=0)

    bodies = run_turns(chat, bedrock, comprehend, [negative(0.5)] * 4)

    assert [b["escalated"] for b in bodies] == [False] * 4
    assert escalation_items(aws.ddb, bodies[0]["session_id"]) == []


def started_executions(aws) -> list[str]:
    """The names of the workflow executions the outbox started, once it has caught up with the table."""
    aws.outbox.drain()
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=aws.workflow_arn)["executions"]
    return [e["name"] for e in executions]


def test_an_escalation_is_recorded_in_dynamodb_and_the_transcript(aws, bedrock, comprehend, chat, configure):
    settings = configure(sentiment_detector="comprehend")
    comprehend.add_response("detect_sentiment", negative(0.92))
    bedrock.add_response("converse", converse_text("An answer nobody will read."))

    _, body = chat({"message": "This is the third time my order is late."})

    session_id = body["session_id"]
    escalation_id = body["escalation"]["escalation_id"]
    (item,) = escalation_items(aws.ddb, session_id)
    assert item["sk"] == f"ESCALATION#{escalation_id}"
    assert item["status"] == "pending"
    record = json.loads(item["body"])
    customer, reply = turn_items(aws.ddb, session_id)
    assert record["escalation_id"] == escalation_id
    assert record["session_id"] == session_id
    assert record["reason"] == "negative_sentiment"
    assert record["status"] == "pending"
    assert record["turn_id"] == customer["turn_id"]
    assert record["sentiment"] == {"label": "negative", "score": 0.92, "detector": "comprehend", "reason": ""}
    assert session_item(aws.ddb, session_id)["open_escalation_id"] == escalation_id
    assert (reply["role"], reply["text"]) == ("system", settings["handoff_message"])
    assert reply["turn_id"] == body["turn_id"]

    _, doc = transcript(aws, session_id)
    assert doc["escalations"] == [record]
    assert [t["role"] for t in doc["turns"]] == ["customer", "system"]
    assert started_executions(aws) == [escalation_id]


def test_a_second_escalating_turn_while_one_is_open_records_no_new_escalation(
        aws, bedrock, comprehend, chat, configure, capsys):
    settings = configure(sentiment_detector="comprehend")
    comprehend.add_response("detect_sentiment", negative(0.92))
    bedrock.add_response("converse", converse_text("An answer nobody will read."))
    comprehend.add_response("detect_sentiment", neutral())

    _, first = chat({"message": "This is the third time my order is late."})
    status, second = chat({"message": "Can I talk to a person?", "session_id": first["session_id"]})

    assert status == 200
    assert second["escalated"] is True
    assert second["escalation"] == {"escalation_id": first["escalation"]["escalation_id"], "new": False}
    assert second["reply"] == settings["handoff_message"]
    session_id = first["session_id"]
    (item,) = escalation_items(aws.ddb, session_id)
    assert item["sk"] == f"ESCALATION#{first['escalation']['escalation_id']}"
    assert session_item(aws.ddb, session_id)["open_escalation_id"] == first["escalation"]["escalation_id"]
    assert [t["role"] for t in turn_items(aws.ddb, session_id)] == ["customer", "system", "customer", "system"]
    _, doc = transcript(aws, session_id)
    assert len(doc["escalations"]) == 1 and len(doc["turns"]) == 4
    assert started_executions(aws) == [first["escalation"]["escalation_id"]]
    assert emitted_metrics(capsys.readouterr().out).get("Escalations") == 1


def test_a_normal_answer_while_an_escalation_is_open_reports_it(aws, bedrock, comprehend, chat, configure):
    configure(sentiment_detector="comprehend")
    comprehend.add_response("detect_sentiment", negative(0.92))
    bedrock.add_response("converse", converse_text("An answer nobody will read."))
    comprehend.add_response("detect_sentiment", neutral())
    bedrock.add_response("converse", converse_text("Your order ships tomorrow."))

    _, first = chat({"message": "This is the third time my order is late."})
    _, second = chat({"message": "When does it ship?", "session_id": first["session_id"]})

    assert second["reply"] == "Your order ships tomorrow."
    assert second["escalated"] is False
    assert second["escalation"] == {"escalation_id": first["escalation"]["escalation_id"], "new": False}


def test_a_workflow_that_cannot_start_is_withdrawn_visibly_and_the_customer_can_escalate_again(
        aws, chat, configure, monkeypatch, lambda_context):
    missing = aws.workflow_arn.replace(":stateMachine:", ":stateMachine:missing-")
    monkeypatch.setenv("ESCALATION_STATE_MACHINE_ARN", missing)  # every StartExecution fails
    consumer_handler.dependencies.reset()
    consumer = consumer_handler.dependencies.get()
    consumer.sleep = lambda seconds: None

    _, first = chat({"message": "Let me talk to a person"})
    aws.outbox.poller.poll()
    assert escalation_items(aws.ddb, first["session_id"])[0]["status"] == "pending"  # retried, not given up
    consumer.clock = lambda: time.time() + 300  # past escalation_start_timeout_seconds
    aws.outbox.drain()

    (item,) = escalation_items(aws.ddb, first["session_id"])
    assert item["status"] == "failed"
    polled = chatbot_handler.handler(messages_event(first["session_id"]), lambda_context)
    assert json.loads(polled["body"])["messages"][-1]["text"] == BUSY_MESSAGE
    monkeypatch.setenv("ESCALATION_STATE_MACHINE_ARN", aws.workflow_arn)  # Step Functions works again
    consumer_handler.dependencies.reset()

    status, second = chat({"message": "I still want a person", "session_id": first["session_id"]})

    assert status == 200 and second["escalation"]["new"] is True
    assert started_executions(aws) == [second["escalation"]["escalation_id"]]
