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
from types import SimpleNamespace
from typing import Any, Callable

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.chatbot import handler as chatbot_handler
from lambdas.chatbot.settings import ENV_VAR, ChatbotSettings
from lambdas.common import clients
from stacks.config import defaults_as_context
from tests.aws_resources import create_sessions_table
from tests.bedrock_replies import comprehend_result, converse_text, converse_verdict  # noqa: F401 (re-exported)
from tests.lambda_context import lambda_context as make_context
from tests.outbox import Outbox, consumer_environment, idle_workflow

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
def lambda_context() -> SimpleNamespace:
    return make_context("tandem-chatbot", memory_mb=1024, qualifier="live")


@pytest.fixture
def aws():
    with mock_aws():
        clients.reset()
        chatbot_handler.dependencies.reset()
        ddb = boto3.client("dynamodb")
        create_sessions_table(ddb, TABLE)
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        outbox = Outbox(TABLE)
        yield SimpleNamespace(ddb=ddb, s3=boto3.client("s3"), outbox=outbox, workflow_arn=idle_workflow())
        outbox.close()
        clients.reset()
        chatbot_handler.dependencies.reset()


def _stubbed(service: str, purpose: str = "default") -> Stubber:
    client = boto3.client(service, region_name="us-east-1")
    stubber = Stubber(client)
    stubber.activate()
    clients.set_client(service, client, purpose=purpose)
    return stubber


@pytest.fixture
def bedrock(aws) -> Stubber:
    """The answer's Bedrock client."""
    return _stubbed("bedrock-runtime")


@pytest.fixture
def gate_bedrock(aws) -> Stubber:
    """The gate's Bedrock client (the llm detector)."""
    return _stubbed("bedrock-runtime", purpose="gate")


@pytest.fixture
def comprehend(aws) -> Stubber:
    return _stubbed("comprehend")


@pytest.fixture
def configure(monkeypatch, aws) -> Callable[..., dict[str, Any]]:
    """Sets the chatbot's environment from cdk.json defaults plus overrides (and the stream consumer's);
    returns the chatbot's settings."""

    def apply(**overrides: Any) -> dict[str, Any]:
        defaults = defaults_as_context()
        values = {k: copy.deepcopy(defaults[k]) for k in ChatbotSettings.context_keys()}
        values.update({"sentiment_detector": "vader", **overrides})
        for name, value in consumer_environment(table=TABLE, bucket=BUCKET,
                                                state_machine_arn=aws.workflow_arn).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv(ENV_VAR, json.dumps(values))
        chatbot_handler.dependencies.reset()
        return values

    apply()
    return apply


@pytest.fixture
def chat(configure, lambda_context) -> Callable[..., tuple[int, dict[str, Any]]]:
    """Calls the real handler; returns (status code, parsed body)."""

    def call(body: Any = None, **event_kwargs: Any) -> tuple[int, dict[str, Any]]:
        result = chatbot_handler.handler(chat_event(body, **event_kwargs), lambda_context)
        return result["statusCode"], json.loads(result["body"])

    return call
