"""Fixtures for the stream consumer: moto's sessions table (with its stream), transcripts bucket and Step
Functions; the real handler behind a StreamPoller (the outbox as deployed); a clock the tests can move."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import transcript_key
from lambdas.stream_consumer import handler as consumer_handler
from testing.outbox import BUSY_MESSAGE, Outbox, consumer_environment, idle_workflow

TABLE = "tandem-sessions-outbox"
BUCKET = "tandem-transcripts-outbox"
CUSTOMER = "customer-sub-1"
START_TIMEOUT = 30


class Clock:
    """The consumer's clock and sleep: time moves only when a test (or a retry pause) moves it."""

    def __init__(self, now: float):
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def aws(aws, set_environment):
    """The sessions table with its stream, the transcripts bucket, a workflow (`aws.workflow_arn`), the
    consumer's environment, the outbox (`aws.outbox`) and the stores (`aws.sessions`, `aws.escalations`)."""
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    aws.workflow_arn = idle_workflow()
    set_environment(consumer_environment(table=TABLE, bucket=BUCKET, state_machine_arn=aws.workflow_arn,
                                         start_timeout_seconds=START_TIMEOUT))
    aws.outbox = Outbox(TABLE)
    aws.sessions = SessionStore(table_name=TABLE, ttl_days=90)
    aws.escalations = EscalationStore(table_name=TABLE)
    yield aws
    aws.outbox.close()


@pytest.fixture
def clock(aws) -> Clock:
    """Installs a controllable clock in the consumer the handler builds."""
    import time

    clock = Clock(time.time())
    consumer = consumer_handler.dependencies.get()
    consumer.clock, consumer.sleep = clock, clock.sleep
    return clock


def read_transcript(aws: Any, session_id: str) -> dict[str, Any] | None:
    item = aws.ddb.get_item(TableName=TABLE, Key={"session_id": {"S": session_id}, "sk": {"S": "SESSION"}})["Item"]
    key = transcript_key(session_id, item["started_at"]["S"])
    try:
        return json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except aws.s3.exceptions.NoSuchKey:
        return None


def executions(aws: Any) -> list[str]:
    return [e["name"] for e in aws.sfn.list_executions(stateMachineArn=aws.workflow_arn)["executions"]]


__all__ = ["BUSY_MESSAGE", "CUSTOMER", "START_TIMEOUT"]
