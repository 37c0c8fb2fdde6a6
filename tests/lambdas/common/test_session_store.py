"""SessionStore: loading sessions, the atomic turn write and its conflict retry, hand-back in the same write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients, session_store
from lambdas.common.session_store import SessionNotFound
from lambdas.common.transcript import EscalationRecord, Turn, new_id
from tests.lambdas.common.conftest import BUCKET, TABLE

CUSTOMER = "customer-sub-1"


def started(store, *texts_: str):
    """A stored session with one customer/bot exchange per text."""
    session = store.new_session(new_id(), CUSTOMER)
    for text in texts_:
        store.record(session, [Turn(role="customer", text=text), Turn(role="bot", text=f"re: {text}")])
    return session


# Loading -------------------------------------------------------------------------------------------------

def test_load_returns_the_recent_turns_oldest_first(store):
    session = started(store, "one", "two", "three")

    loaded = store.load(session.session_id, CUSTOMER, recent_items=4)

    assert [t.text for t in loaded.recent_turns] == ["two", "re: two", "three", "re: three"]
    assert loaded.started_at == session.started_at
    assert loaded.is_new is False and loaded.open_escalation_id is None


def test_load_of_an_unknown_session_or_another_customer_raises(store):
    session = started(store, "one")

    with pytest.raises(SessionNotFound):
        store.load(new_id(), CUSTOMER, recent_items=4)
    with pytest.raises(SessionNotFound):
        store.load(session.session_id, "someone-else", recent_items=4)


def test_record_stores_the_escalation_and_marks_it_open(store, aws):
    session = store.new_session(new_id(), CUSTOMER)
    customer = Turn(role="customer", text="agent please")
    escalation = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=customer.turn_id)

    store.record(session, [customer, Turn(role="system", text="hand-off")], escalation)

    loaded = store.load(session.session_id, CUSTOMER, recent_items=4)
    assert loaded.open_escalation_id == escalation.escalation_id
    (item,) = [i for i in aws.ddb.scan(TableName=TABLE)["Items"] if i["sk"]["S"].startswith("ESCALATION#")]
    assert json.loads(item["body"]["S"]) == escalation.to_dict() and item["status"]["S"] == "pending"


def test_record_touches_dynamodb_only(store, aws):
    aws.s3.delete_bucket(Bucket=BUCKET)  # the transcript is the outbox's job: a turn does not need S3

    session = started(store, "one")

    assert [t.text for t in store.load(session.session_id, CUSTOMER, recent_items=4).recent_turns] == ["one", "re: one"]


def test_record_can_hand_the_session_back_in_the_same_write(store, aws):
    session = store.new_session(new_id(), CUSTOMER)
    customer = Turn(role="customer", text="agent please")
    escalation = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=customer.turn_id)
    store.record(session, [customer], escalation)

    with pytest.raises(ClientError):  # only the escalation that holds the session can release it
        store.record(session, [Turn(role="system", text="nope")], release="another-escalation")
    store.record(session, [Turn(role="system", text="busy")], release=escalation.escalation_id)

    loaded = store.load(session.session_id, CUSTOMER, recent_items=4)
    assert loaded.open_escalation_id is None and loaded.owner is None
    assert [t.text for t in loaded.recent_turns] == ["agent please", "busy"]


def test_turns_between_two_times(store):
    session = started(store, "one", "two", "three")
    turns = store.turns(session.session_id)

    assert [t.text for t in store.turns(session.session_id, until=turns[1].created_at)] == ["one", "re: one"]
    assert [t.text for t in store.turns(session.session_id, after=turns[1].created_at,
                                        until=turns[3].created_at)] == ["two", "re: two"]
    assert [t.text for t in store.turns(session.session_id, limit=1, until=turns[2].created_at)] == ["two"]


# The DynamoDB transaction's conflict retry -------------------------------------------------------------------

class FakeDynamoDB:
    """Fails transact_write_items with the given cancellation reasons, `failures` times, then succeeds."""

    def __init__(self, reasons: list[str], failures: int):
        self.reasons = reasons
        self.failures = failures
        self.calls: list[dict[str, Any]] = []

    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if len(self.calls) <= self.failures:
            raise ClientError({
                "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                "CancellationReasons": [{"Code": code} for code in self.reasons],
            }, "TransactWriteItems")
        return {}


@pytest.fixture
def no_sleep(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(session_store.time, "sleep", slept.append)
    return slept


WRITES = [{"Put": {"TableName": "t", "Item": {"session_id": {"S": "s"}, "sk": {"S": "TURN#1"}}}}]


def test_a_transaction_conflict_is_retried_with_the_same_token(store, no_sleep):
    fake = FakeDynamoDB(["None", "TransactionConflict"], failures=1)
    clients.set_client("dynamodb", fake)

    store._transact(WRITES, token="turn-1")

    assert len(fake.calls) == 2
    assert fake.calls[0] == fake.calls[1] == {"TransactItems": WRITES, "ClientRequestToken": "turn-1"}
    assert len(no_sleep) == 1 and 0 <= no_sleep[0] <= 0.05


def test_a_transaction_conflicting_every_time_gives_up_after_the_limit(store, no_sleep):
    fake = FakeDynamoDB(["TransactionConflict"], failures=100)
    clients.set_client("dynamodb", fake)

    with pytest.raises(ClientError) as raised:
        store._transact(WRITES, token="turn-1")

    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert len(fake.calls) == session_store._TRANSACTION_ATTEMPTS


@pytest.mark.parametrize("reasons", [["ConditionalCheckFailed"], ["None", "ValidationError"]])
def test_other_cancellations_are_not_retried(store, no_sleep, reasons):
    fake = FakeDynamoDB(reasons, failures=1)
    clients.set_client("dynamodb", fake)

    with pytest.raises(ClientError):
        store._transact(WRITES, token="turn-1")

    assert len(fake.calls) == 1 and no_sleep == []


def test_record_retries_a_conflicting_transaction_end_to_end(store, aws, no_sleep):
    session = started(store, "one")
    real = clients.client("dynamodb")
    attempts: list[int] = []

    class ConflictOnce:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            attempts.append(1)
            if len(attempts) == 1:
                raise ClientError({"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                                   "CancellationReasons": [{"Code": "TransactionConflict"}]}, "TransactWriteItems")
            return real.transact_write_items(**kwargs)

    clients.set_client("dynamodb", ConflictOnce())

    store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])

    assert len(attempts) == 2
    loaded = store.load(session.session_id, CUSTOMER, recent_items=10)
    assert [t.text for t in loaded.recent_turns] == ["one", "re: one", "two", "re: two"]
