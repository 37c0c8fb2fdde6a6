"""The human-escalation workflow under moto, executed for real (FACTS.md: moto runs definitions only with
`execute_state_machine`), with the real escalation worker reading its work queue.

`Flow` builds what stacks/escalation_stack.py deploys, in moto, from the synthesized template's definitions
(the `aws` fixture): the sessions table, the transcripts bucket, the internal work queue, the experts and
fallback topics (each with an SQS inbox that captures every notification), the link-signing secret, and the
state machine from statemachines/human_escalation.asl.json with its ${Placeholders} substituted.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from lambdas.common.escalations import EscalationState, EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord
from lambdas.escalation_worker import handler as worker_handler
from lambdas.stream_consumer.starter import StepFunctionsStarter
from lambdas.stream_consumer.transcripts import TranscriptWriter
from testing.moto_aws import MotoAws
from testing.outbox import Outbox
from tests.lambdas.escalation_worker.conftest import TABLE, worker_environment
from tests.lambdas.escalation_worker.helpers import (
    SECRET,
    drain,
    read_transcript,
    subscribed_inbox,
    table_item,
    worker_context,
)

DEFINITION = Path(__file__).resolve().parents[2] / "statemachines" / "human_escalation.asl.json"
BUCKET = "tandem-transcripts-workflow"
ROLE_ARN = "arn:aws:iam::123456789012:role/tandem-escalation-workflow"
POLL_SECONDS = 0.05


class Flow:
    def __init__(self, aws: MotoAws, lambda_context: Any):
        self.context = lambda_context
        self.ddb, self.s3, self.sns, self.sqs, self.sfn = aws.ddb, aws.s3, aws.sns, aws.sqs, aws.sfn
        aws.create("sessions_table", TABLE)
        aws.create("transcripts_bucket", BUCKET)
        self.work_queue_url = aws.create("work_queue", "tandem-escalation-work")
        self.work_queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.work_queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.experts_topic = aws.create("experts_topic", "tandem-experts")
        self.experts_inbox = subscribed_inbox(self.sns, self.sqs, self.experts_topic)
        self.fallback_topic = aws.create("fallback_topic", "tandem-fallback")
        self.fallback_inbox = subscribed_inbox(self.sns, self.sqs, self.fallback_topic)
        self.secret_arn = aws.create("link_signing_secret", "tandem-link-signing", secret_string=SECRET)
        self.store = SessionStore(table_name=TABLE, ttl_days=90)
        self.escalations = EscalationStore(table_name=TABLE)
        self.experts_mail: list[dict[str, Any]] = []
        self.fallback_mail: list[dict[str, Any]] = []
        self.tokens: set[str] = set()  # every task token the workflow put on the work queue
        self.failed_records: list[dict[str, Any]] = []  # work messages the worker reported as failed
        self.outbox: Outbox | None = None  # the stream consumer, when a test runs the whole product

    def environment(self) -> dict[str, str]:
        return worker_environment(table=TABLE, topic_arn=self.experts_topic, secret_arn=self.secret_arn)

    # The state machine ------------------------------------------------------------------------------

    def state_machine(self, *, accept_seconds: int, resolve_seconds: int, reminder_seconds: int = 0,
                      work_queue_url: str | None = None, name: str = "tandem-human-escalation") -> str:
        definition = DEFINITION.read_text()
        substitutions = {
            "SessionsTable": TABLE, "WorkQueueUrl": work_queue_url or self.work_queue_url,
            "FallbackTopicArn": self.fallback_topic, "AcceptTimeoutSeconds": str(accept_seconds),
            "ExpertReminderSeconds": str(reminder_seconds), "ResolveTimeoutSeconds": str(resolve_seconds),
        }
        # Exactly these: on deploy, any other ${Name} would be read as a template reference.
        assert set(re.findall(r"\$\{([^}]*)\}", definition)) == set(substitutions)
        for placeholder, value in substitutions.items():
            definition = definition.replace("${" + placeholder + "}", value)
        return self.sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE_ARN,
                                             type="STANDARD")["stateMachineArn"]

    def start(self, state_machine_arn: str, escalation: EscalationRecord) -> str:
        """What the outbox's StepFunctionsStarter sends: one execution per escalation, named after it."""
        StepFunctionsStarter(state_machine_arn, lambda: self.sfn).start(escalation)
        prefix, machine = state_machine_arn.split(":stateMachine:", 1)
        return f"{prefix}:execution:{machine}:{escalation.escalation_id}"

    @staticmethod
    def execution_input(escalation: EscalationRecord) -> str:
        return json.dumps({"session_id": escalation.session_id, "escalation_id": escalation.escalation_id,
                           "reason": escalation.reason, "requested_at": escalation.requested_at})

    def describe(self, execution_arn: str) -> dict[str, Any]:
        return self.sfn.describe_execution(executionArn=execution_arn)

    def current_state(self, execution_arn: str) -> str | None:
        """The state the execution entered last (moto ignores reverseOrder, so the history is read forward)."""
        entered = self.states_entered(execution_arn)
        return entered[-1] if entered else None

    def states_entered(self, execution_arn: str) -> list[str]:
        events = self.sfn.get_execution_history(executionArn=execution_arn)["events"]
        return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]

    # The work queue -> the worker -------------------------------------------------------------------

    def pump(self) -> int:
        """Stands in for the Lambda event source mappings: the table's stream into the stream consumer (when
        there is an outbox), and SQS into the escalation worker (ReportBatchItemFailures): receives a batch,
        invokes the real handler, deletes the records it did not report as failed (those stay in the queue,
        invisible for the visibility time-out, as on AWS). Returns the work-queue records handled."""
        if self.outbox is not None:
            self.outbox.poller.poll()
        messages = self.sqs.receive_message(QueueUrl=self.work_queue_url, MaxNumberOfMessages=10,
                                            AttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        for message in messages:
            token = json.loads(message["Body"]).get("task_token")
            if token:
                self.tokens.add(token)
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": self.work_queue_arn, "awsRegion": "us-east-1",
        } for m in messages]}
        response = worker_handler.handler(event, self.context)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] in failed:
                self.failed_records.append(json.loads(message["Body"]))
            else:
                self.sqs.delete_message(QueueUrl=self.work_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def run_until(self, condition: Callable[[], bool], *, timeout: float = 8.0, what: str = "",
                  pump: bool = True) -> None:
        """Pumps the work queue (unless `pump` is False: messages then wait, as behind a slow event source)
        until `condition` holds; fails after `timeout` seconds (never waits forever)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pump:
                self.pump()
            if condition():
                return
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")

    def finish(self, execution_arn: str, *, timeout: float = 8.0) -> dict[str, Any]:
        """Runs the workflow to its end, then delivers what it left on the work queue; returns describe_execution."""
        self.run_until(lambda: self.describe(execution_arn)["status"] != "RUNNING", timeout=timeout,
                       what="the execution to end")
        self.run_until(lambda: self.pump() == 0, timeout=timeout, what="the work queue to empty")
        return self.describe(execution_arn)

    # Reading the results ----------------------------------------------------------------------------

    def state(self, escalation: EscalationRecord) -> EscalationState:
        return self.escalations.get(escalation.session_id, escalation.escalation_id)

    def escalation_item(self, escalation: EscalationRecord) -> dict[str, Any] | None:
        return table_item(self.ddb, TABLE, escalation.session_id, f"ESCALATION#{escalation.escalation_id}")

    def session_item(self, escalation: EscalationRecord) -> dict[str, Any]:
        return table_item(self.ddb, TABLE, escalation.session_id, "SESSION")

    def transcript(self, escalation: EscalationRecord) -> dict[str, Any]:
        """The session's transcript as the outbox materialises it from the table (through the stream when the
        test runs the outbox, else straight from the table)."""
        if self.outbox is not None:
            self.outbox.drain()
        else:
            TranscriptWriter(table_name=TABLE, bucket_name=BUCKET, ddb=lambda: self.ddb,
                             s3=lambda: self.s3).materialize(escalation.session_id)
        return read_transcript(self.s3, BUCKET, self.ddb, TABLE, escalation.session_id)

    def collect_mail(self) -> None:
        self.experts_mail += drain(self.sqs, self.experts_inbox)
        self.fallback_mail += drain(self.sqs, self.fallback_inbox)

    def assert_no_token_leaked(self, escalation: EscalationRecord) -> None:
        """No task token in any notification, in the transcript, or in any table attribute but the two
        that keep them for the expert API."""
        self.collect_mail()
        assert self.tokens, "the workflow sent no task token: nothing was checked"
        item = self.escalation_item(escalation) or {}
        kept = {item.get("accept_token"), item.get("resolve_token")} - {None}
        assert kept <= self.tokens
        visible = [json.dumps(self.experts_mail), json.dumps(self.fallback_mail),
                   json.dumps(self.transcript(escalation)),
                   json.dumps({k: v for k, v in item.items() if k not in ("accept_token", "resolve_token")}),
                   json.dumps(self.session_item(escalation))]
        for token in self.tokens:
            assert not [text for text in visible if token in text]

    def stop_running(self) -> None:
        """Stops what a test left waiting, so no execution thread outlives the mock."""
        for machine in self.sfn.list_state_machines()["stateMachines"]:
            for execution in self.sfn.list_executions(stateMachineArn=machine["stateMachineArn"],
                                                      statusFilter="RUNNING")["executions"]:
                self.sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture
def moto_config() -> dict[str, Any]:
    """moto runs a state machine's definition only when told to."""
    return {"stepfunctions": {"execute_state_machine": True}}


@pytest.fixture
def flow(aws, set_environment):
    flow = Flow(aws, worker_context())
    set_environment(flow.environment())
    yield flow
    flow.stop_running()
    if flow.outbox is not None:
        flow.outbox.close()
