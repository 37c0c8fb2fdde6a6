"""The transcript the outbox materialises from the table: complete, ordered, idempotent, rebuilt when the
stored one cannot be read, and never lost to a writer that raced it."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.thumbs import Thumb
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, new_id, transcript_key
from lambdas.stream_consumer.transcripts import (
    WRITE_ATTEMPTS,
    SessionItems,
    TranscriptConflict,
    TranscriptWriter,
    compose,
)
from tests.lambdas.stream_consumer.conftest import BUCKET, CUSTOMER, TABLE, read_transcript

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


@pytest.fixture
def writer(aws) -> TranscriptWriter:
    return TranscriptWriter(table_name=TABLE, bucket_name=BUCKET, ddb=lambda: clients.client("dynamodb"),
                            s3=lambda: clients.client("s3"))


def started(aws, *texts: str):
    session = aws.sessions.new_session(new_id(), CUSTOMER)
    for text in texts:
        aws.sessions.record(session, [Turn(role="customer", text=text), Turn(role="bot", text=f"re: {text}")])
    return session


def texts(doc: dict[str, Any]) -> list[str]:
    return [t["text"] for t in doc["turns"]]


class S3Wrapper:
    """Delegates to the real (moto) S3 client; `before_put(n)` runs before the n-th put_object."""

    def __init__(self, real: Any, before_put: Callable[[int], None]):
        self._real = real
        self._before_put = before_put
        self.puts: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_object(self, **kwargs: Any) -> Any:
        self.puts.append({k: v for k, v in kwargs.items() if k != "Body"})
        self._before_put(len(self.puts))
        return self._real.put_object(**kwargs)


def competing_write(aws, session, text: str) -> None:
    """Another writer's version lands (an unconditional PUT, as if it won the race)."""
    key = transcript_key(session.session_id, session.started_at)
    try:
        doc = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except ClientError:
        doc = Transcript(session_id=session.session_id, started_at=session.started_at,
                         updated_at=session.started_at).to_dict()
    doc["turns"].append(Turn(role="customer", text=text).to_dict())
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode())


# What it holds ----------------------------------------------------------------------------------------

def test_the_transcript_holds_every_turn_of_the_table_in_order_and_the_escalations_current_state(aws, writer):
    session = started(aws, "one", "two")
    customer = Turn(role="customer", text="a person please")
    escalation = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=customer.turn_id)
    aws.sessions.record(session, [customer], escalation)
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": session.session_id},
                                              "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
                        UpdateExpression="SET #s = :s, accepted_by = :e", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": "accepted"}, ":e": {"S": "Dana"}})

    assert writer.materialize(session.session_id) == ("written", 0)

    doc = read_transcript(aws, session.session_id)
    stored = aws.sessions.turns(session.session_id)
    assert [t["turn_id"] for t in doc["turns"]] == [t.turn_id for t in stored]
    assert texts(doc) == ["one", "re: one", "two", "re: two", "a person please"]
    assert [(e["status"], e["accepted_by"]) for e in doc["escalations"]] == [("accepted", "Dana")]
    assert doc["session_id"] == session.session_id and doc["schema_version"] == 2


def test_materialising_again_changes_nothing(aws, writer):
    session = started(aws, "one")
    writer.materialize(session.session_id)
    first = read_transcript(aws, session.session_id)

    writer.materialize(session.session_id)

    assert read_transcript(aws, session.session_id) == first


def test_turns_the_table_no_longer_has_stay_in_the_transcript(aws, writer):
    session = started(aws, "one", "two")
    writer.materialize(session.session_id)
    (oldest,) = [i for i in aws.ddb.scan(TableName=TABLE)["Items"] if i["sk"]["S"].startswith("TURN#")][:1]
    aws.ddb.delete_item(TableName=TABLE, Key={"session_id": oldest["session_id"], "sk": oldest["sk"]})  # its TTL

    aws.sessions.record(session, [Turn(role="customer", text="three")])
    writer.materialize(session.session_id)

    assert texts(read_transcript(aws, session.session_id)) == ["one", "re: one", "two", "re: two", "three"]


def test_a_version_1_transcript_keeps_its_expired_turns_with_the_expert_role_renamed(aws, writer):
    session = started(aws, "one")
    writer.materialize(session.session_id)
    key = transcript_key(session.session_id, session.started_at)
    doc = read_transcript(aws, session.session_id)
    # Written before the expert's role was renamed; its expert turn has since left the table by TTL.
    doc["schema_version"] = 1
    doc["turns"].append({"turn_id": "t-expired", "role": "agent", "text": "Expert here.",
                         "created_at": doc["turns"][-1]["created_at"]})
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode())

    aws.sessions.record(session, [Turn(role="customer", text="two")])
    writer.materialize(session.session_id)

    rewritten = read_transcript(aws, session.session_id)
    assert rewritten["schema_version"] == 2
    assert [(t["role"], t["text"]) for t in rewritten["turns"]] == [
        ("customer", "one"), ("bot", "re: one"), ("expert", "Expert here."), ("customer", "two")]


def test_a_session_the_table_no_longer_has_is_left_alone(aws, writer):
    assert writer.materialize("no-such-session") == ("no_session", 0)
    assert aws.s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_compose_orders_by_time_then_id_and_keeps_feedback():
    early, late = Turn(role="customer", text="a", created_at="2026-01-01T00:00:01.000000Z"), \
        Turn(role="bot", text="b", created_at="2026-01-01T00:00:02.000000Z")
    stored = Transcript(session_id="s", started_at="2026-01-01T00:00:00.000000Z",
                        updated_at="2026-01-01T00:00:03.000000Z", turns=[late], feedback=[{"rating": 5}])
    items = SessionItems(session_id="s", started_at=stored.started_at, updated_at="2026-01-01T00:00:02.500000Z",
                         turns=[late, early], escalations=[])

    composed = compose(items, stored)

    assert [t.text for t in composed.turns] == ["a", "b"]
    assert composed.feedback == [{"rating": 5}] and composed.updated_at == stored.updated_at


# Customers' thumbs ---------------------------------------------------------------------------------------

def bot_turn(aws, session_id: str) -> Turn:
    return next(t for t in aws.sessions.turns(session_id) if t.role == "bot")


def test_a_thumb_given_on_an_answer_reaches_the_transcript_through_the_stream(aws):
    session = started(aws, "one")
    aws.outbox.drain()
    answer = bot_turn(aws, session.session_id)
    thumb = Thumb(turn_id=answer.turn_id, thumb="down", given_at="2099-01-01T00:00:00.000000Z", comment="wrong")

    aws.sessions.set_thumb(session.session_id, answer, thumb)
    aws.outbox.drain()  # the turn item's MODIFY, as the stream delivers it

    doc = read_transcript(aws, session.session_id)
    assert doc["feedback"] == [{"kind": "thumb", "turn_id": answer.turn_id, "thumb": "down", "comment": "wrong",
                                "given_at": "2099-01-01T00:00:00.000000Z"}]
    assert doc["updated_at"] == thumb.given_at  # a thumb updates the transcript: the sampler's window sees it
    assert texts(doc) == ["one", "re: one"]


def test_a_thumb_changed_or_taken_back_changes_the_transcript(aws, writer):
    session = started(aws, "one")
    answer = bot_turn(aws, session.session_id)
    aws.sessions.set_thumb(session.session_id, answer, Thumb(answer.turn_id, "down", "2026-01-01T00:00:00Z"))
    writer.materialize(session.session_id)
    aws.sessions.set_thumb(session.session_id, answer, Thumb(answer.turn_id, "up", "2026-01-01T00:00:01Z"))
    writer.materialize(session.session_id)
    assert [f["thumb"] for f in read_transcript(aws, session.session_id)["feedback"]] == ["up"]

    aws.sessions.set_thumb(session.session_id, answer, None)
    writer.materialize(session.session_id)
    assert read_transcript(aws, session.session_id)["feedback"] == []


def test_the_thumb_of_a_turn_the_table_no_longer_has_stays_with_other_feedback():
    turn = Turn(role="bot", text="b", created_at="2026-01-01T00:00:02.000000Z")
    expired = {"kind": "thumb", "turn_id": "gone", "thumb": "up", "given_at": "2026-01-01T00:00:01.000000Z"}
    stale = {"kind": "thumb", "turn_id": turn.turn_id, "thumb": "up", "given_at": "2026-01-01T00:00:01.000000Z"}
    other = {"kind": "note", "text": "kept"}
    stored = Transcript(session_id="s", started_at="2026-01-01T00:00:00.000000Z",
                        updated_at="2026-01-01T00:00:03.000000Z", turns=[turn], feedback=[expired, stale, other])
    now = Thumb(turn_id=turn.turn_id, thumb="down", given_at="2026-01-01T00:00:04.000000Z")
    items = SessionItems(session_id="s", started_at=stored.started_at, updated_at="2026-01-01T00:00:02.500000Z",
                         turns=[turn], escalations=[], thumbs=[now])

    composed = compose(items, stored)

    assert composed.feedback == [expired, other, now.to_dict()]
    assert composed.updated_at == now.given_at


def test_an_unreadable_thumb_leaves_the_turn_in_the_transcript(aws, writer):
    session = started(aws, "one")
    answer = next(i for i in aws.ddb.scan(TableName=TABLE)["Items"] if i.get("role", {}).get("S") == "bot")
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": answer["session_id"], "sk": answer["sk"]},
                        UpdateExpression="SET feedback = :f", ExpressionAttributeValues={":f": {"S": '{"thumb": 5}'}})

    assert writer.materialize(session.session_id) == ("written", 0)

    doc = read_transcript(aws, session.session_id)
    assert texts(doc) == ["one", "re: one"] and doc["feedback"] == []


# When the stored transcript cannot be read -----------------------------------------------------------

@pytest.mark.parametrize("stored", [b"{not json", json.dumps({"schema_version": 2, "turns": []}).encode(),
                                    json.dumps({"schema_version": 1}).encode()],
                         ids=["bad-json", "unknown-version", "missing-fields"])
def test_an_unreadable_transcript_is_rebuilt_from_the_table(aws, writer, stored):
    session = started(aws, "one", "two")
    aws.s3.put_object(Bucket=BUCKET, Key=transcript_key(session.session_id, session.started_at), Body=stored)

    assert writer.materialize(session.session_id) == ("rebuilt", 0)

    assert texts(read_transcript(aws, session.session_id)) == ["one", "re: one", "two", "re: two"]


# Racing writers: the conditional PUT --------------------------------------------------------------------

def test_a_transcript_changed_between_read_and_write_is_composed_again(aws, writer):
    session = started(aws, "one")
    wrapper = S3Wrapper(aws.s3, lambda n: competing_write(aws, session, "from another writer") if n == 1 else None)
    clients.set_client("s3", wrapper)

    writer.materialize(session.session_id)

    assert sorted(texts(read_transcript(aws, session.session_id))) == sorted(["one", "re: one", "from another writer"])
    assert wrapper.puts[0]["IfNoneMatch"] == "*" and "IfMatch" in wrapper.puts[1]


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict"])
def test_a_conditional_put_conflict_is_retried(aws, writer, code):
    session = started(aws, "one")

    def conflict_once(n: int) -> None:
        if n == 1:
            raise ClientError({"Error": {"Code": code, "Message": "At least one of the pre-conditions failed"}},
                              "PutObject")

    wrapper = S3Wrapper(aws.s3, conflict_once)
    clients.set_client("s3", wrapper)

    writer.materialize(session.session_id)

    assert texts(read_transcript(aws, session.session_id)) == ["one", "re: one"]
    assert len(wrapper.puts) == 2


def test_a_transcript_that_changes_under_every_attempt_fails_after_the_limit(aws, writer):
    session = started(aws, "one")
    wrapper = S3Wrapper(aws.s3, lambda n: competing_write(aws, session, f"competitor {n}"))
    clients.set_client("s3", wrapper)

    with pytest.raises(TranscriptConflict):
        writer.materialize(session.session_id)
    assert len(wrapper.puts) == WRITE_ATTEMPTS


def test_other_s3_errors_are_raised_at_once(aws, writer):
    session = started(aws, "one")

    def denied(n: int) -> None:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "PutObject")

    wrapper = S3Wrapper(aws.s3, denied)
    clients.set_client("s3", wrapper)

    with pytest.raises(ClientError):
        writer.materialize(session.session_id)
    assert len(wrapper.puts) == 1


# Through the stream ---------------------------------------------------------------------------------

def test_a_session_changed_many_times_in_one_batch_is_written_once(aws, capsys):
    session = started(aws, "one", "two", "three")

    aws.outbox.drain()

    assert texts(read_transcript(aws, session.session_id))[-1] == "re: three"
    assert aws.outbox.poller.invocations == 1
    assert capsys.readouterr().out.count('"TranscriptsWritten":[1.0]') == 1


def test_a_failure_of_one_session_does_not_hold_back_another(aws):
    broken, healthy = started(aws, "one"), started(aws, "two")
    real = clients.client("s3")

    class RefusesOneSession:
        def __getattr__(self, name):
            return getattr(real, name)

        def put_object(self, **kwargs):
            if broken.session_id in kwargs["Key"]:
                raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "PutObject")
            return real.put_object(**kwargs)

    clients.set_client("s3", RefusesOneSession())
    aws.outbox.poller.poll()

    assert texts(read_transcript(aws, healthy.session_id)) == ["two", "re: two"]
    assert read_transcript(aws, broken.session_id) is None
    clients.set_client("s3", real)
    aws.outbox.drain()
    assert texts(read_transcript(aws, broken.session_id)) == ["one", "re: one"]


def test_items_expired_by_ttl_do_not_rewrite_a_transcript(aws):
    from lambdas.stream_consumer.changes import parse_record

    record = {"eventName": "REMOVE", "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
              "dynamodb": {"Keys": {"session_id": {"S": "s"}, "sk": {"S": "TURN#2026#t"}}, "SequenceNumber": "1"}}

    assert parse_record(record).shows_in_transcript is False
    assert parse_record({**record, "userIdentity": None}).shows_in_transcript is True


def test_an_item_no_retry_can_read_is_left_out_and_counted_not_retried(aws, capsys):
    session = started(aws, "one", "two")
    aws.ddb.put_item(TableName=TABLE, Item={"session_id": {"S": session.session_id},
                                            "sk": {"S": "TURN#2026-01-01T00:00:00.000000Z#x"}, "body": {"S": "{oops"}})

    aws.outbox.drain()

    assert texts(read_transcript(aws, session.session_id)) == ["one", "re: one", "two", "re: two"]
    assert aws.outbox.poller.failures == 0
    assert '"UnreadableTableItems":[1.0]' in capsys.readouterr().out
