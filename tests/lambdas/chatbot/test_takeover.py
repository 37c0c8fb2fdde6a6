"""The chatbot while a human expert owns the conversation, after hand-back, and how its escalation reaches the
workflow (through the outbox: the request path only records it)."""

from __future__ import annotations

import json

import boto3
import pytest

from lambdas.chatbot import handler as chatbot_handler
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Turn
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.conftest import CUSTOMER, TABLE
from tests.lambdas.chatbot.helpers import escalation_items, messages_event, session_item, transcript, turn_items

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
OTHER_CUSTOMER = "0b0b0b0b-2222-4c4c-8d8d-0123456789ab"


def take_over(ddb, session_id: str, expert: str = "Dana") -> None:
    """What the expert API's accept leaves on the session item."""
    ddb.update_item(TableName=TABLE, Key={"session_id": {"S": session_id}, "sk": {"S": "SESSION"}},
                    UpdateExpression="SET #owner = :expert", ExpressionAttributeNames={"#owner": "owner"},
                    ExpressionAttributeValues={":expert": {"S": expert}})


def hand_back(ddb, session_id: str) -> None:
    ddb.update_item(TableName=TABLE, Key={"session_id": {"S": session_id}, "sk": {"S": "SESSION"}},
                    UpdateExpression="REMOVE #owner, open_escalation_id", ExpressionAttributeNames={"#owner": "owner"})


def expert_says(session_id: str, text: str) -> Turn:
    store = SessionStore(table_name=TABLE, ttl_days=30)
    turn = Turn(role="expert", text=text)
    store.record(store.load(session_id, None, recent_items=0), [turn])
    return turn


def get_messages(lambda_context, session_id: str, after: str | None = None, sub: str = CUSTOMER):
    result = chatbot_handler.handler(messages_event(session_id, after, sub=sub), lambda_context)
    return result["statusCode"], json.loads(result["body"])


@pytest.fixture
def session_id(aws, bedrock, chat) -> str:
    bedrock.add_response("converse", converse_text("Hello! How can I help?"))
    _, body = chat({"message": "Hi"})
    return body["session_id"]


def test_while_an_expert_owns_the_session_no_model_is_called(aws, bedrock, chat, session_id):
    take_over(aws.ddb, session_id)
    # Nothing is queued on the Bedrock Stubber: any model call would fail this turn.
    status, body = chat({"message": "Are you there?", "session_id": session_id})

    assert status == 200
    assert body["reply"] is None
    assert body["expert_active"] is True and body["expert"] == "Dana"
    assert body["agent_active"] is True  # the field's former name, still sent for clients that read it
    turns = turn_items(aws.ddb, session_id)
    assert [(t["role"], t["text"]) for t in turns][-1] == ("customer", "Are you there?")
    assert "sentiment" not in turns[-1]  # no gate call either
    _, doc = transcript(aws, session_id)
    assert doc["turns"][-1]["text"] == "Are you there?"
    bedrock.assert_no_pending_responses()


def test_expert_replies_reach_the_customer_on_the_next_turn_and_by_polling(aws, chat, session_id, lambda_context):
    take_over(aws.ddb, session_id)
    reply = expert_says(session_id, "Hi, I'm Dana. Let me look at your order.")

    _, body = chat({"message": "Thanks", "session_id": session_id})
    assert [m["text"] for m in body["messages"]] == [reply.text]
    assert body["messages"][0]["role"] == "expert"

    later = expert_says(session_id, "It ships today.")
    status, polled = get_messages(lambda_context, session_id, after=body["messages"][0]["created_at"])
    assert status == 200
    assert [m["text"] for m in polled["messages"]] == ["Thanks", later.text]
    assert polled["expert_active"] is True and polled["closed"] is False
    assert polled["agent_active"] is True


def test_after_hand_back_the_bot_answers_again(aws, bedrock, chat, session_id):
    take_over(aws.ddb, session_id)
    chat({"message": "Still there?", "session_id": session_id})
    hand_back(aws.ddb, session_id)
    bedrock.add_response("converse", converse_text("Yes, the assistant is back."))

    _, body = chat({"message": "Anything else I should know?", "session_id": session_id})

    assert body["reply"] == "Yes, the assistant is back."
    assert "expert_active" not in body and "agent_active" not in body


def test_a_closed_session_takes_no_more_turns(aws, chat, session_id):
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": session_id}, "sk": {"S": "SESSION"}},
                        UpdateExpression="SET closed_at = :now", ExpressionAttributeValues={":now": {"S": "2026-11-25T02:00:00Z"}})
    before = len(turn_items(aws.ddb, session_id))

    status, body = chat({"message": "Hello again", "session_id": session_id})

    assert status == 409 and body["error"]["field"] == "session_id"
    assert len(turn_items(aws.ddb, session_id)) == before


def test_polling_while_an_escalation_is_open_tells_the_customer_how_long_they_wait_and_nothing_internal(
        aws, chat, configure, lambda_context):
    configure()  # vader: the request for a person escalates without a model call
    _, escalated = chat({"message": "I want to talk to a real person"})
    session_id = escalated["session_id"]
    (item,) = escalation_items(aws.ddb, session_id)
    record = json.loads(item["body"])

    _, before_the_workflow = get_messages(lambda_context, session_id)
    assert before_the_workflow["escalation"] == {"status": "pending", "requested_at": record["requested_at"]}

    # What the escalation worker keeps once the workflow waits for an accept (EscalationStore.keep_accept_token).
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": session_id}, "sk": {"S": item["sk"]}},
                        UpdateExpression="SET accept_token = :t, accept_round = :r, accept_deadline = :d, "
                                         "execution_arn = :e, reminders = :n",
                        ExpressionAttributeValues={":t": {"S": "AQCEAAAA+secret/token=="}, ":r": {"N": "1"},
                                                   ":d": {"S": "2026-11-25T01:35:00Z"}, ":n": {"N": "1"},
                                                   ":e": {"S": "arn:aws:states:us-east-1:123456789012:execution:x:y"}})
    status, waiting = get_messages(lambda_context, session_id)

    assert status == 200
    assert waiting["escalation"] == {"status": "pending", "requested_at": record["requested_at"],
                                     "accept_deadline": "2026-11-25T01:35:00Z"}
    text = json.dumps(waiting)
    for internal in ("secret/token", "arn:aws:states", "human_requested", record["explanation"]["signal"],
                     item["sk"].split("#", 1)[1]):
        assert internal not in text  # no token, execution, reason, gate explanation or escalation id

    hand_back(aws.ddb, session_id)  # the escalation is over (timed out, resolved): nothing to wait for
    _, after = get_messages(lambda_context, session_id)
    assert "escalation" not in after


@pytest.mark.parametrize("path_id, after, field", [
    ("not-a-uuid", None, "session_id"),
    ("8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1\n", None, "session_id"),  # 400, not a lookup that finds nothing
    ("8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "yesterday", "after"),
    ("8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "2026-11-25T01:20:00.123456Z\n", "after"),
])
def test_polling_rejects_bad_parameters(aws, configure, lambda_context, path_id, after, field):
    status, body = get_messages(lambda_context, path_id, after=after)
    assert status == 400 and body["error"]["field"] == field


def test_polling_another_customers_session_is_404(aws, session_id, lambda_context):
    status, body = get_messages(lambda_context, session_id, sub=OTHER_CUSTOMER)
    assert status == 404


def test_a_concurrent_escalation_that_won_is_joined_not_duplicated(aws, chat, configure, monkeypatch, session_id):
    service = chatbot_handler.dependencies.get()
    real_load = service.store.load
    stale = real_load(session_id, CUSTOMER, recent_items=4)  # read before the other turn escalated
    # The other turn of this session escalates between this turn's read and its write.
    other = EscalationRecord(session_id=session_id, reason="negative_sentiment", turn_id="t-other")
    SessionStore(table_name=TABLE, ttl_days=30).record(
        real_load(session_id, CUSTOMER, recent_items=0), [Turn(role="customer", text="This is awful")], other)
    calls = iter([stale])
    monkeypatch.setattr(service.store, "load", lambda *a, **k: next(calls, None) or real_load(*a, **k))

    status, body = chat({"message": "I want a human", "session_id": session_id})

    assert status == 200 and body["escalated"] is True
    assert body["escalation"] == {"escalation_id": other.escalation_id, "new": False}
    assert len(escalation_items(aws.ddb, session_id)) == 1
    assert turn_items(aws.ddb, session_id)[-2]["text"] == "I want a human"


# Starting the workflow ---------------------------------------------------------------------------------

def test_an_escalating_turn_only_records_and_the_outbox_starts_one_named_execution(aws, chat):
    sfn = boto3.client("stepfunctions")

    _, body = chat({"message": "Let me talk to a person"})

    # The response path wrote the table and nothing else: no execution yet.
    assert sfn.list_executions(stateMachineArn=aws.workflow_arn)["executions"] == []
    aws.outbox.drain()
    aws.outbox.drain()  # a replayed delivery starts nothing new
    executions = sfn.list_executions(stateMachineArn=aws.workflow_arn)["executions"]
    assert [e["name"] for e in executions] == [body["escalation"]["escalation_id"]]
    started = sfn.describe_execution(executionArn=executions[0]["executionArn"])
    assert json.loads(started["input"]) == {
        "session_id": body["session_id"], "escalation_id": body["escalation"]["escalation_id"],
        "reason": "human_requested", "requested_at": json.loads(escalation_items(aws.ddb, body["session_id"])[0]["body"])["requested_at"]}
    assert session_item(aws.ddb, body["session_id"])["open_escalation_id"] == body["escalation"]["escalation_id"]
