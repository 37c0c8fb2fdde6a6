"""The experts' inbox routes, called with events shaped like API Gateway's Cognito-authorized REST proxy events
(tests/events/expert_inbox.json: the claims of a Cognito ID token as the authorizer passes them, every value
text): who may use it, the list of open escalations from the index, one conversation, accept (one winner;
the other is told who), reply (once per reply_id), hand back and close; a refused request writes nothing."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY

from lambdas.common import clients
from lambdas.common.session_store import ESCALATIONS_BY_STATUS, SessionStore
from lambdas.common.transcript import EscalationRecord, Turn
from tests.lambdas.expert_api.conftest import (
    ACCEPT_TOKEN,
    CUSTOMER_TEXT,
    HANDBACK,
    RESOLVE_TOKEN,
    SAMPLE_ESCALATION_ID,
    TABLE,
    link,
)
from tests.lambdas.expert_api.helpers import escalation_item, session_item, snapshot, turns
from tests.lambdas.expert_api.test_accept import SerializedClient, accept_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
EVENT = Path(__file__).resolve().parents[2] / "events" / "expert_inbox.json"
ANN = "ann@example.com"
BOB = "bob@example.com"
REPLY_ID = "5f0c6a52-8a4e-4b8e-9d7e-2f1b3c4d5e6f"


def inbox_event(method: str, esc: Any = None, action: str = "", *, expert: str = ANN, groups: Any = "experts",
                body: Any = None, query: dict[str, str] | None = None) -> dict[str, Any]:
    """tests/events/expert_inbox.json, for this route: `esc` None is the list; `groups` None leaves the
    claim out; `body` a dict is sent as JSON, a str as it is."""
    event = json.loads(EVENT.read_text())
    if esc is None:
        resource, path, parameters = "/inbox/escalations", "/inbox/escalations", None
    else:
        resource = "/inbox/escalations/{session_id}/{escalation_id}" + (f"/{action}" if action else "")
        path = f"/inbox/escalations/{esc.session_id}/{esc.escalation_id}" + (f"/{action}" if action else "")
        parameters = {"session_id": esc.session_id, "escalation_id": esc.escalation_id}
    context = event["requestContext"]
    event.update(resource=resource, path=path, httpMethod=method, pathParameters=parameters)
    context.update(resourcePath=resource, httpMethod=method, path=f"/{context['stage']}{path}")
    claims = context["authorizer"]["claims"]
    claims["email"] = expert
    if groups is None:
        del claims["cognito:groups"]
    else:
        claims["cognito:groups"] = groups
    event["body"] = json.dumps(body) if isinstance(body, dict) else body
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return event


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def expect_accept(sfn: Any, expert: str = ANN) -> None:
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": expert})})


@pytest.fixture
def mine(escalation, sfn, call) -> Any:
    """The escalation accepted by Ann in the inbox; the worker has stored the resolve token."""
    expect_accept(sfn)
    status, _ = answer(call(inbox_event("POST", escalation, "accept")))
    assert status == 200
    sfn.assert_no_pending_responses()
    escalation.store.store_token(escalation.session_id, escalation.escalation_id, "resolve", RESOLVE_TOKEN)
    return escalation


# Who may use it ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("groups", ["experts", "[experts]", "[raters experts]", "raters,experts", '["experts"]',
                                    ["raters", "experts"]])
def test_a_member_of_the_experts_group_may_list_whatever_form_the_groups_claim_takes(escalation, call, groups):
    status, body = answer(call(inbox_event("GET", groups=groups)))
    assert status == 200 and body["expert"] == ANN


@pytest.mark.parametrize("groups", [None, "raters", "[raters]", "experts-team", "[expertsx raters]", ""])
def test_someone_outside_the_experts_group_is_refused_with_a_403_and_nothing_changes(aws, escalation, sfn, call,
                                                                                      groups):
    before = snapshot(aws)
    for event in (inbox_event("GET", groups=groups), inbox_event("POST", escalation, "accept", groups=groups)):
        status, body = answer(call(event))
        assert status == 403
        assert body["error"]["field"] == "authorization" and "experts group" in body["error"]["message"]
    assert snapshot(aws) == before


def test_a_request_without_claims_is_a_401(aws, escalation, call):
    event = inbox_event("GET")
    event["requestContext"]["authorizer"] = {"claims": None, "scopes": None}  # AWS's example without an authorizer
    status, body = answer(call(event))
    assert status == 401 and body["error"]["field"] == "authorization"
    del event["requestContext"]["authorizer"]
    assert answer(call(event))[0] == 401


def test_claims_without_an_email_are_a_401_and_an_unverified_email_a_403(aws, escalation, call):
    assert answer(call(inbox_event("GET", expert="")))[0] == 401  # an access token carries no email
    event = inbox_event("GET")
    event["requestContext"]["authorizer"]["claims"]["email_verified"] = "false"
    status, body = answer(call(event))
    assert status == 403 and "not verified" in body["error"]["message"]


# The list ------------------------------------------------------------------------------------------------

def another_escalation(reason: str = "human_requested", text: str = "Get me a person") -> EscalationRecord:
    sessions = SessionStore(table_name=TABLE, ttl_days=90)
    session = sessions.new_session(f"s-{reason}-{len(text)}", "customer-sub-2")
    ask = Turn(role="customer", text=text)
    record = EscalationRecord(session_id=session.session_id, reason=reason, turn_id=ask.turn_id)
    sessions.record(session, [ask], record)
    return record


def test_the_list_shows_every_open_escalation_pending_first_with_its_last_turns(aws, escalation, sfn, call):
    second = another_escalation()
    expect_accept(sfn)
    assert answer(call(inbox_event("POST", escalation, "accept")))[0] == 200

    status, body = answer(call(inbox_event("GET", expert=BOB)))

    assert status == 200 and body["expert"] == BOB
    first, last = body["escalations"]
    assert (first["escalation_id"], first["status"], first["reason"]) == (second.escalation_id, "pending",
                                                                           "human_requested")
    assert "accepted_by" not in first and first["yours"] is False and first["last_turns"][0]["text"] == "Get me a person"
    assert (last["escalation_id"], last["status"], last["accepted_by"]) == (escalation.escalation_id, "accepted", ANN)
    assert last["yours"] is False and last["accepted_at"]
    assert (last["sentiment"]["label"], last["sentiment"]["score"]) == ("negative", 0.93)
    assert last["explanation"]["signal"] == "comprehend negative 0.93 >= 0.75"
    assert last["requested_at"] == escalation.record.requested_at and last["waiting_seconds"] >= 0
    # The latest three turns, oldest first; the customer's words as the string they wrote.
    assert [t["role"] for t in last["last_turns"]] == ["bot", "customer", "system"]
    assert last["last_turns"][1]["text"] == CUSTOMER_TEXT
    assert ACCEPT_TOKEN not in json.dumps(body) and "accept_token" not in json.dumps(body)


def test_an_escalation_that_is_over_leaves_the_list(aws, mine, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": RESOLVE_TOKEN, "output": ANY})
    assert answer(call(inbox_event("POST", mine, "handback", body={"note": ""})))[0] == 200

    status, body = answer(call(inbox_event("GET")))

    assert status == 200 and body["escalations"] == []


class RecordingClient:
    """The DynamoDB client, noting each operation it is asked for."""

    def __init__(self, client: Any, calls: list[tuple[str, dict[str, Any]]]):
        self._client, self._calls = client, calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, kwargs))
            return attr(*args, **kwargs)

        return call


def test_the_list_is_a_query_of_the_status_index_never_a_scan(aws, escalation, call):
    calls: list[tuple[str, dict[str, Any]]] = []
    clients.set_client("dynamodb", RecordingClient(clients.client("dynamodb"), calls))

    assert answer(call(inbox_event("GET")))[0] == 200

    assert "scan" not in [name for name, _ in calls]
    index_queries = [kwargs for name, kwargs in calls if name == "query" and "IndexName" in kwargs]
    assert {q["IndexName"] for q in index_queries} == {ESCALATIONS_BY_STATUS}
    assert sorted(q["ExpressionAttributeValues"][":status"]["S"] for q in index_queries) == ["accepted", "pending"]


# One conversation ----------------------------------------------------------------------------------------

def test_a_conversation_is_its_escalation_and_turns_after_a_cursor(aws, escalation, call):
    status, body = answer(call(inbox_event("GET", escalation)))
    assert status == 200 and body["escalation"]["status"] == "pending"
    assert [t["role"] for t in body["turns"]] == ["customer", "bot", "customer", "system"]
    cursor = body["turns"][1]["created_at"]

    status, later = answer(call(inbox_event("GET", escalation, query={"after": cursor})))

    assert [t["text"] for t in later["turns"]] == [t["text"] for t in body["turns"][2:]]
    status, bad = answer(call(inbox_event("GET", escalation, query={"after": "yesterday"})))
    assert (status, bad["error"]["field"]) == (400, "after")


@pytest.mark.parametrize("session_id, escalation_id", [("8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "no-such-one"),
                                                       ("no-such-session", None), ("bad id!", None)])
def test_an_unknown_escalation_is_a_404(aws, escalation, call, session_id, escalation_id):
    other = type("Esc", (), {"session_id": session_id, "escalation_id": escalation_id or escalation.escalation_id})
    status, body = answer(call(inbox_event("GET", other)))
    assert status == 404


# Accept ----------------------------------------------------------------------------------------------------

def test_accept_claims_the_escalation_for_the_signed_in_email_and_completes_the_workflow_task(
        aws, escalation, sfn, call):
    expect_accept(sfn, ANN)

    status, body = answer(call(inbox_event("POST", escalation, "accept")))

    sfn.assert_no_pending_responses()  # send_task_success with the stored token and the expert's email
    assert status == 200 and body["escalation"]["status"] == "accepted" and body["escalation"]["yours"] is True
    item = escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)
    assert (item["status"], item["accepted_by"]) == ("accepted", ANN)
    assert session_item(aws.ddb, escalation.session_id)["owner"] == ANN


def test_two_experts_accepting_at_once_one_wins_and_the_other_is_told_who_and_when(aws, escalation, sfn, call):
    # Exactly one send_task_success is queued: a second one would fail that request with a 503.
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": ANY})
    clients.set_client("dynamodb", SerializedClient(clients.client("dynamodb"), threading.Barrier(2)))

    with ThreadPoolExecutor(2) as pool:
        futures = {who: pool.submit(call, inbox_event("POST", escalation, "accept", expert=who)) for who in (ANN, BOB)}
        answers = {who: answer(future.result(timeout=30)) for who, future in futures.items()}

    sfn.assert_no_pending_responses()
    assert sorted(status for status, _ in answers.values()) == [200, 409]
    (winner,) = [who for who, (status, _) in answers.items() if status == 200]
    (loser,) = [body for status, body in answers.values() if status == 409]
    item = escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)
    assert item["accepted_by"] == winner and session_item(aws.ddb, escalation.session_id)["owner"] == winner
    assert loser["error"]["accepted_by"] == winner and loser["error"]["accepted_at"] == item["accepted_at"]
    assert loser["error"]["message"] == f"This escalation was accepted by {winner} at {item['accepted_at']}."


def test_accepting_what_an_expert_took_by_the_emailed_link_names_them(aws, escalation, sfn, call):
    expect_accept(sfn, "Ann by link")
    assert call(accept_event(escalation, "Ann by link"))["statusCode"] == 303

    status, body = answer(call(inbox_event("POST", escalation, "accept", expert=BOB)))

    assert status == 409 and body["error"]["accepted_by"] == "Ann by link"
    # And the link's page, for an expert who clicks later, names who has it too.
    page = call(accept_event(escalation, "Bob"))
    assert page["statusCode"] == 409 and "accepted by Ann by link at" in page["body"]


@pytest.mark.parametrize("body, field", [
    ({"expert": "Ann"}, "expert"),  # the expert is the token's, not the body's
    ("not json", "body"),
    ("[1]", "body"),
])
def test_accept_with_a_bad_body_is_a_400_naming_the_field_and_claims_nothing(aws, escalation, call, body, field):
    before = snapshot(aws)
    status, answered = answer(call(inbox_event("POST", escalation, "accept", body=body)))
    assert (status, answered["error"]["field"]) == (400, field)
    assert snapshot(aws) == before


# Reply -----------------------------------------------------------------------------------------------------

def test_a_reply_reaches_the_customers_conversation_once_per_reply_id(aws, mine, call):
    event = inbox_event("POST", mine, "reply", body={"text": "Hello, I am Ann.", "reply_id": REPLY_ID})

    status, first = answer(call(event))
    again_status, again = answer(call(event))  # the answer was lost and the page sends it again

    assert (status, again_status) == (200, 200) and again["duplicate"] is True
    assert first["turn"]["turn_id"] == again["turn"]["turn_id"] == REPLY_ID
    assert [t["text"] for t in turns(aws.ddb, mine.session_id) if t["role"] == "expert"] == ["Hello, I am Ann."]


@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": "   ", "reply_id": REPLY_ID}, "text"),
    ({"text": 5, "reply_id": REPLY_ID}, "text"),
    ({"text": "hi"}, "reply_id"),
    ({"text": "hi", "reply_id": "not-a-uuid"}, "reply_id"),
    ({"txt": "hi", "reply_id": REPLY_ID}, "txt"),
    ({"text": "x" * 4001, "reply_id": REPLY_ID}, "text"),
    ("text=hi", "body"),  # not JSON
])
def test_a_bad_reply_is_a_400_naming_the_field_and_writes_nothing(aws, mine, call, body, field):
    before = snapshot(aws)
    status, answered = answer(call(inbox_event("POST", mine, "reply", body=body)))
    assert (status, answered["error"]["field"]) == (400, field), answered
    assert snapshot(aws) == before


def test_only_the_expert_who_accepted_may_reply_hand_back_or_close(aws, mine, call):
    before = snapshot(aws)
    for action, body in (("reply", {"text": "hi", "reply_id": REPLY_ID}), ("handback", {}), ("close", {})):
        status, answered = answer(call(inbox_event("POST", mine, action, expert=BOB, body=body)))
        assert status == 403 and answered["error"]["accepted_by"] == ANN, action
    assert snapshot(aws) == before


def test_a_reply_to_a_pending_escalation_is_a_409(aws, escalation, call):
    status, body = answer(call(inbox_event("POST", escalation, "reply", body={"text": "hi", "reply_id": REPLY_ID})))
    assert status == 409 and body["error"]["escalation_status"] == "pending"


# Hand back and close ---------------------------------------------------------------------------------------

def test_hand_back_resolves_with_the_note_and_the_assistant_takes_over(aws, mine, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": RESOLVE_TOKEN,
                                               "output": json.dumps({"resolved_by": ANN, "closed": False})})

    status, body = answer(call(inbox_event("POST", mine, "handback", body={"note": "Reset the DNS."})))

    sfn.assert_no_pending_responses()
    assert status == 200 and body["closed"] is False and body["escalation"]["status"] == "resolved"
    item = escalation_item(aws.ddb, mine.session_id, mine.escalation_id)
    assert (item["status"], item["note"]) == ("resolved", "Reset the DNS.")
    session = session_item(aws.ddb, mine.session_id)
    assert "owner" not in session and "closed_at" not in session
    assert turns(aws.ddb, mine.session_id)[-1]["text"] == HANDBACK


def test_close_resolves_and_closes_the_conversation(aws, mine, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": RESOLVE_TOKEN,
                                               "output": json.dumps({"resolved_by": ANN, "closed": True})})

    status, body = answer(call(inbox_event("POST", mine, "close")))  # no body: no note

    assert status == 200 and body["closed"] is True
    assert "closed_at" in session_item(aws.ddb, mine.session_id)
    assert re.search("closed", turns(aws.ddb, mine.session_id)[-1]["text"])


@pytest.mark.parametrize("body, field", [({"note": 3}, "note"), ({"close": True}, "close"),
                                         ({"note": "a\x00b"}, "note")])
def test_a_bad_hand_back_is_a_400_naming_the_field_and_resolves_nothing(aws, mine, call, body, field):
    before = snapshot(aws)
    status, answered = answer(call(inbox_event("POST", mine, "handback", body=body)))
    assert (status, answered["error"]["field"]) == (400, field)
    assert snapshot(aws) == before


def test_the_link_pages_still_work_beside_the_inbox(aws, mine, call):
    """An escalation accepted in the inbox can be read with a signed work link (the same record)."""
    event = json.loads((EVENT.parent / "expert_messages.json").read_text().replace(SAMPLE_ESCALATION_ID,
                                                                                  mine.escalation_id))
    event["queryStringParameters"] = link("work", mine)
    response = call(event)
    assert response["statusCode"] == 200 and json.loads(response["body"])["status"] == "accepted"

