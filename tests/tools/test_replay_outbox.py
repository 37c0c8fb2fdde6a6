"""tools/replay_outbox.py: what the outbox gave up on is done again from the table, with the consumer's code."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.common import clients
from lambdas.common.transcript import EscalationRecord, Turn, new_id
from tests.lambdas.stream_consumer import conftest as outbox
from tests.lambdas.stream_consumer.conftest import BUCKET, CUSTOMER, TABLE, executions, read_transcript
from tools import replay_outbox

aws = outbox.aws  # the replay tool works on the outbox's world: the stream consumer tests' `aws`

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def escalated_session(aws, *, minutes_ago: float = 0):
    session = aws.sessions.new_session(new_id(), CUSTOMER)
    customer = Turn(role="customer", text="I want a person")
    requested = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() - minutes_ago * 60))
    escalation = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=customer.turn_id,
                                  requested_at=requested)
    aws.sessions.record(session, [customer, Turn(role="system", text="An expert is coming.")], escalation)
    return session, escalation


def run(aws, *args: str) -> int:
    clients.reset()  # the tool builds its own clients, as a fresh process would
    return replay_outbox.main(["--table", TABLE, "--bucket", BUCKET, "--state-machine", aws.workflow_arn, *args])


def test_it_starts_what_never_started_and_writes_every_transcript(aws, capsys):
    session, escalation = escalated_session(aws)
    other = aws.sessions.new_session(new_id(), CUSTOMER)
    aws.sessions.record(other, [Turn(role="customer", text="hello")])

    assert run(aws) == 0

    assert executions(aws) == [escalation.escalation_id]
    assert [t["text"] for t in read_transcript(aws, session.session_id)["turns"]] == [
        "I want a person", "An expert is coming."]
    assert [t["text"] for t in read_transcript(aws, other.session_id)["turns"]] == ["hello"]
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (summary["sessions"], summary["EscalationsStarted"], summary["still_failing"]) == (2, 1, 0)


def test_running_it_again_changes_nothing(aws):
    session, _ = escalated_session(aws)
    run(aws)
    first = read_transcript(aws, session.session_id)

    assert run(aws) == 0

    assert len(executions(aws)) == 1 and read_transcript(aws, session.session_id) == first


def test_past_the_bound_an_escalation_that_cannot_start_is_withdrawn(aws):
    session, escalation = escalated_session(aws, minutes_ago=10)

    assert run(aws, "--state-machine", aws.workflow_arn.replace(":stateMachine:", ":stateMachine:gone-"),
               "--session", session.session_id) == 0

    assert aws.escalations.get(session.session_id, escalation.escalation_id).record.status == "failed"
    assert aws.sessions.load(session.session_id, CUSTOMER, recent_items=0).open_escalation_id is None


def test_what_still_fails_is_listed_and_the_exit_code_says_so(aws, capsys):
    session, escalation = escalated_session(aws)  # within the bound: not withdrawn yet

    code = run(aws, "--state-machine", aws.workflow_arn.replace(":stateMachine:", ":stateMachine:gone-"))

    assert code == 1
    assert f"escalation {escalation.escalation_id}" in capsys.readouterr().err


def test_without_names_it_refuses_to_run(capsys):
    assert replay_outbox.main([]) == 2
    assert "--table" in capsys.readouterr().err


def test_the_names_can_come_from_the_deployed_stacks(aws, capsys):
    session, escalation = escalated_session(aws)
    clients.reset()
    cloudformation = Stubber(boto3.client("cloudformation"))
    cloudformation.add_response("list_exports", {"Exports": [
        {"ExportingStackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/TandemData/1", "Name": name,
         "Value": value} for name, value in (("TandemData-SessionsTableName", TABLE),
                                              ("TandemData-TranscriptsBucketName", BUCKET),
                                              ("TandemData-KnowledgeBucketName", "unused"))]})
    cloudformation.add_response("describe_stacks", {"Stacks": [{
        "StackName": "TandemEscalation", "CreationTime": datetime(2026, 11, 30, tzinfo=timezone.utc),
        "StackStatus": "UPDATE_COMPLETE", "Outputs": [{"OutputKey": "StateMachineArn", "OutputValue": aws.workflow_arn},
                                                      {"OutputKey": "ExpertApiUrl", "OutputValue": "https://x/"}]}]},
        {"StackName": "TandemEscalation"})
    cloudformation.activate()
    clients.set_client("cloudformation", cloudformation.client)

    assert replay_outbox.main(["--stack-outputs"]) == 0

    cloudformation.assert_no_pending_responses()
    assert executions(aws) == [escalation.escalation_id]
    assert read_transcript(aws, session.session_id) is not None
