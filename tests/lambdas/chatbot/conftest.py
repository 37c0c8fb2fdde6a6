"""Fixtures for the chatbot handler: moto for DynamoDB and S3, botocore Stubbers for Bedrock and Comprehend,
and the outbox (the stream consumer behind a stream poller) that turns what the chatbot stored into the
S3 transcript, as deployed.

A Stubber with no response queued fails any call it receives, so a test that queues nothing for Bedrock
also proves Bedrock was not called.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

import pytest
from botocore.stub import Stubber

from lambdas.chatbot.settings import ENV_VAR, ChatbotSettings
from stacks.config import defaults_as_context
from testing.outbox import Outbox, consumer_environment, idle_workflow

EVENTS = Path(__file__).resolve().parents[2] / "events"
TABLE = "tandem-sessions-test"
BUCKET = "tandem-transcripts-test"
CUSTOMER = "6f1c1c4e-1111-4a5b-9c2d-0123456789ab"


def chat_event(body: Any = None, *, raw_body: str | None = None, sub: str | None = CUSTOMER) -> dict[str, Any]:
    event = json.loads((EVENTS / "chat_request.json").read_text())
    event["body"] = raw_body if raw_body is not None else json.dumps(body)
    if sub is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["claims"]["sub"] = sub
    return event


@pytest.fixture
def aws(aws):
    """The chatbot's table and the outbox behind it: `aws.outbox`, `aws.workflow_arn`."""
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    aws.outbox = Outbox(TABLE)
    aws.workflow_arn = idle_workflow()
    yield aws
    aws.outbox.close()


@pytest.fixture
def bedrock(aws) -> Stubber:
    """The answer's Bedrock client."""
    return aws.stub("bedrock-runtime")


@pytest.fixture
def gate_bedrock(aws) -> Stubber:
    """The gate's Bedrock client (the llm detector)."""
    return aws.stub("bedrock-runtime", purpose="gate")


@pytest.fixture
def comprehend(aws) -> Stubber:
    return aws.stub("comprehend")


@pytest.fixture
def configure(aws, set_environment) -> Callable[..., dict[str, Any]]:
    """Sets the chatbot's environment from cdk.json defaults plus overrides (and the stream consumer's);
    returns the chatbot's settings."""

    def apply(**overrides: Any) -> dict[str, Any]:
        defaults = defaults_as_context()
        values = {k: copy.deepcopy(defaults[k]) for k in ChatbotSettings.context_keys()}
        values.update({"sentiment_detector": "vader", **overrides})
        set_environment({**consumer_environment(table=TABLE, bucket=BUCKET, state_machine_arn=aws.workflow_arn),
                         ENV_VAR: json.dumps(values)})
        return values

    apply()
    return apply


@pytest.fixture
def chat(configure, invoke) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Calls the real handler; returns (status code, parsed body)."""

    def call(body: Any = None, **event_kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = invoke(chat_event(body, **event_kwargs))
        return result["statusCode"], json.loads(result["body"])

    return call
