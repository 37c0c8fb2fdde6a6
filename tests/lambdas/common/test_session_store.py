"""SessionStore: loading sessions, the atomic turn write and its conflict retry, the conditional transcript PUT."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients, session_store
from lambdas.common.session_store import SessionNotFound, TranscriptWriteFailed, transcript_key
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, new_id
from tests.lambdas.common.conftest import BUCKET

CUSTOMER = "customer-sub-1"


def read_transcript(s3: Any, session) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=transcript_key(session.session_id, session.started_at))
                      ["Body"].read())


def texts(doc: dict[str, Any]) -> list[str]:
    return [t["text"] for t in doc["turns"]]


def started(store, *texts_: str):
    """A stored session with one customer/bot exchange per text."""
    session = store.new_session(new_id(), CUSTOMER)
    for text in texts_:
        store.record(session, [Turn(role="customer", text=text), Turn(role="bot", text=f"re: {text}")])
    return session


class S3Wrapper:
    """Delegates to the real (moto) S3 client; `before_put(n, kwargs)` runs before the n-th put_object."""

    def __init__(self, real: Any, before_put: Callable[[int, dict[str, Any]], None]):
        self._real = real
        self._before_put = before_put
        self.puts: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append({k: v for k, v in kwargs.items() if k != "Body"})
        self._before_put(len(self.puts), kwargs)
        return self._real.put_object(**kwargs)


def competing_write(s3: Any, session, text: str) -> None:
    """Another writer's turn lands in the transcript (an unconditional PUT, as if it won the race)."""
    key = transcript_key(session.session_id, session.started_at)
    try:
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except ClientError:
        doc = Transcript(session_id=session.session_id, started_at=session.started_at,
                         updated_at=session.started_at).to_dict()
    doc["turns"].append(Turn(role="customer", text=text).to_dict())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode())


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
    assert read_transcript(aws.s3, session)["escalations"] == [escalation.to_dict()]


# The transcript's conditional PUT -------------------------------------------------------------------------

def test_a_transcript_changed_between_read_and_write_is_merged_again(store, aws):
    session = started(store, "one")

    def race(n: int, kwargs: dict[str, Any]) -> None:
        if n == 1:
            competing_write(aws.s3, session, "from another writer")

    wrapper = S3Wrapper(aws.s3, race)
    clients.set_client("s3", wrapper)

    store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])

    doc = read_transcript(aws.s3, session)
    assert sorted(texts(doc)) == sorted(["one", "re: one", "from another writer", "two", "re: two"])
    assert len(wrapper.puts) == 2  # the first PUT lost against the competing version, the second merged it
    assert all("IfMatch" in put for put in wrapper.puts)
    assert wrapper.puts[0]["IfMatch"] != wrapper.puts[1]["IfMatch"]


def test_the_first_transcript_write_does_not_overwrite_a_concurrent_creation(store, aws):
    session = store.new_session(new_id(), CUSTOMER)

    def race(n: int, kwargs: dict[str, Any]) -> None:
        if n == 1:
            competing_write(aws.s3, session, "created by another writer")

    wrapper = S3Wrapper(aws.s3, race)
    clients.set_client("s3", wrapper)

    store.record(session, [Turn(role="customer", text="one"), Turn(role="bot", text="re: one")])

    assert sorted(texts(read_transcript(aws.s3, session))) == sorted(["created by another writer", "one", "re: one"])
    assert wrapper.puts[0]["IfNoneMatch"] == "*"
    assert "IfMatch" in wrapper.puts[1]


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict"])
def test_a_conditional_put_conflict_is_retried(store, aws, code):
    session = started(store, "one")

    def conflict_once(n: int, kwargs: dict[str, Any]) -> None:
        if n == 1:
            raise ClientError({"Error": {"Code": code, "Message": "At least one of the pre-conditions failed"}},
                              "PutObject")

    wrapper = S3Wrapper(aws.s3, conflict_once)
    clients.set_client("s3", wrapper)

    store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])

    assert texts(read_transcript(aws.s3, session)) == ["one", "re: one", "two", "re: two"]
    assert len(wrapper.puts) == 2


def test_a_transcript_that_changes_under_every_attempt_fails_after_the_limit(store, aws):
    session = started(store, "one")
    wrapper = S3Wrapper(aws.s3, lambda n, kwargs: competing_write(aws.s3, session, f"competitor {n}"))
    clients.set_client("s3", wrapper)

    with pytest.raises(TranscriptWriteFailed):
        store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])

    assert len(wrapper.puts) == session_store._TRANSCRIPT_WRITE_ATTEMPTS
    loaded = store.load(session.session_id, CUSTOMER, recent_items=10)
    assert [t.text for t in loaded.recent_turns] == ["one", "re: one", "two", "re: two"]  # DynamoDB has them


def test_other_s3_errors_are_not_retried(store, aws):
    session = started(store, "one")

    def denied(n: int, kwargs: dict[str, Any]) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    wrapper = S3Wrapper(aws.s3, denied)
    clients.set_client("s3", wrapper)

    with pytest.raises(TranscriptWriteFailed):
        store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])
    assert len(wrapper.puts) == 1


def test_an_unreadable_transcript_version_is_not_overwritten(store, aws):
    session = started(store, "one")
    key = transcript_key(session.session_id, session.started_at)
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"schema_version": 99}).encode())

    with pytest.raises(ValueError, match="schema_version"):
        store.write_transcript(session, [Turn(role="customer", text="two")], [], updated_at=session.started_at)
    assert json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == {"schema_version": 99}


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


@pytest.mark.parametrize("stored", [b"{not json", json.dumps({"schema_version": 2, "turns": []}).encode(),
                                    json.dumps({"schema_version": 1}).encode()],
                         ids=["bad-json", "unknown-version", "missing-fields"])
def test_record_reports_an_unreadable_transcript_as_a_transcript_failure(store, aws, stored):
    session = started(store, "one")
    key = transcript_key(session.session_id, session.started_at)
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=stored)

    with pytest.raises(TranscriptWriteFailed, match="unreadable"):
        store.record(session, [Turn(role="customer", text="two"), Turn(role="bot", text="re: two")])

    assert aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == stored  # not overwritten
    loaded = store.load(session.session_id, CUSTOMER, recent_items=10)
    assert [t.text for t in loaded.recent_turns] == ["one", "re: one", "two", "re: two"]
