"""What the outbox pushes to the live channel: the real handler behind the stream poller, moto's sessions
table and connections table, and moto's API Gateway @connections API (what was posted to each connection)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto.apigatewaymanagementapi.models import apigatewaymanagementapi_backends

from lambdas.common import clients
from lambdas.common.connections import Connection, ConnectionStore, customer_listener, expert_listener
from lambdas.common.transcript import EscalationRecord, Turn, new_id
from tests.lambdas.stream_consumer.conftest import CUSTOMER

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
CONNECTIONS = "tandem-live-connections-outbox"
ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/live"


@pytest.fixture
def live(aws, set_environment) -> ConnectionStore:
    aws.create("connections_table", CONNECTIONS)
    set_environment({"LIVE_ENDPOINT": ENDPOINT, "CONNECTIONS_TABLE": CONNECTIONS})
    store = ConnectionStore(table_name=CONNECTIONS)
    store.add(Connection("cust-1", customer_listener(CUSTOMER)))
    store.add(Connection("cust-2", customer_listener(CUSTOMER)))  # a second tab
    store.add(Connection("other", customer_listener("another-customer")))
    store.add(Connection("eva-inbox", expert_listener("Eva@example.com"), room="inbox"))
    return store


def pushed(connection_id: str) -> list[dict[str, Any]]:
    """The events posted to one connection, in order (moto appends the posted bytes)."""
    data = apigatewaymanagementapi_backends["123456789012"]["us-east-1"].connections.get(connection_id)
    text, events, decoder = (data.data.decode() if data else ""), [], json.JSONDecoder()
    while text:
        event, end = decoder.raw_decode(text)
        events.append(event)
        text = text[end:]
    return events


def converse(aws, *texts: str, escalate: bool = False):
    session = aws.sessions.new_session(new_id(), CUSTOMER)
    for text in texts:
        aws.sessions.record(session, [Turn(role="customer", text=text), Turn(role="bot", text=f"re: {text}")])
    escalation = None
    if escalate:
        question = Turn(role="customer", text="I want a person")
        escalation = EscalationRecord(session_id=session.session_id, reason="customer asked for a human",
                                      turn_id=question.turn_id)
        aws.sessions.record(session, [question, Turn(role="system", text="An expert is coming.")], escalation)
    return session, escalation


def test_a_new_turn_reaches_every_tab_of_its_customer_and_nobody_else(aws, live):
    session, _ = converse(aws, "where is my parcel?")
    aws.outbox.drain()
    for tab in ("cust-1", "cust-2"):
        events = pushed(tab)
        assert [(e["type"], e["turn"]["role"], e["turn"]["text"]) for e in events] == [
            ("turn", "customer", "where is my parcel?"), ("turn", "bot", "re: where is my parcel?")]
        assert all(e["v"] == 1 and e["session_id"] == session.session_id and e["id"] == e["turn"]["turn_id"]
                   for e in events)
    assert pushed("other") == []
    assert pushed("eva-inbox") == []  # not escalated: no expert's business


def test_an_escalation_reaches_the_inbox_with_its_reason_and_the_customer_without(aws, live):
    session, escalation = converse(aws, "hello", escalate=True)
    aws.outbox.drain()
    inbox = [e for e in pushed("eva-inbox") if e["type"] == "escalation"]
    assert [e["escalation"]["status"] for e in inbox] == ["pending"]
    assert inbox[0]["escalation"]["reason"] == "customer asked for a human"
    assert inbox[0]["id"].startswith(f"{escalation.escalation_id}:")
    customer = [e for e in pushed("cust-1") if e["type"] == "escalation"]
    assert customer[0]["escalation"]["status"] == "pending"
    assert not {"reason", "sentiment", "explanation", "turn_id"} & customer[0]["escalation"].keys()
    # While it is escalated, the conversation's turns reach the inbox too (a batch is judged by the session's
    # state when it is read, so turns from just before the escalation may come along).
    assert [e["turn"]["text"] for e in pushed("eva-inbox") if e["type"] == "turn"][-2:] == [
        "I want a person", "An expert is coming."]


def test_an_accept_is_pushed_once_and_bookkeeping_is_not(aws, live):
    session, escalation = converse(aws, "hello", escalate=True)
    aws.outbox.drain()
    before = len(pushed("cust-1"))
    aws.escalations.store_token(session.session_id, escalation.escalation_id, "accept", "a-task-token")
    aws.escalations.mark_notified(session.session_id, escalation.escalation_id)
    aws.outbox.drain()
    assert len(pushed("cust-1")) == before  # tokens and flags: nothing anyone sees
    aws.escalations.accept(session.session_id, escalation.escalation_id, "eva@example.com")
    aws.outbox.drain()
    [accepted] = pushed("cust-1")[before:]
    assert accepted["escalation"]["status"] == "accepted"
    assert accepted["escalation"]["accepted_by"] == "eva@example.com"  # the chat names the expert anyway
    assert pushed("eva-inbox")[-1]["escalation"]["accepted_by"] == "eva@example.com"
    assert "a-task-token" not in json.dumps(pushed("eva-inbox"))


def test_every_change_a_person_sees_gets_an_event_of_its_own(aws, live):
    """Clients drop an event whose id they have seen: the deadline set while the escalation stays pending, and
    a second accept after the first was undone, must not look like the events before them."""
    session, escalation = converse(aws, "hello", escalate=True)
    sid, eid = session.session_id, escalation.escalation_id
    aws.outbox.drain()
    aws.escalations.keep_accept_token(sid, eid, "round-1-token", round=1, deadline="2026-12-01T05:00:00Z")
    aws.outbox.drain()
    claim = aws.escalations.accept(sid, eid, "eva@example.com")
    aws.outbox.drain()
    assert aws.escalations.undo_accept(sid, eid, expert="eva@example.com", accepted_at=claim.record.accepted_at,
                                       token=claim.token)
    aws.outbox.drain()
    aws.escalations.accept(sid, eid, "eva@example.com")
    aws.outbox.drain()
    events = [e for e in pushed("cust-1") if e["type"] == "escalation"]
    assert [(e["escalation"]["status"], e["escalation"].get("accept_deadline")) for e in events] == [
        ("pending", None), ("pending", "2026-12-01T05:00:00Z"), ("accepted", "2026-12-01T05:00:00Z"),
        ("pending", "2026-12-01T05:00:00Z"), ("accepted", "2026-12-01T05:00:00Z")]
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids), ids


class FailingFor:
    """The management client, failing for some connections with a given AWS error code."""

    def __init__(self, real: Any, failing: dict[str, str]):
        self.real, self.failing, self.calls = real, failing, []

    def post_to_connection(self, *, ConnectionId: str, Data: bytes) -> None:
        self.calls.append(ConnectionId)
        code = self.failing.get(ConnectionId)
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": 410}},
                              "PostToConnection")
        self.real.post_to_connection(ConnectionId=ConnectionId, Data=Data)


def install(failing: dict[str, str]) -> FailingFor:
    import boto3

    client = FailingFor(boto3.client("apigatewaymanagementapi", endpoint_url=ENDPOINT), failing)
    clients.set_client("apigatewaymanagementapi", client)
    return client


def test_a_gone_connection_is_forgotten_and_the_others_still_get_the_event(aws, live):
    install({"cust-1": "GoneException"})
    converse(aws, "anyone there?")
    aws.outbox.drain()
    assert live.listening(customer_listener(CUSTOMER)) == ["cust-2"]
    assert [e["turn"]["text"] for e in pushed("cust-2")] == ["anyone there?", "re: anyone there?"]


def test_a_failed_post_is_retried_with_the_record_and_delivered_at_least_once(aws, live):
    client = install({"cust-1": "LimitExceededException"})
    converse(aws, "hello")
    aws.outbox.poller.poll()
    assert aws.outbox.poller.failures == 1 and pushed("cust-1") == []
    client.failing.clear()
    aws.outbox.drain()
    texts = [e["turn"]["text"] for e in pushed("cust-1")]
    assert texts == ["hello", "re: hello"]
    # The other tab got it in the first delivery and again with the retry: at least once, named the same.
    again = [e["id"] for e in pushed("cust-2")]
    assert len(again) == 3 and len(set(again)) == 2
    assert sorted(live.listening(customer_listener(CUSTOMER))) == ["cust-1", "cust-2"]  # throttled is not gone


def test_without_the_live_channel_nothing_is_pushed(aws, set_environment):
    set_environment({"LIVE_ENDPOINT": None, "CONNECTIONS_TABLE": None})
    converse(aws, "hello")
    aws.outbox.drain()
    assert pushed("cust-1") == []
