"""POST reply and resolve with the work link: the expert's turns reach DynamoDB (the outbox takes them into
the transcript), the resolution hands the conversation back (or closes it), writes the knowledge-base
document and completes the workflow's resolve task; out-of-order requests are 409s that change nothing,
and a form sent twice stores one reply. After the resolve, the link no longer shows what follows."""

from __future__ import annotations

import json
import re

import pytest

from lambdas.common.escalations import EscalationConflict
from lambdas.common.transcript import Turn
from lambdas.expert_api import actions
from lambdas.expert_api import handler as expert_handler
from lambdas.expert_api.actions import CLOSED_MESSAGE
from tests.lambdas.expert_api.conftest import (
    ACCEPT_TOKEN,
    CUSTOMER_TEXT,
    HANDBACK,
    KNOWLEDGE_BUCKET,
    KNOWLEDGE_PREFIX,
    RESOLVE_TOKEN,
    expert_event,
    link,
    pii_found,
)
from tests.lambdas.expert_api.helpers import (
    escalation_item,
    expect_resolve,
    link_in,
    objects,
    reply_event,
    resolve_event,
    session_item,
    snapshot,
    turns,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


# Reply ------------------------------------------------------------------------------------------------------

def test_a_reply_is_stored_as_an_expert_turn(aws, accepted, call):
    response = call(reply_event(accepted, "Hello, I'm Ann.\r\nLet's fix this."))

    assert response["statusCode"] == 303
    assert link_in(response["headers"]["Location"])[0] == f"/prod/escalations/{accepted.escalation_id}/console"
    last = turns(aws.ddb, accepted.session_id)[-1]
    assert (last["role"], last["text"]) == ("expert", "Hello, I'm Ann.\nLet's fix this.")


def test_the_same_reply_form_sent_twice_stores_one_reply(aws, accepted, call):
    console = call(expert_event("console", accepted.escalation_id, query=link_in(accepted.console_path)[1]))
    (reply_id,) = re.findall(r'name="reply_id" value="([0-9a-f-]{36})"', console["body"])
    form = {**link("work", accepted), "text": "On my way.", "reply_id": reply_id}

    first = call(expert_event("reply", accepted.escalation_id, form=form))
    second = call(expert_event("reply", accepted.escalation_id, form=form))  # a double click, a resubmitted POST

    assert first["statusCode"] == second["statusCode"] == 303
    assert [t["text"] for t in turns(aws.ddb, accepted.session_id)].count("On my way.") == 1
    assert [t["turn_id"] for t in turns(aws.ddb, accepted.session_id) if t["role"] == "expert"] == [reply_id]
    again = call(expert_event("console", accepted.escalation_id, query=link_in(accepted.console_path)[1]))
    assert re.findall(r'name="reply_id" value="([0-9a-f-]{36})"', again["body"]) != [reply_id]  # a new form


def test_a_reply_key_that_is_not_a_uuid_is_a_400(aws, accepted, call):
    before = snapshot(aws)
    form = {**link("work", accepted), "text": "Hi", "reply_id": "x" * 40}

    response = call(expert_event("reply", accepted.escalation_id, form=form))

    assert response["statusCode"] == 400 and "reply_id" in response["body"]
    assert snapshot(aws) == before


def test_a_reply_before_accept_is_a_409_and_changes_nothing(aws, escalation, call):
    before = snapshot(aws)

    response = call(reply_event(escalation, "Hi"))  # a genuine work link, but nobody accepted

    assert response["statusCode"] == 409
    assert snapshot(aws) == before


def test_a_reply_racing_the_resolve_is_refused_in_its_transaction(aws, accepted, sfn, call):
    # The reply has checked the state (accepted) when the resolve commits: its turn must still not land.
    api = expert_handler.dependencies.get()
    stale = accepted.store.get(accepted.session_id, accepted.escalation_id)
    accepted.store.resolve(accepted.session_id, accepted.escalation_id, expert="Ann", note="", close=False)
    before = snapshot(aws)

    with pytest.raises(EscalationConflict):
        actions.reply(api, stale, "Too late")

    assert snapshot(aws) == before


# Resolve -----------------------------------------------------------------------------------------------------

def test_resolve_hands_the_conversation_back_and_completes_the_workflow(aws, accepted, sfn, call):
    assert call(reply_event(accepted, "Open the router settings and reset DNS."))["statusCode"] == 303
    expect_resolve(sfn)

    response = call(resolve_event(accepted))

    sfn.assert_no_pending_responses()
    assert response["statusCode"] == 200 and "back with the assistant" in response["body"]
    item = escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)
    assert (item["status"], item["note"]) == ("resolved", "Reset the router's DNS settings.")
    session = session_item(aws.ddb, accepted.session_id)
    assert "owner" not in session and "open_escalation_id" not in session and "closed_at" not in session
    last = turns(aws.ddb, accepted.session_id)[-1]
    assert (last["role"], last["text"]) == ("system", HANDBACK)


def test_resolve_writes_the_knowledge_base_document_and_its_metadata(aws, accepted, sfn, comprehend, call):
    assert call(reply_event(accepted, "Open the router settings\nand reset DNS."))["statusCode"] == 303
    expect_resolve(sfn)
    # One Comprehend request checks the customer's turn, the expert's and the note, a blank line apart.
    pii_found(comprehend, f"{CUSTOMER_TEXT}\n\nOpen the router settings\nand reset DNS.\n\n"
                          "Reset the router's DNS settings.")

    call(resolve_event(accepted))

    comprehend.assert_no_pending_responses()
    stored = objects(aws.s3)
    key = f"{KNOWLEDGE_BUCKET}/{KNOWLEDGE_PREFIX}{accepted.escalation_id}.txt"
    text = stored[key].decode()
    assert text.splitlines()[2:] == [
        f"Customer: {CUSTOMER_TEXT}",
        "Expert: Open the router settings",
        "  and reset DNS.",
        "",
        "Expert's note: Reset the router's DNS settings.",
    ]
    # Bot answers, Tandem's canned messages and the turns before the escalation stay out.
    assert "restarting" not in text and "bringing in" not in text and "internet is slow" not in text
    metadata_raw = stored[f"{key}.metadata.json"]
    assert len(metadata_raw) < 10_000
    resolved_at = escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)["resolved_at"]
    # Neither the customer's session nor the expert's name: the escalation id leads staff to both.
    assert json.loads(metadata_raw) == {"metadataAttributes": {
        "escalation_id": accepted.escalation_id, "reason": "negative_sentiment", "resolved_at": resolved_at,
        "source": "tandem-escalation"}}


def test_resolve_with_close_closes_the_session(aws, accepted, sfn, call):
    expect_resolve(sfn, closed=True)

    response = call(resolve_event(accepted, close=True))

    assert response["statusCode"] == 200 and "closed" in response["body"]
    session = session_item(aws.ddb, accepted.session_id)
    assert session["closed_at"] and "owner" not in session and "open_escalation_id" not in session
    assert turns(aws.ddb, accepted.session_id)[-1]["text"] == CLOSED_MESSAGE


def test_resolve_before_the_workflow_asked_for_it_leaves_the_task_to_the_worker(aws, escalation, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})
    call(expert_event("accept", escalation.escalation_id, form={**link("review", escalation), "expert": "Ann"}))

    response = call(resolve_event(escalation))  # no resolve token stored: nothing is queued for Step Functions

    assert response["statusCode"] == 200
    sfn.assert_no_pending_responses()
    assert escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)["status"] == "resolved"


def test_resolve_after_the_resolve_task_ended_still_resolves(aws, accepted, sfn, call):
    sfn.add_client_error("send_task_success", service_error_code="TaskTimedOut", http_status_code=400,
                         service_message=f"Task Timed Out: {RESOLVE_TOKEN}")

    response = call(resolve_event(accepted))

    assert response["statusCode"] == 200
    sfn.assert_no_pending_responses()
    assert escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)["status"] == "resolved"


def test_resolving_twice_is_a_409_and_changes_nothing(aws, accepted, sfn, call):
    expect_resolve(sfn)
    event = resolve_event(accepted)
    assert call(event)["statusCode"] == 200
    before = snapshot(aws)

    again = call(event)

    assert again["statusCode"] == 409
    assert snapshot(aws) == before


def test_a_reply_after_resolve_is_a_409_and_changes_nothing(aws, accepted, sfn, call):
    expect_resolve(sfn)
    call(resolve_event(accepted))
    before = snapshot(aws)

    assert call(reply_event(accepted, "One more thing"))["statusCode"] == 409
    assert snapshot(aws) == before


def test_resolve_before_accept_is_a_409_and_changes_nothing(aws, escalation, call):
    before = snapshot(aws)

    assert call(resolve_event(escalation))["statusCode"] == 409
    assert snapshot(aws) == before


def test_a_failing_knowledge_export_does_not_undo_the_resolution(aws, accepted, sfn, comprehend, call, capsys):
    aws.s3.delete_bucket(Bucket=KNOWLEDGE_BUCKET)
    expect_resolve(sfn)
    pii_found(comprehend, f"{CUSTOMER_TEXT}\n\nReset the router's DNS settings.")

    response = call(resolve_event(accepted))

    assert response["statusCode"] == 200
    sfn.assert_no_pending_responses()  # the workflow is still told
    assert escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)["status"] == "resolved"
    comprehend.assert_no_pending_responses()  # the text was masked: the write itself failed
    assert '"ExpertFollowUpFailures"' in capsys.readouterr().out


def test_after_the_resolve_the_work_link_shows_nothing_the_customer_said_later(aws, accepted, sfn, call):
    assert call(reply_event(accepted, "Reset the DNS settings."))["statusCode"] == 303
    expect_resolve(sfn)
    call(resolve_event(accepted))
    later = Turn(role="customer", text="Thanks! Also, my card number is 4111 1111 1111 1111")
    accepted.sessions.record(accepted.sessions.load(accepted.session_id, None, recent_items=0), [later])
    query = link_in(accepted.console_path)[1]

    console = call(expert_event("console", accepted.escalation_id, query=query))
    polled = call(expert_event("messages", accepted.escalation_id, query=query))

    assert console["statusCode"] == 200 and "4111" not in console["body"]
    assert polled["statusCode"] == 200 and "4111" not in polled["body"]
    assert "Reset the DNS settings." in console["body"]  # what happened up to the resolve is still there
