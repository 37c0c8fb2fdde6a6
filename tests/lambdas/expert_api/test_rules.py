"""The rules of actions.py over in-memory seams (fakes.py): what an accept does with each answer of the
workflow, when a reply is stored, found again or refused, what a resolve reports when a follow-up fails, and
what the knowledge export writes. The same rules run over moto and Stubbers in test_accept.py, test_work.py
and test_redaction.py; here each branch is one small table."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.escalations import EscalationConflict, EscalationState, EscalationStore
from lambdas.common.redaction import PiiMasker, RedactionFailed
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.expert_api import actions
from lambdas.expert_api.actions import CLOSED_MESSAGE, ExpertApi, WorkflowUnconfirmed
from lambdas.expert_api.replies import ReplyNotStored, ReplyStore
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.expert_api.workflow import WorkflowGone, WorkflowProbe, WorkflowTasks, WorkflowUnavailable
from tests.lambdas.expert_api.fakes import (
    FakeEscalations,
    FakeKnowledgeBucket,
    FakeMasker,
    FakeProbe,
    FakeReplies,
    FakeSessions,
    FakeTasks,
)

SESSION_ID = "8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1"
ACCEPT_TOKEN = "accept+TOKEN/secret=="
RESOLVE_TOKEN = "resolve+TOKEN/secret=="
EXECUTION_ARN = "arn:aws:states:us-east-1:123456789012:execution:tandem-human-escalation:e-1"
HANDBACK = "The assistant is back."
T0, T1, T2, T3 = (f"2026-11-25T01:2{i}:00.000000Z" for i in range(4))


def settings(*, redact_pii: bool = True) -> ExpertApiSettings:
    return ExpertApiSettings(
        sessions_table="fake-sessions", signing_secret_arn="arn:secret", knowledge_bucket="knowledge",
        knowledge_prefix="escalations/", handback_message=HANDBACK, resolve_timeout_seconds=3600,
        session_ttl_days=90, redact_pii=redact_pii, language_code="en" if redact_pii else None)


def world(status: str = "pending", *, accepted_by: str | None = None, resolve_token: str | None = None,
          tasks: FakeTasks | None = None, outcome: str = "unknown", masker: FakeMasker | None = None,
          redact_pii: bool = True) -> SimpleNamespace:
    """An escalation raised by the customer's angry turn, in `status`, and the API over fakes of its seams."""
    angry = Turn(role="customer", text="This is useless, call me on 555-0100", created_at=T1)
    turns = [Turn(role="customer", text="Hi", created_at=T0), Turn(role="bot", text="Hello!", created_at=T0), angry]
    record = EscalationRecord(session_id=SESSION_ID, reason="negative_sentiment", turn_id=angry.turn_id,
                              requested_at=T1, status=status, accepted_by=accepted_by,
                              accepted_at=T2 if accepted_by else None)
    state = EscalationState(record=record, accept_token=ACCEPT_TOKEN, resolve_token=resolve_token,
                            execution_arn=EXECUTION_ARN)
    escalations, sessions = FakeEscalations(state), FakeSessions(SESSION_ID, turns)
    api = ExpertApi(settings=settings(redact_pii=redact_pii), key=b"k" * 32, escalations=escalations,
                    sessions=sessions, replies=FakeReplies(escalations, sessions), tasks=tasks or FakeTasks(),
                    workflow=FakeProbe(outcome), masker=masker or FakeMasker(), knowledge=FakeKnowledgeBucket())
    return SimpleNamespace(api=api, state=state, escalations=escalations, sessions=sessions,
                           escalation_id=record.escalation_id)


def current(w: SimpleNamespace) -> EscalationRecord:
    return w.escalations.get(SESSION_ID, w.escalation_id).record


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"refused: '{ACCEPT_TOKEN}'"}}, "SendTaskSuccess")


@pytest.mark.parametrize("fake, real", [
    (FakeEscalations, EscalationStore), (FakeSessions, SessionStore), (FakeReplies, ReplyStore),
    (FakeTasks, WorkflowTasks), (FakeProbe, WorkflowProbe), (FakeMasker, PiiMasker),
    (FakeKnowledgeBucket, BucketWriter),
])
def test_each_fake_takes_the_parameters_of_the_class_it_stands_in_for(fake, real):
    methods = [name for name, _ in inspect.getmembers(fake, inspect.isfunction) if not name.startswith("_")]

    assert methods
    for name in methods:
        parameters = inspect.signature(getattr(fake, name)).parameters.values()
        expected = inspect.signature(getattr(real, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in parameters] == [(p.name, p.kind, p.default) for p in expected]


# Accept -----------------------------------------------------------------------------------------------------

def test_an_accept_the_workflow_takes_claims_the_escalation_and_completes_the_task_with_the_stored_token():
    w = world()

    accepted = actions.accept(w.api, w.state, "Ann", now=1_800_000_000)

    assert w.api.tasks.completed == [(ACCEPT_TOKEN, {"accepted_by": "Ann"})]
    assert (current(w).status, current(w).accepted_by) == ("accepted", "Ann")
    assert (accepted.confirmed_by_history, accepted.work_link.expires) == (False, 1_800_000_000 + 3600)
    assert w.api.workflow.asked == []  # the history is read only when the call fails


# When SendTaskSuccess fails, the execution's history decides; what the expert is told, and the escalation after.
AFTER_A_FAILED_CALL = {
    "taken": (None, "accepted"),  # the response was lost: the accept stands
    "next_round": (None, "accepted"),  # a reminder began the next round: the worker completes its task
    "refused": (WorkflowGone, "pending"),  # the wait had ended: the claim is undone
    "waiting": (WorkflowUnavailable, "pending"),  # the call was not applied: undone, the expert may try again
    "unknown": (WorkflowUnconfirmed, "accepted"),  # unreadable: the claim stays for the workflow's time-out
}


@pytest.mark.parametrize("outcome", AFTER_A_FAILED_CALL)
@pytest.mark.parametrize("failure", ["InvalidToken", "ServiceUnavailable"])
def test_a_failed_accept_call_is_settled_by_the_execution_history(outcome, failure):
    raised, status = AFTER_A_FAILED_CALL[outcome]
    error = (WorkflowGone if failure == "InvalidToken" else WorkflowUnavailable)(failure)
    w = world(tasks=FakeTasks(error), outcome=outcome)

    if raised is None:
        accepted = actions.accept(w.api, w.state, "Ann")
        assert (accepted.confirmed_by_history, accepted.next_round) == (outcome == "taken", outcome == "next_round")
    else:
        with pytest.raises(raised, match=f"^{failure}$"):  # the error code alone
            actions.accept(w.api, w.state, "Ann")

    assert w.api.workflow.asked == [EXECUTION_ARN]
    assert current(w).status == status
    assert current(w).accepted_by == ("Ann" if status == "accepted" else None)


def test_the_history_is_read_for_the_round_of_the_token_the_claim_used():
    w = world(tasks=FakeTasks(WorkflowGone("TaskTimedOut")), outcome="next_round")
    w.escalations.states[(SESSION_ID, w.escalation_id)] = replace(w.state, accept_round=2)

    actions.accept(w.api, w.state, "Ann")

    assert w.api.workflow.rounds == [2]


@pytest.mark.parametrize("outcome", ["refused", "waiting"])
def test_a_claim_the_worker_handed_a_new_rounds_token_is_not_undone(outcome):
    """The claimed token's round timed out as Ann accepted; before her undo, the next round's token reached the
    worker, which gave it to her claim and completes it: the undo must not pull the escalation from under it."""
    w = world(tasks=FakeTasks(WorkflowGone("TaskTimedOut")), outcome=outcome)
    ask = w.api.workflow.accept_outcome

    def history_read_as_the_worker_hands_over(execution_arn, accept_round=0):
        claimed = w.escalations.get(SESSION_ID, w.escalation_id)
        assert w.escalations.hand_accept_token(SESSION_ID, w.escalation_id, "round+1+TOKEN", round=1, claim=claimed)
        return ask(execution_arn, accept_round)

    w.api.workflow.accept_outcome = history_read_as_the_worker_hands_over

    accepted = actions.accept(w.api, w.state, "Ann")

    assert accepted.next_round and not accepted.confirmed_by_history
    assert (current(w).status, current(w).accepted_by) == ("accepted", "Ann")
    assert w.api.tasks.completed == []  # the worker completes the handed token, not the API


def test_a_refused_step_functions_call_is_told_by_its_code_and_never_quotes_the_token():
    tasks = WorkflowTasks(lambda: SimpleNamespace(send_task_success=_raise(client_error("TaskTimedOut"))))

    with pytest.raises(WorkflowGone) as gone:
        tasks.complete(ACCEPT_TOKEN, {"accepted_by": "Ann"})

    assert str(gone.value) == "TaskTimedOut"
    assert gone.value.__cause__ is None and gone.value.__suppress_context__  # botocore's message stays behind


def _raise(error: Exception) -> Any:
    def call(**_: Any) -> None:
        raise error

    return call


# Reply ------------------------------------------------------------------------------------------------------

REPLY_ID = "5b0c8a0e-1d2f-4a3b-9c4d-5e6f7a8b9c0d"


def test_a_reply_form_sent_twice_stores_one_turn_and_answers_the_first_one_again():
    w = world("accepted", accepted_by="Ann")

    first = actions.reply(w.api, w.state, "On my way.", reply_id=REPLY_ID)
    second = actions.reply(w.api, w.state, "On my way.", reply_id=REPLY_ID)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert (second.turn.turn_id, second.turn.created_at) == (first.turn.turn_id, first.turn.created_at)
    assert [t.text for t in w.sessions.stored].count("On my way.") == 1


def test_a_reply_after_the_escalation_was_resolved_is_a_conflict_and_stores_nothing():
    w = world("accepted", accepted_by="Ann")
    stale = w.state  # read before the resolve below
    w.escalations.resolve(SESSION_ID, w.escalation_id, expert="Ann", note="", close=False)
    before = list(w.sessions.stored)

    with pytest.raises(EscalationConflict, match="resolved"):
        actions.reply(w.api, stale, "Too late", reply_id=REPLY_ID)

    assert w.sessions.stored == before


def test_a_reply_cancelled_while_the_escalation_is_still_the_experts_is_not_stored_and_says_so():
    w = world("accepted", accepted_by="Ann")
    w.api.replies.conflicting = True

    with pytest.raises(ReplyNotStored):  # the handler answers 503: try again
        actions.reply(w.api, w.state, "Hello", reply_id=REPLY_ID)


def test_a_reply_needs_an_accepted_escalation():
    w = world("pending")

    with pytest.raises(EscalationConflict, match="pending"):
        actions.reply(w.api, w.state, "Hello")


# Resolve ----------------------------------------------------------------------------------------------------

def resolve(w: SimpleNamespace, *, close: bool = False) -> actions.Resolved:
    actions.reply(w.api, w.state, "Reset the router.")
    return actions.resolve(w.api, w.escalations.get(SESSION_ID, w.escalation_id), "Known outage.", close)


@pytest.mark.parametrize("close, notice", [(False, HANDBACK), (True, CLOSED_MESSAGE)])
def test_a_resolve_tells_the_customer_the_workflow_and_the_knowledge_base(close, notice):
    w = world("accepted", accepted_by="Ann", resolve_token=RESOLVE_TOKEN)

    resolved = resolve(w, close=close)

    assert (resolved.record.status, resolved.workflow, resolved.problems) == ("resolved", "notified", [])
    assert (w.sessions.stored[-1].role, w.sessions.stored[-1].text) == ("system", notice)
    assert w.api.tasks.completed == [(RESOLVE_TOKEN, {"resolved_by": "Ann", "closed": close})]
    assert resolved.knowledge_key == f"escalations/{w.escalation_id}.txt"


def test_a_resolve_token_the_worker_stores_while_the_resolve_runs_is_read_again_and_used():
    w = world("accepted", accepted_by="Ann")  # the workflow has not asked for the resolve yet
    resolve_first = w.escalations.resolve

    def the_worker_stores_the_token_meanwhile(*args: Any, **kwargs: Any) -> Any:
        answer = resolve_first(*args, **kwargs)  # read before the token was stored: it has none
        key = (SESSION_ID, w.escalation_id)
        w.escalations.states[key] = replace(w.escalations.states[key], resolve_token=RESOLVE_TOKEN)
        return answer

    w.escalations.resolve = the_worker_stores_the_token_meanwhile
    resolved = resolve(w)

    assert resolved.workflow == "notified"
    assert w.api.tasks.completed == [(RESOLVE_TOKEN, {"resolved_by": "Ann", "closed": False})]


def test_without_a_resolve_token_the_workflow_is_left_to_the_worker():
    w = world("accepted", accepted_by="Ann")

    resolved = resolve(w)

    assert (resolved.workflow, w.api.tasks.completed) == ("waiting", [])


# Once resolved, a follow-up's failure no longer fails the request: what the result reports instead.
FOLLOW_UP_FAILURES = {
    "the workflow had moved on": (WorkflowGone("TaskTimedOut"), None, "gone", []),
    "Step Functions unavailable": (WorkflowUnavailable("ThrottlingException"), None, "waiting",
                                   ["workflow:ThrottlingException"]),
    "the notice not stored": (None, client_error("ProvisionedThroughputExceededException"), "notified",
                              ["handback:ClientError"]),
}


@pytest.mark.parametrize("case", FOLLOW_UP_FAILURES)
def test_a_follow_up_failure_is_reported_and_the_rest_still_done(case):
    workflow_failure, notice_failure, workflow, problems = FOLLOW_UP_FAILURES[case]
    tasks = FakeTasks(workflow_failure) if workflow_failure else FakeTasks()
    w = world("accepted", accepted_by="Ann", resolve_token=RESOLVE_TOKEN, tasks=tasks)
    actions.reply(w.api, w.state, "Reset the router.")
    w.sessions.failure = notice_failure

    resolved = actions.resolve(w.api, w.escalations.get(SESSION_ID, w.escalation_id), "Known outage.", False)

    assert (resolved.record.status, resolved.workflow, resolved.problems) == ("resolved", workflow, problems)
    assert resolved.workflow_error == ("TaskTimedOut" if workflow == "gone" else None)
    assert resolved.knowledge_key is not None  # the export comes last, whatever failed before it


def test_when_personal_data_cannot_be_masked_nothing_is_exported_and_the_resolve_stands():
    w = world("accepted", accepted_by="Ann", resolve_token=RESOLVE_TOKEN,
              masker=FakeMasker(failure=RedactionFailed("ThrottlingException")))

    resolved = resolve(w)

    assert (resolved.record.status, resolved.workflow) == ("resolved", "notified")
    assert (resolved.knowledge_key, resolved.knowledge_skipped) == (None, "ThrottlingException")
    assert w.api.knowledge.objects == {}


# The knowledge export ---------------------------------------------------------------------------------------

def resolved_record(w: SimpleNamespace) -> EscalationRecord:
    return replace(current(w), status="resolved", accepted_by="Ann", accepted_at=T2, resolved_at=T3,
                   note="Known outage; call 555-0100 back.")


def test_the_export_masks_the_handled_turns_and_the_note_in_one_call_and_writes_both_files():
    w = world(masker=FakeMasker("555-0100"))
    w.sessions.stored.append(Turn(role="expert", text="I will call 555-0100.", created_at=T2))
    record = resolved_record(w)

    key = actions.export_knowledge(w.api, record, w.sessions.stored)

    assert w.api.masker.asked == [["This is useless, call me on 555-0100", "I will call 555-0100.",
                                   "Known outage; call 555-0100 back."]]
    document, content_type = w.api.knowledge.objects[key]
    assert content_type == "text/plain; charset=utf-8" and b"555-0100" not in document
    assert document.decode().splitlines()[2:] == ["Customer: This is useless, call me on [PII]",
                                                  "Expert: I will call [PII].", "", "Expert's note: Known outage; "
                                                  "call [PII] back."]
    metadata, metadata_type = w.api.knowledge.objects[f"{key}.metadata.json"]
    assert metadata_type == "application/json"
    assert json.loads(metadata)["metadataAttributes"]["escalation_id"] == w.escalation_id


def test_without_redaction_the_export_is_written_as_said_and_nothing_is_masked():
    w = world(redact_pii=False, masker=FakeMasker("555-0100"))

    key = actions.export_knowledge(w.api, resolved_record(w), w.sessions.stored)

    assert w.api.masker.asked == []
    assert b"555-0100" in w.api.knowledge.objects[key][0]


def test_metadata_over_bedrocks_limit_writes_nothing():
    w = world()
    record = replace(resolved_record(w), escalation_id="e" * actions.MAX_METADATA_BYTES)

    with pytest.raises(ValueError, match="over Bedrock's limit"):
        actions.export_knowledge(w.api, record, w.sessions.stored)

    assert (w.api.knowledge.objects, w.api.masker.asked) == ({}, [])
