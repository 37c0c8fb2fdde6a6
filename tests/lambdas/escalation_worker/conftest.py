"""Fixtures for the escalation worker: moto for DynamoDB, S3, SNS (an SQS inbox captures the experts'
email) and Secrets Manager; a botocore Stubber on Step Functions (a Stubber with nothing queued fails any
call, so a test that queues nothing also proves the worker did not complete a task)."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from tests.lambdas.escalation_worker.helpers import SECRET, subscribed_inbox, work_event

TABLE = "tandem-sessions-worker"
BUCKET = "tandem-transcripts-worker"
API_URL = "https://experts.example.com/prod/"
EMAIL_TURNS = 4
BUSY = "All our experts are busy right now. A person from our team will contact you by email."
HANDBACK = "The expert has finished helping you; the assistant is back. Ask anything else here."


def worker_environment(*, table: str, topic_arn: str, secret_arn: str,
                       email_turns: int = EMAIL_TURNS) -> dict[str, str]:
    """The environment stacks/escalation_stack.py gives the function."""
    return {"SESSIONS_TABLE": table, "EXPERTS_TOPIC_ARN": topic_arn,
            "SIGNING_SECRET_ARN": secret_arn, "EXPERT_API_URL": API_URL,
            "EMAIL_TURNS": str(email_turns),
            "BUSY_MESSAGE": BUSY, "HANDBACK_MESSAGE": HANDBACK, "SESSION_TTL_DAYS": "90"}


@pytest.fixture
def aws(aws, set_environment):
    """The worker's surroundings: the experts' topic `aws.topic_arn` and its email `aws.inbox`, the link
    signing secret `aws.secret_arn`, the stores `aws.store` and `aws.escalations`, Step Functions `aws.sfn`
    (a Stubber)."""
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    aws.topic_arn = aws.create("experts_topic", "tandem-experts")
    aws.inbox = subscribed_inbox(aws.sns, aws.sqs, aws.topic_arn)
    aws.secret_arn = aws.create("link_signing_secret", "tandem-link-signing", secret_string=SECRET)
    set_environment(worker_environment(table=TABLE, topic_arn=aws.topic_arn, secret_arn=aws.secret_arn))
    aws.sfn = aws.stub("stepfunctions")
    aws.store = SessionStore(table_name=TABLE, ttl_days=90)
    aws.escalations = EscalationStore(table_name=TABLE)
    return aws


@pytest.fixture
def invoke(invoke) -> Callable[..., dict[str, Any]]:
    """Calls the real handler with an SQS event of `records`; returns its response (batchItemFailures)."""

    def call(*records: dict[str, Any]) -> dict[str, Any]:
        return invoke(work_event(*records))

    return call
