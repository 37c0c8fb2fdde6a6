"""Helpers for the escalation worker's tests (also used by tests/statemachines): work-queue events, an
escalated session made the way the chatbot makes it, and SNS topics whose notifications land in SQS."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Sentiment, Turn, new_id
from local.lambda_context import lambda_context

EVENTS = Path(__file__).resolve().parents[2] / "events"
HANDOFF = "I'm bringing in a human expert to help you. Please stay here: they will reply in this conversation."
ANGRY = "This is the third time the refund failed and nobody answers. I am really angry now!"
SECRET = "0123456789abcdef0123456789abcdef-test-signing-key"  # >= 32 characters, like the deployed one


def worker_context() -> SimpleNamespace:
    """The Lambda context the worker's handler is given."""
    return lambda_context("tandem-escalation-worker", memory_mb=256)


# Work-queue events --------------------------------------------------------------------------------

def _template(kind: str) -> dict[str, Any]:
    records = json.loads((EVENTS / "escalation_work.json").read_text())["Records"]
    (record,) = [r for r in records if json.loads(r["body"])["kind"] == kind]
    return record


def sqs_record(kind: str = "accept", *, body: str | None = None, message_id: str | None = None,
               **fields: Any) -> dict[str, Any]:
    """An SQS record of tests/events/escalation_work.json with its body's fields replaced (or a raw body)."""
    record = copy.deepcopy(_template(kind))
    if body is None:
        data = json.loads(record["body"])
        data.update(fields)
        body = json.dumps({k: v for k, v in data.items() if v is not None})
    record["body"] = body
    record["messageId"] = message_id or new_id()
    return record


def work_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


# Conversations --------------------------------------------------------------------------------------

def escalate(store: SessionStore, *, history: int = 3, reason: str = "negative_sentiment",
             customer_text: str = ANGRY, customer_id: str = "customer-sub-1",
             requested_at: str | None = None) -> EscalationRecord:
    """A session with `history` question/answer pairs, then a customer turn that escalates: the customer
    turn, the hand-off system turn and the pending escalation are recorded together, as the chatbot does
    (`requested_at`: an escalation raised earlier than now)."""
    session = store.new_session(new_id(), customer_id)
    for i in range(history):
        pair = [Turn(role="customer", text=f"question {i}"), Turn(role="bot", text=f"answer {i}", model_id="m")]
        store.record(session, pair)
        session.recent_turns.extend(pair)
    sentiment = Sentiment(label="negative", score=0.93, detector="comprehend")
    customer = Turn(role="customer", text=customer_text, sentiment=sentiment)
    escalation = EscalationRecord(session_id=session.session_id, reason=reason, turn_id=customer.turn_id,
                                  sentiment=sentiment, **({"requested_at": requested_at} if requested_at else {}))
    store.record(session, [customer, Turn(role="system", text=HANDOFF, reply_to=customer.turn_id)], escalation)
    return escalation


# DynamoDB and S3 ------------------------------------------------------------------------------------

def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: next(iter(v.values())) for k, v in item.items()}


def table_item(ddb: Any, table: str, session_id: str, sk: str) -> dict[str, Any] | None:
    found = ddb.get_item(TableName=table, Key={"session_id": {"S": session_id}, "sk": {"S": sk}},
                         ConsistentRead=True).get("Item")
    return plain(found) if found else None


def stored_turns(ddb: Any, table: str, session_id: str) -> list[dict[str, Any]]:
    page = ddb.query(TableName=table, KeyConditionExpression="session_id = :id AND begins_with(sk, :t)",
                     ExpressionAttributeValues={":id": {"S": session_id}, ":t": {"S": "TURN#"}})
    return [json.loads(i["body"]["S"]) for i in page["Items"]]


def read_transcript(s3: Any, bucket: str, ddb: Any, table: str, session_id: str) -> dict[str, Any]:
    started_at = table_item(ddb, table, session_id, "SESSION")["started_at"]
    key = f"transcripts/dt={started_at[:10]}/{session_id}.json"
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


# SNS -> SQS -----------------------------------------------------------------------------------------

def subscribed_inbox(sns: Any, sqs: Any, topic_arn: str) -> str:
    """The URL of an SQS queue subscribed to the topic: every notification the topic sends lands there."""
    queue_url = sqs.create_queue(QueueName=f"{topic_arn.rsplit(':', 1)[-1]}-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return queue_url


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message waiting in an inbox (removed from it): the SNS envelopes, with Subject and Message."""
    found: list[dict[str, Any]] = []
    for _ in range(100):  # bounded: an inbox never holds more than a few hundred messages in these tests
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return found
        for message in batch:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("inbox never emptied")
