"""local/pollers.py: the event sources of the local runtime. An angry customer message, through the gateway,
escalates; the stream poller hands the new escalation to the stream consumer, which starts the workflow;
moto runs it; the queue poller hands its work message to the escalation worker, which mails the experts'
topic. A bad record, or a poll that raises, never stops a poller; stopping ends the threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from local.gateway import create_gateway, local_api
from local.pollers import PollerThread, sqs_record, start_pollers
from testing.bedrock_replies import converse_text
from testing.waiting import wait_for
from tests.local.conftest import BASE_URL, EXPERT_API_URL, IDENTITY, signed_in

ANGRY = "This is the third time my refund failed and nobody answers. I'm filing a chargeback with my bank!"
WAIT = 15.0  # seconds any single wait may take before the test fails
EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture(scope="module")
def experts_inbox(local_aws) -> str:
    """An SQS queue subscribed to the experts' topic: what the topic would mail lands here."""
    sqs, sns = local_aws.client("sqs"), local_aws.client("sns")
    url = sqs.create_queue(QueueName="experts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=local_aws.arns["experts_topic"], Protocol="sqs", Endpoint=arn)
    return url


@pytest.fixture(scope="module")
def pollers(local_aws, local_environment):
    running = start_pollers(local_aws, idle_seconds=0.05)
    yield running
    running.stop()


def test_an_angry_message_reaches_the_experts_through_the_pollers(local_aws, local_environment, pollers,
                                                                  experts_inbox, bedrock):
    sqs = local_aws.client("sqs")
    # A message the worker cannot read, first in the queue: it fails alone, and the poller goes on.
    sqs.send_message(QueueUrl=local_aws.names["work_queue"], MessageBody="not a work message")
    bedrock.add_response("converse", converse_text("I'm sorry to hear that."))
    gateway = TestClient(create_gateway([local_api("chatbot", local_aws.templates)], identity=IDENTITY),
                         base_url=BASE_URL)

    reply = gateway.post("/prod/chat", json={"message": ANGRY}, headers=signed_in("carol")).json()

    assert reply["escalated"] is True, reply
    escalation_id = reply["escalation"]["escalation_id"]
    sfn = local_aws.client("stepfunctions")
    machine = local_aws.state_machines["human_escalation"]
    (execution,) = wait_for(lambda: sfn.list_executions(stateMachineArn=machine)["executions"],
                            what="the stream consumer to start the workflow", timeout=WAIT)
    assert execution["name"] == escalation_id
    assert json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["session_id"] == \
        reply["session_id"]

    def mail() -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=experts_inbox,
                                                                     MaxNumberOfMessages=10).get("Messages", [])]

    (email,) = wait_for(mail, what="the experts' email", timeout=WAIT)
    assert ANGRY in email["Message"]
    assert f"{EXPERT_API_URL}escalations/{escalation_id}?" in email["Message"]
    assert pollers.queue.failures >= 1  # the unreadable message, reported failed and left in the queue
    assert pollers.queue.invocations >= 2 and pollers.stream.invocations >= 1
    assert all(thread.alive for thread in pollers.threads)
    sfn.stop_execution(executionArn=execution["executionArn"])


def test_the_queue_poller_hands_the_worker_lambdas_sqs_records(local_aws):
    sqs = local_aws.client("sqs")
    url = sqs.create_queue(QueueName="record-shape")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody='{"kind": "accept"}',
                     MessageAttributes={"origin": {"DataType": "String", "StringValue": "workflow"}})
    (message,) = sqs.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]

    record = sqs_record(message, queue_arn="arn:aws:sqs:us-east-1:123456789012:record-shape", region="us-east-1")

    documented = json.loads((EVENTS / "escalation_work.json").read_text())["Records"][0]
    assert set(documented) <= set(record)
    assert set(documented["attributes"]) <= set(record["attributes"])
    assert record["body"] == '{"kind": "accept"}' and record["eventSource"] == "aws:sqs"
    assert record["messageAttributes"]["origin"] == {"stringValue": "workflow", "binaryValue": None,
                                                     "stringListValues": [], "binaryListValues": [],
                                                     "dataType": "String"}


def test_a_poll_that_raises_is_logged_and_polling_goes_on(caplog):
    calls: list[int] = []
    done = threading.Event()

    def poll() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the local AWS hiccuped")
        if len(calls) >= 3:
            done.set()
        return 0

    thread = PollerThread("flaky", poll, idle_seconds=0.01).start()
    assert done.wait(WAIT)
    thread.stop()

    assert thread.errors == 1 and len(calls) >= 3
    assert not thread.alive
    assert "a poll failed; polling goes on" in caplog.text


def test_stopping_waits_for_the_delivery_under_way(local_aws):
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def poll() -> int:
        started.set()
        release.wait(WAIT)
        finished.append(True)
        return 1

    thread = PollerThread("busy", poll).start()
    assert started.wait(WAIT)
    threading.Timer(0.1, release.set).start()
    thread.stop()

    assert finished == [True] and not thread.alive
