"""OutboxStack: the stream consumer on the sessions table's stream, its delivery guarantees, IAM and alarms;
and the app's stack dependencies, read from the synthesized cloud assembly."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from app import create_stacks
from local.cdk_app import app_context
from stacks.config import load_config
from stacks.outbox_stack import COUNTED, MAX_RECORD_AGE
from tests.stacks.conftest import as_list, statements


@pytest.fixture(scope="module")
def outbox(make_template):
    return make_template("outbox")


def consumer(template) -> dict:
    (function,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "lambdas.stream_consumer.handler.handler"]
    return function


def test_the_consumer_reads_the_sessions_tables_stream_and_never_drops_a_failure_silently(outbox):
    (mapping,) = [m["Properties"] for m in outbox.find_resources("AWS::Lambda::EventSourceMapping").values()]
    assert mapping["EventSourceArn"] == {"Fn::ImportValue": "TandemData-SessionsTableStreamArn"}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRecordAgeInSeconds"] == MAX_RECORD_AGE.to_seconds() < 24 * 3600  # the stream's retention
    assert mapping["MaximumRetryAttempts"] >= 1000
    (queue,) = [k for k in outbox.find_resources("AWS::SQS::Queue")]
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue, "Arn"]}


def test_a_withdrawal_always_comes_before_a_record_could_be_given_up():
    config = load_config(app_context())
    assert config.escalation_start_timeout_seconds <= 3600 < MAX_RECORD_AGE.to_seconds()


def test_the_consumer_gets_what_it_needs_and_no_more(outbox):
    env = consumer(outbox)["Environment"]["Variables"]
    assert {"SESSIONS_TABLE", "TRANSCRIPTS_BUCKET", "ESCALATION_STATE_MACHINE_ARN", "ESCALATION_START_TIMEOUT_SECONDS",
            "BUSY_MESSAGE", "SESSION_TTL_DAYS"} <= set(env)
    by_sid = {s.get("Sid"): s for s in statements(outbox)}
    assert sorted(as_list(by_sid["SessionItems"]["Action"])) == [
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    assert as_list(by_sid["StartEscalationWorkflow"]["Action"]) == ["states:StartExecution"]
    assert "HumanEscalation" in json.dumps(by_sid["StartEscalationWorkflow"]["Resource"])
    assert sorted(as_list(by_sid["TranscriptObjects"]["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert json.dumps(by_sid["TranscriptObjects"]["Resource"]).endswith('/transcripts/*"]]}')
    states = {a for s in statements(outbox) for a in as_list(s["Action"]) if a.startswith("states:")}
    assert states == {"states:StartExecution"}


def test_what_needs_a_person_raises_an_alarm(outbox):
    alarms = [a["Properties"] for a in outbox.find_resources("AWS::CloudWatch::Alarm").values()]
    metrics = {a.get("MetricName") for a in alarms}
    assert {"ApproximateNumberOfMessagesVisible", "IteratorAge", "Errors", *COUNTED} <= metrics
    assert all(a["AlarmDescription"] for a in alarms)


# The app's deployment order -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def assembly(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(context=app_context(), outdir=str(out))
    create_stacks(app, load_config(app_context()))
    app.synth()
    return out


def test_every_stack_is_deployed_after_every_stack_whose_exports_it_imports(assembly):
    manifest = json.loads((assembly / "manifest.json").read_text())
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    templates = {name: (assembly / a["properties"]["templateFile"]).read_text() for name, a in stacks.items()}
    exporter = {}
    for name, text in templates.items():
        for output in json.loads(text).get("Outputs", {}).values():
            if "Export" in output:
                exporter[json.dumps(output["Export"]["Name"])] = name
    checked = 0
    for name, text in templates.items():
        assert "Fn::GetStackOutput" not in text, f"{name} reads another stack's output by a weak reference"
        for export, producer in exporter.items():
            if producer != name and f'"Fn::ImportValue": {export}' in text:
                assert producer in stacks[name].get("dependencies", []), f"{name} imports from {producer}"
                checked += 1
    assert checked >= 10  # every stack but the data stack imports something


def test_the_chatbot_no_longer_waits_for_the_escalation_stack(assembly):
    manifest = json.loads((assembly / "manifest.json").read_text())
    assert "TandemEscalation" not in manifest["artifacts"]["TandemChatbot"].get("dependencies", [])
    assert {"TandemData", "TandemEscalation"} <= set(manifest["artifacts"]["TandemOutbox"]["dependencies"])
