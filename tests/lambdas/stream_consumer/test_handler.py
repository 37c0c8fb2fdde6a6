"""The stream consumer's handler: what it reports to the event source, bad records, bad settings."""

from __future__ import annotations

import pytest

from lambdas.common.env_settings import SettingsError
from lambdas.stream_consumer import handler as consumer_handler
from local.lambda_context import lambda_context
from tests.lambdas.chatbot.helpers import emitted_metrics

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
CONTEXT = lambda_context("tandem-stream_consumer")


def test_records_it_cannot_read_are_counted_and_skipped_not_retried(aws, capsys):
    event = {"Records": [
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1"}},  # no keys
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "2", "Keys": {
            "session_id": {"S": "s-1"}, "sk": {"S": "ESCALATION#e-1"}},
            "NewImage": {"status": {"S": "pending"}, "body": {"S": "{not json"}}}},
    ]}

    assert consumer_handler.handler(event, CONTEXT) == {"batchItemFailures": []}
    assert emitted_metrics(capsys.readouterr().out).get("MalformedStreamRecords") == 2


def test_an_empty_batch_reports_nothing(aws):
    assert consumer_handler.handler({"Records": []}, CONTEXT) == {"batchItemFailures": []}


@pytest.mark.parametrize(("name", "value"), [("ESCALATION_STATE_MACHINE_ARN", "not-an-arn"),
                                             ("ESCALATION_START_TIMEOUT_SECONDS", "5"), ("BUSY_MESSAGE", " ")])
def test_bad_settings_fail_the_invocation_naming_the_variable(aws, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    consumer_handler.dependencies.reset()

    with pytest.raises(SettingsError, match=name):
        consumer_handler.handler({"Records": []}, CONTEXT)
