"""The outbox as OutboxStack deploys it, in one test process: the real stream consumer handler behind a
StreamPoller (local/stream_poller.py) standing in for the event source mapping on the sessions table."""

from __future__ import annotations

import boto3

from lambdas.stream_consumer import handler as consumer_handler
from lambdas.stream_consumer.settings import ConsumerSettings
from local.lambda_context import lambda_context
from local.stream_poller import StreamPoller

BUSY_MESSAGE = "All our experts are busy right now."
# A workflow that accepts executions and does nothing with them, for tests that only need starts to succeed.
IDLE_DEFINITION = '{"StartAt": "Idle", "States": {"Idle": {"Type": "Pass", "End": true}}}'


def consumer_environment(*, table: str, bucket: str, state_machine_arn: str, start_timeout_seconds: int = 30,
                         busy_message: str = BUSY_MESSAGE, ttl_days: int = 90) -> dict[str, str]:
    """The environment OutboxStack gives the function: its settings contract, filled in with these resources."""
    settings = ConsumerSettings(sessions_table=table, transcripts_bucket=bucket, state_machine_arn=state_machine_arn,
                                start_timeout_seconds=start_timeout_seconds, busy_message=busy_message,
                                session_ttl_days=ttl_days)
    return {**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Tandem"}


def idle_workflow(name: str = "tandem-escalation-idle") -> str:
    return boto3.client("stepfunctions").create_state_machine(
        name=name, definition=IDLE_DEFINITION, roleArn="arn:aws:iam::123456789012:role/idle")["stateMachineArn"]


class Outbox:
    def __init__(self, table: str):
        consumer_handler.dependencies.reset()
        self.poller = StreamPoller(table, consumer_handler.handler, lambda_context("tandem-stream_consumer"))

    def drain(self) -> None:
        """Delivers every change the table's stream holds to the consumer, as Lambda would."""
        self.poller.drain()

    def close(self) -> None:
        consumer_handler.dependencies.reset()

