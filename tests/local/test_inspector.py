"""local/inspector.py: the behind-the-scenes page's read of the local AWS. Sessions come back one each, with
their turns in the order they happened and their escalations; an execution's current state is the state it
last entered; transcripts are listed and read, and a missing one is a KeyError (the demo's 404)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Sentiment, Source, Turn
from local import inspector
from local.mailbox import LocalMailbox
from testing.waiting import wait_for

WAIT = 15.0


@pytest.fixture
def store(local_aws, local_environment) -> SessionStore:
    return SessionStore(table_name=local_aws.names["sessions_table"], ttl_days=1)


def at(second: int) -> str:
    return f"2031-04-05T10:00:{second:02d}.000000Z"


def test_sessions_come_back_one_each_with_turns_in_the_order_they_happened(local_aws, store):
    older, newer = f"older-{uuid.uuid4()}", f"newer-{uuid.uuid4()}"
    first = store.new_session(older, "customer-a")
    first.started_at = at(1)
    question = Turn(role="customer", text="Where is my <b>refund</b>?", turn_id="t-q", created_at=at(2),
                    sentiment=Sentiment(label="neutral", score=0.9, detector="vader"))
    answer = Turn(role="bot", text="It is on its way.", turn_id="t-a", created_at=at(3), model_id="model-x",
                  latency_ms=120, sources=(Source(uri="kb/refunds.md", excerpt="Refunds take 5 days", score=0.8),),
                  reply_to="t-q")
    angry = Turn(role="customer", text="Useless! A person, now.", turn_id="t-angry", created_at=at(5),
                 sentiment=Sentiment(label="negative", score=0.8, detector="vader"))
    escalation = EscalationRecord(session_id=older, reason="human_requested", turn_id="t-angry",
                                  escalation_id=f"esc-{uuid.uuid4()}", requested_at=at(5),
                                  explanation={"rule": "human_request_pattern", "signal": "pattern en:person",
                                               "excerpt": "A person"})
    # Written out of order: the later turns first, the earlier ones in a second write.
    store.record(first, [angry], escalation)
    store.record(first, [answer, question])
    second = store.new_session(newer, "customer-b")
    second.started_at = at(30)
    store.record(second, [Turn(role="customer", text="Hello", turn_id="t-hello", created_at=at(31))])
    # An idempotency record of the session: not a turn, not an escalation.
    local_aws.client("dynamodb").put_item(TableName=local_aws.names["sessions_table"], Item={
        "session_id": {"S": older}, "sk": {"S": "REQUEST#reply-1"}, "expires_at": {"N": "1"}})

    found = [s for s in inspector.sessions(local_aws) if s["session_id"] in (older, newer)]

    assert [s["session_id"] for s in found] == [newer, older]  # newest first
    by_id = {s["session_id"]: s for s in found}
    assert [t["turn_id"] for t in by_id[older]["turns"]] == ["t-q", "t-a", "t-angry"]
    assert by_id[older]["turns"][0] == question.to_dict()
    assert by_id[older]["turns"][1]["sources"] == [{"uri": "kb/refunds.md", "excerpt": "Refunds take 5 days",
                                                     "score": 0.8}]
    assert by_id[older]["escalations"] == [{**escalation.to_dict(), "experts_notified": False}]
    assert by_id[older]["customer_id"] == "customer-a"
    assert by_id[older]["started_at"] == at(1)
    assert by_id[older]["open_escalation_id"] == escalation.escalation_id
    assert type(by_id[older]["expires_at"]) is int  # DynamoDB's numbers as JSON numbers
    assert [t["text"] for t in by_id[newer]["turns"]] == ["Hello"]
    assert by_id[newer]["escalations"] == []
    json.dumps(found)  # what the demo serves as JSON


def test_an_escalation_shows_what_happened_to_it_since_and_never_its_task_tokens(local_aws, store):
    session_id = f"s-{uuid.uuid4()}"
    session = store.new_session(session_id, "customer-c")
    turn = Turn(role="customer", text="A person, please.", turn_id="t-1", created_at=at(1))
    escalation = EscalationRecord(session_id=session_id, reason="human_requested", turn_id="t-1",
                                  escalation_id=f"esc-{uuid.uuid4()}", requested_at=at(1))
    store.record(session, [turn], escalation)
    # What the worker and the expert API write on the item later (lambdas/common/escalations.py).
    local_aws.client("dynamodb").update_item(
        TableName=local_aws.names["sessions_table"],
        Key={"session_id": {"S": session_id}, "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
        UpdateExpression="SET #s = :s, accepted_by = :by, accepted_at = :at, accept_token = :t, notified_at = :at",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "accepted"}, ":by": {"S": "Sam"}, ":at": {"S": at(9)},
                                   ":t": {"S": "TASK-TOKEN-SECRET"}})

    (shown,) = next(s for s in inspector.sessions(local_aws) if s["session_id"] == session_id)["escalations"]

    assert (shown["status"], shown["accepted_by"], shown["accepted_at"]) == ("accepted", "Sam", at(9))
    assert shown["experts_notified"] is True
    assert "TASK-TOKEN-SECRET" not in json.dumps(inspector.sessions(local_aws))


def start(local_aws, escalation_id: str, session_id: str) -> str:
    """Starts the escalation workflow as the stream consumer does (lambdas/stream_consumer/starter.py)."""
    request = {"session_id": session_id, "escalation_id": escalation_id, "reason": "human_requested",
               "requested_at": at(5)}
    return str(local_aws.client("stepfunctions").start_execution(
        stateMachineArn=local_aws.state_machines["human_escalation"], name=escalation_id,
        input=json.dumps(request))["executionArn"])


def listed(local_aws, name: str) -> dict[str, Any] | None:
    return next((e for e in inspector.executions(local_aws) if e["name"] == name), None)


def test_a_workflow_waiting_for_an_expert_is_in_the_state_it_last_entered(local_aws, store):
    session_id, escalation_id = f"s-{uuid.uuid4()}", f"e-{uuid.uuid4()}"
    session = store.new_session(session_id, "customer-c")
    turn = Turn(role="customer", text="A person please", turn_id="t-1", created_at=at(40))
    store.record(session, [turn], EscalationRecord(session_id=session_id, reason="human_requested",
                                                   turn_id="t-1", escalation_id=escalation_id))
    arn = start(local_aws, escalation_id, session_id)

    # Configure, then RecordPending, then the wait for an expert's accept (nobody takes the work message here).
    waiting = wait_for(lambda: (e := listed(local_aws, escalation_id)) and
                       e["current_state"] == "NotifyExpertsAndWaitForAccept" and e,
                       what="the execution to wait for an accept", timeout=WAIT)
    assert waiting["workflow"] == "human_escalation"
    assert (waiting["status"], waiting["stopped_at"]) == ("RUNNING", None)
    assert inspector.current_state(local_aws.client("stepfunctions"), arn) == "NotifyExpertsAndWaitForAccept"


def test_a_finished_workflow_shows_its_last_state_not_its_first(local_aws):
    # No pending escalation with this id: RecordPending's condition fails and the workflow ends in NotPending.
    escalation_id = f"e-{uuid.uuid4()}"
    start(local_aws, escalation_id, f"s-{uuid.uuid4()}")

    done = wait_for(lambda: (e := listed(local_aws, escalation_id)) and e["status"] != "RUNNING" and e,
                    what="the execution to end", timeout=WAIT)

    assert (done["status"], done["current_state"]) == ("SUCCEEDED", "NotPending")
    assert done["stopped_at"] >= done["started_at"]


def test_transcripts_are_listed_and_read_and_a_missing_one_is_a_key_error(local_aws):
    s3 = local_aws.client("s3")
    bucket = local_aws.names["transcripts_bucket"]
    key = f"transcripts/dt=2031-04-05/{uuid.uuid4()}.json"
    body = {"schema_version": 2, "session_id": "s-1", "turns": [{"role": "customer", "text": "Hi"}]}
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode())

    (entry,) = [t for t in inspector.transcripts(local_aws) if t["key"] == key]
    assert entry["size"] == len(json.dumps(body).encode())
    assert entry["last_modified"]
    assert inspector.transcript(local_aws, key) == body
    with pytest.raises(KeyError):
        inspector.transcript(local_aws, key.replace(".json", "-missing.json"))


def test_the_snapshot_holds_every_part_and_is_json(local_aws, store):
    mailbox = LocalMailbox(local_aws)
    published = local_aws.client("sns").publish(TopicArn=local_aws.arns["experts_topic"], Subject="Hello",
                                                Message="Body")

    def arrived() -> bool:
        mailbox.poll()
        return any(m.mail_id == published["MessageId"] for m in mailbox.mails())
    wait_for(arrived, what="the mail", timeout=WAIT)

    snapshot = json.loads(json.dumps(inspector.snapshot(local_aws, mailbox)))

    assert set(snapshot) == {"sessions", "executions", "transcripts", "mails"}
    assert any(m["mail_id"] == published["MessageId"] and m["subject"] == "Hello" for m in snapshot["mails"])
