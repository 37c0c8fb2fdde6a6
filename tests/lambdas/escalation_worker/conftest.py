"""Fixtures for the escalation worker: moto for DynamoDB, S3, SNS (an SQS inbox captures the experts'
email) and Secrets Manager; a botocore Stubber on Step Functions (a Stubber with nothing queued fails any
call, so a test that queues nothing also proves the worker did not complete a task)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.common import clients, signing
from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.escalation_worker import handler as worker_handler
from tests.aws_resources import create_sessions_table
from tests.lambdas.escalation_worker.helpers import SECRET, topic_with_inbox, work_event, worker_context
from tests.log_capture import CapturedLogs, captured

TABLE = "tandem-sessions-worker"
BUCKET = "tandem-transcripts-worker"
API_URL = "https://experts.example.com/prod/"
ACCEPT_TIMEOUT_SECONDS = 900
EMAIL_TURNS = 4
BUSY = "All our experts are busy right now. A person from our team will contact you by email."
HANDBACK = "The expert has finished helping you; the assistant is back. Ask anything else here."


def worker_environment(*, table: str, topic_arn: str, secret_arn: str,
                       email_turns: int = EMAIL_TURNS) -> dict[str, str]:
    """The environment stacks/escalation_stack.py gives the function."""
    return {"SESSIONS_TABLE": table, "EXPERTS_TOPIC_ARN": topic_arn,
            "SIGNING_SECRET_ARN": secret_arn, "EXPERT_API_URL": API_URL,
            "ACCEPT_TIMEOUT_SECONDS": str(ACCEPT_TIMEOUT_SECONDS), "EMAIL_TURNS": str(email_turns),
            "BUSY_MESSAGE": BUSY, "HANDBACK_MESSAGE": HANDBACK, "SESSION_TTL_DAYS": "90"}


@pytest.fixture
def lambda_context() -> SimpleNamespace:
    return worker_context()


@pytest.fixture
def aws(monkeypatch):
    with mock_aws():
        clients.reset()
        worker_handler.dependencies.reset()
        monkeypatch.setattr(signing, "_key_cache", {})
        ddb, s3, sns, sqs = (boto3.client(s) for s in ("dynamodb", "s3", "sns", "sqs"))
        create_sessions_table(ddb, TABLE)
        s3.create_bucket(Bucket=BUCKET)
        topic_arn, inbox = topic_with_inbox(sns, sqs, "tandem-experts")
        secret_arn = boto3.client("secretsmanager").create_secret(Name="tandem-link-signing",
                                                                   SecretString=SECRET)["ARN"]
        for name, value in worker_environment(table=TABLE, topic_arn=topic_arn, secret_arn=secret_arn).items():
            monkeypatch.setenv(name, value)
        sfn_client = boto3.client("stepfunctions")
        sfn = Stubber(sfn_client)
        sfn.activate()
        clients.set_client("stepfunctions", sfn_client)
        yield SimpleNamespace(ddb=ddb, s3=s3, sns=sns, sqs=sqs, topic_arn=topic_arn, inbox=inbox, sfn=sfn,
                              secret_arn=secret_arn,
                              store=SessionStore(table_name=TABLE, ttl_days=90),
                              escalations=EscalationStore(table_name=TABLE))
        sfn.deactivate()
        clients.reset()
        worker_handler.dependencies.reset()


@pytest.fixture
def invoke(aws, lambda_context) -> Callable[..., dict[str, Any]]:
    """Calls the real handler with an SQS event of `records`; returns its response (batchItemFailures)."""

    def call(*records: dict[str, Any]) -> dict[str, Any]:
        return worker_handler.handler(work_event(*records), lambda_context)

    return call


@pytest.fixture
def logs() -> CapturedLogs:
    """Every line the worker's Powertools logger writes (it holds the stdout of import time, which capsys
    does not see)."""
    with captured(worker_handler.logger) as found:
        yield found
