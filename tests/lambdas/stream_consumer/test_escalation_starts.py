"""The outbox starts the workflow of every escalation the table records, and withdraws one whose workflow
cannot start in time: the customer is told and the session can escalate again."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.transcript import EscalationRecord, Turn, new_id
from lambdas.stream_consumer import handler as consumer_handler
from lambdas.stream_consumer.consumer import WITHDRAWN_NOTE
from tests.lambdas.stream_consumer.conftest import (
    BUSY_MESSAGE,
    CUSTOMER,
    START_TIMEOUT,
    TABLE,
    executions,
    read_transcript,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def escalate(aws, session=None) -> EscalationRecord:
    """What the chatbot's escalating turn writes: the customer's turn, the hand-off and a pending escalation."""
    session = session or aws.sessions.new_session(new_id(), CUSTOMER)
    customer = Turn(role="customer", text="I want a person")
    escalation = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=customer.turn_id)
    aws.sessions.record(session, [customer, Turn(role="system", text="An expert is coming.")], escalation)
    return escalation


class RefusingStarts:
    """A Step Functions client whose StartExecution fails as when the service is unavailable."""

    def __init__(self, real):
        self._real = real
        self.refused = 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def start_execution(self, **kwargs):
        self.refused += 1
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "unavailable"},
                           "ResponseMetadata": {"HTTPStatusCode": 503}}, "StartExecution")


@pytest.fixture
def refusing(aws, clock) -> RefusingStarts:
    client = RefusingStarts(clients.client("stepfunctions"))
    clients.set_client("stepfunctions", client)
    return client


def test_each_recorded_escalation_starts_one_execution_named_after_it(aws):
    escalation = escalate(aws)

    aws.outbox.drain()
    consumer_handler.dependencies.reset()
    aws.outbox.poller.shards.clear()  # a new poller position: every record is delivered again
    aws.outbox.drain()

    assert executions(aws) == [escalation.escalation_id]
    (execution,) = aws.sfn.list_executions(stateMachineArn=aws.workflow_arn)["executions"]
    assert json.loads(aws.sfn.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "session_id": escalation.session_id, "escalation_id": escalation.escalation_id,
        "reason": "human_requested", "requested_at": escalation.requested_at}


def test_a_failing_start_is_retried_from_its_record_and_starts_once_step_functions_is_back(aws, refusing, clock):
    escalation = escalate(aws)

    for _ in range(3):
        aws.outbox.poller.poll()

    assert refusing.refused == 3 and aws.outbox.poller.failures == 3
    assert clock.slept and all(0 < s <= 2 for s in clock.slept)  # paced, not a tight loop
    assert aws.escalations.get(escalation.session_id, escalation.escalation_id).record.status == "pending"
    clients.set_client("stepfunctions", refusing._real)
    aws.outbox.drain()
    assert executions(aws) == [escalation.escalation_id]


def test_an_escalation_that_cannot_start_in_time_is_withdrawn_and_the_customer_told(aws, refusing, clock):
    escalation = escalate(aws)
    aws.outbox.poller.poll()
    clock.now += START_TIMEOUT

    aws.outbox.drain()

    state = aws.escalations.get(escalation.session_id, escalation.escalation_id)
    assert (state.record.status, state.record.note) == ("failed", WITHDRAWN_NOTE)
    assert state.record.ended_at and state.notices == ("busy",)
    session = aws.sessions.load(escalation.session_id, CUSTOMER, recent_items=10)
    assert session.open_escalation_id is None and session.owner is None
    assert [(t.role, t.text) for t in session.recent_turns][-1] == ("system", BUSY_MESSAGE)
    transcript = read_transcript(aws, escalation.session_id)
    assert transcript["turns"][-1]["text"] == BUSY_MESSAGE
    assert transcript["escalations"][0]["status"] == "failed"
    assert executions(aws) == []


def test_after_a_withdrawal_the_session_can_escalate_again(aws, refusing, clock):
    first = escalate(aws)
    aws.outbox.poller.poll()
    clock.now += START_TIMEOUT
    aws.outbox.drain()
    clients.set_client("stepfunctions", refusing._real)

    second = escalate(aws, aws.sessions.load(first.session_id, CUSTOMER, recent_items=0))
    aws.outbox.drain()

    assert executions(aws) == [second.escalation_id]
    assert aws.sessions.load(first.session_id, CUSTOMER, recent_items=0).open_escalation_id == second.escalation_id


def test_an_escalation_a_workflow_already_recorded_itself_on_is_not_withdrawn(aws, refusing, clock):
    escalation = escalate(aws)
    # The first start reached Step Functions but its answer was lost: RecordPending ran.
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": escalation.session_id},
                                              "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
                        UpdateExpression="SET execution_arn = :arn", ExpressionAttributeValues={":arn": {"S": "arn:x"}})
    clock.now += START_TIMEOUT

    aws.outbox.drain()

    state = aws.escalations.get(escalation.session_id, escalation.escalation_id)
    assert state.record.status == "pending" and state.notices == ()
    assert aws.sessions.load(escalation.session_id, CUSTOMER, recent_items=0).open_escalation_id == \
        escalation.escalation_id


def test_a_replayed_escalation_record_after_the_withdrawal_changes_nothing(aws, refusing, clock):
    escalation = escalate(aws)
    clock.now += START_TIMEOUT
    aws.outbox.drain()
    turns_after_withdrawal = aws.sessions.turns(escalation.session_id)

    aws.outbox.poller.shards.clear()  # every record delivered again, Step Functions still refusing
    aws.outbox.drain()

    assert aws.sessions.turns(escalation.session_id) == turns_after_withdrawal  # one busy notice, not two
    assert aws.escalations.get(escalation.session_id, escalation.escalation_id).record.status == "failed"


def test_an_escalation_the_session_no_longer_names_is_still_withdrawn_and_the_customer_told(aws, refusing, clock):
    escalation = escalate(aws)
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": escalation.session_id}, "sk": {"S": "SESSION"}},
                        UpdateExpression="REMOVE open_escalation_id")  # e.g. an operator's hand edit
    clock.now += START_TIMEOUT

    aws.outbox.drain()

    state = aws.escalations.get(escalation.session_id, escalation.escalation_id)
    assert (state.record.status, state.notices) == ("failed", ("busy",))
    assert [t.text for t in aws.sessions.turns(escalation.session_id)][-1] == BUSY_MESSAGE
