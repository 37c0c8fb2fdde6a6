"""statemachines/human_escalation.asl.json executed for real under moto, with the real escalation worker
reading the work queue and the expert API's calls made the way it makes them (EscalationStore, then
SendTaskSuccess with the token it looked up). Each path asserts the execution's end, the ESCALATION and
SESSION items, what reached SNS, and the S3 transcript."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from lambdas.common import signing
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.expert_api.workflow import WORKFLOW_GONE, WorkflowProbe
from tests.lambdas.escalation_worker.conftest import BUSY, HANDBACK, TABLE
from tests.lambdas.escalation_worker.helpers import HANDOFF, SECRET, escalate, stored_turns
from tests.statemachines.conftest import DEFINITION

EXPERT = "expert@example.com"
# Time-outs that cannot fire while a test is still acting, and short ones for the paths that wait for them
# (moto really waits; a callback task notices its outcome within 0.5 s). SHORT leaves the worker time to
# call the experts before the accept time-out fires even on a loaded machine (at 1 s it sometimes did not).
# Executions a test leaves running are stopped by the fixture.
LONG, SHORT = 30, 3
# Invocations that only store a token emit no business metric; Powertools warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


def expert_accepts(flow, escalation: EscalationRecord) -> None:
    """The expert API's accept: claim the escalation, then complete the workflow's accept task."""
    record, token, _ = flow.escalations.accept(escalation.session_id, escalation.escalation_id, EXPERT)
    assert record.status == "accepted"
    flow.sfn.send_task_success(taskToken=token, output=json.dumps({"accepted_by": EXPERT}))


def expert_resolves(flow, escalation: EscalationRecord) -> None:
    """The expert API's resolve: record it (the session goes back to the bot), write the hand-back turn,
    complete the workflow's resolve task."""
    record, token = flow.escalations.resolve(escalation.session_id, escalation.escalation_id, expert=EXPERT,
                                             note="refund re-issued", close=False)
    session = flow.store.load(escalation.session_id, None, recent_items=0)
    flow.store.record(session, [Turn(role="system", text=HANDBACK)])
    assert token is not None
    flow.sfn.send_task_success(taskToken=token, output=json.dumps({"resolved_by": EXPERT}))


def system_turns(flow, escalation: EscalationRecord) -> list[str]:
    return [t["text"] for t in stored_turns(flow.ddb, TABLE, escalation.session_id) if t["role"] == "system"]


def the_expert_email(flow, escalation: EscalationRecord) -> dict:
    flow.collect_mail()
    (email,) = flow.experts_mail
    (link,) = re.findall(r"https://\S+", email["Message"])
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    signing.verify(SECRET.encode(), action="review", session_id=escalation.session_id,
                   escalation_id=escalation.escalation_id, expires=query["exp"], signature=query["sig"])
    return email


def waiting_in(flow, execution_arn: str, state: str):
    return lambda: flow.current_state(execution_arn) == state


# accept and resolve ---------------------------------------------------------------------------------

def test_accept_path_the_expert_owns_the_session_and_the_workflow_waits_for_resolve(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG), escalation)

    flow.run_until(lambda: flow.state(escalation).accept_token is not None, what="the accept token")
    assert flow.escalation_item(escalation)["execution_arn"] == execution  # RecordPending tied them together
    email = the_expert_email(flow, escalation)
    assert "negative_sentiment" in email["Subject"]

    expert_accepts(flow, escalation)
    flow.run_until(lambda: waiting_in(flow, execution, "WaitForResolve")()
                   and flow.state(escalation).resolve_token is not None, what="WaitForResolve")

    assert flow.describe(execution)["status"] == "RUNNING"
    state = flow.state(escalation)
    assert (state.record.status, state.record.accepted_by) == ("accepted", EXPERT)
    assert state.resolve_token != state.accept_token
    session = flow.session_item(escalation)
    assert (session["owner"], session["open_escalation_id"]) == (EXPERT, escalation.escalation_id)
    transcript = flow.transcript(escalation)
    assert [(e["status"], e["accepted_by"]) for e in transcript["escalations"]] == [("accepted", EXPERT)]
    assert system_turns(flow, escalation) == [HANDOFF]
    flow.collect_mail()
    assert len(flow.experts_mail) == 1 and flow.fallback_mail == []
    flow.assert_no_token_leaked(escalation)


def test_resolve_path_the_session_goes_back_to_the_bot(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG), escalation)
    flow.run_until(lambda: flow.state(escalation).accept_token is not None, what="the accept token")
    expert_accepts(flow, escalation)
    flow.run_until(lambda: flow.state(escalation).resolve_token is not None, what="the resolve token")

    expert_resolves(flow, escalation)
    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution)[-2:] == ["WaitForResolve", "Resolved"]
    state = flow.state(escalation)
    assert (state.record.status, state.record.note) == ("resolved", "refund re-issued")
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    assert system_turns(flow, escalation) == [HANDOFF, HANDBACK]
    transcript = flow.transcript(escalation)
    assert [t["text"] for t in transcript["turns"]][-1] == HANDBACK
    assert [e["status"] for e in transcript["escalations"]] == ["resolved"]
    flow.collect_mail()
    assert len(flow.experts_mail) == 1 and flow.fallback_mail == []
    assert flow.failed_records == []
    flow.assert_no_token_leaked(escalation)


def test_an_expert_who_resolves_before_the_resolve_token_arrives_still_ends_the_workflow(flow):
    """The resolve message is still queued when the expert resolves, so the API has no token to complete;
    the worker completes the task when the message arrives."""
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG), escalation)
    flow.run_until(lambda: flow.state(escalation).accept_token is not None, what="the accept token")
    _, token, _ = flow.escalations.accept(escalation.session_id, escalation.escalation_id, EXPERT)
    flow.sfn.send_task_success(taskToken=token, output="{}")
    flow.run_until(waiting_in(flow, execution, "WaitForResolve"), pump=False, what="WaitForResolve")
    _, resolve_token = flow.escalations.resolve(escalation.session_id, escalation.escalation_id,
                                                expert=EXPERT, note="done", close=False)
    assert resolve_token is None

    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution)[-2:] == ["WaitForResolve", "Resolved"]
    state = flow.state(escalation)
    assert state.record.status == "resolved" and state.resolve_token is not None
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    assert flow.failed_records == []
    flow.assert_no_token_leaked(escalation)


# time-outs ------------------------------------------------------------------------------------------

def test_accept_time_out_calls_the_fallback_tier_and_tells_the_customer(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=SHORT, resolve_seconds=LONG), escalation)

    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution)[-5:] == [
        "MarkTimedOut", "ReleaseAfterTimeout", "NotifyFallbackTier", "TellCustomerExpertsBusy", "TimedOut"]
    state = flow.state(escalation)
    assert (state.record.status, state.record.note) == ("timed_out", "no expert accepted in time")
    assert state.notices == ("busy",)
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    flow.collect_mail()
    assert len(flow.experts_mail) == 1  # they were called in; nobody accepted
    (fallback,) = flow.fallback_mail
    assert fallback["Subject"] == "Tandem: a customer is waiting and no expert accepted"
    assert escalation.escalation_id in fallback["Message"] and escalation.session_id in fallback["Message"]
    assert "negative_sentiment" in fallback["Message"]
    assert system_turns(flow, escalation) == [HANDOFF, BUSY]
    transcript = flow.transcript(escalation)
    assert [t["text"] for t in transcript["turns"]][-1] == BUSY
    assert [(e["status"], e.get("note")) for e in transcript["escalations"]] == [
        ("timed_out", "no expert accepted in time")]
    assert flow.failed_records == []
    flow.assert_no_token_leaked(escalation)


def test_resolve_time_out_hands_the_conversation_back_to_the_bot(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=SHORT), escalation)
    flow.run_until(lambda: flow.state(escalation).accept_token is not None, what="the accept token")
    expert_accepts(flow, escalation)

    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution)[-5:] == [
        "WaitForResolve", "MarkExpired", "ReleaseAfterExpiry", "TellCustomerExpertLeft", "Expired"]
    state = flow.state(escalation)
    assert (state.record.status, state.record.note) == ("timed_out", "the expert did not resolve in time")
    assert state.record.accepted_by == EXPERT and state.notices == ("expert_left",)
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    assert system_turns(flow, escalation) == [HANDOFF, HANDBACK]
    transcript = flow.transcript(escalation)
    assert [t["text"] for t in transcript["turns"]][-1] == HANDBACK
    assert [(e["status"], e.get("note")) for e in transcript["escalations"]] == [
        ("timed_out", "the expert did not resolve in time")]
    flow.collect_mail()
    assert flow.fallback_mail == []
    flow.assert_no_token_leaked(escalation)


# reminders: the wait for an accept in rounds ---------------------------------------------------------

ROUND = "NotifyExpertsAndWaitForAccept"


def reminders_mailed(flow) -> list[dict]:
    flow.collect_mail()
    return [m for m in flow.experts_mail if m["Subject"].startswith("Tandem reminder:")]


def send_and_ignore_refusal(flow, token: str) -> None:
    """SendTaskSuccess with a token whose task ended: refused on AWS, accepted and ignored by moto."""
    try:
        flow.sfn.send_task_success(taskToken=token, output=json.dumps({"accepted_by": EXPERT}))
    except ClientError as refused:
        assert refused.response["Error"]["Code"] in WORKFLOW_GONE


def rounds_begun(flow, execution_arn: str) -> int:
    return flow.states_entered(execution_arn).count(ROUND)


def test_an_accept_before_the_first_reminder_sends_no_reminder(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG, reminder_seconds=LONG // 3),
                           escalation)
    flow.run_until(lambda: flow.state(escalation).notified, what="the experts' email")

    expert_accepts(flow, escalation)
    flow.run_until(waiting_in(flow, execution, "WaitForResolve"), what="WaitForResolve")

    assert rounds_begun(flow, execution) == 1
    state = flow.state(escalation)
    assert (state.record.status, state.reminders, state.accept_round) == ("accepted", 0, 0)
    assert state.accept_deadline  # when the wait would have ended
    flow.collect_mail()
    assert len(flow.experts_mail) == 1 and reminders_mailed(flow) == []
    flow.assert_no_token_leaked(escalation)


def test_an_accept_after_a_reminder_completes_the_new_rounds_token_once(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG, reminder_seconds=SHORT),
                           escalation)
    flow.run_until(lambda: flow.state(escalation).notified, what="the experts' email")
    first_token = flow.state(escalation).accept_token
    flow.run_until(lambda: flow.state(escalation).reminders == 1, what="the first reminder")

    expert_accepts(flow, escalation)  # with the token the table holds now: the reminder round's
    flow.run_until(lambda: waiting_in(flow, execution, "WaitForResolve")()
                   and flow.state(escalation).resolve_token is not None, what="WaitForResolve")

    entered = flow.states_entered(execution)
    assert entered.count("WaitForResolve") == 1 and entered.count(ROUND) == 2
    state = flow.state(escalation)
    assert (state.record.status, state.record.accepted_by, state.accept_round) == ("accepted", EXPERT, 1)
    assert state.accept_token != first_token
    # The first round's token is dead: Step Functions refuses it (TaskTimedOut); moto accepts and ignores it
    # (AWS-CONTRACTS.md). Either way nothing is accepted twice.
    send_and_ignore_refusal(flow, first_token)
    flow.run_until(lambda: flow.pump() == 0, what="the work queue to empty")
    assert flow.states_entered(execution).count("WaitForResolve") == 1
    (reminder,) = reminders_mailed(flow)
    assert len(flow.experts_mail) == 2
    first_link = re.findall(r"https://\S+", flow.experts_mail[0]["Message"])
    assert re.findall(r"https://\S+", reminder["Message"]) == first_link  # the same signed link
    session = flow.session_item(escalation)
    assert session["owner"] == EXPERT
    flow.assert_no_token_leaked(escalation)


def test_nobody_accepts_the_experts_are_reminded_then_the_fallback_tier_is_told_at_the_time_out(flow):
    accept_seconds, reminder_seconds = 7, 3  # rounds of 3 s, 3 s and the last 1 s
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=accept_seconds, resolve_seconds=LONG,
                                              reminder_seconds=reminder_seconds), escalation)

    described = flow.finish(execution, timeout=20)

    assert described["status"] == "SUCCEEDED"
    entered = flow.states_entered(execution)
    assert entered.count(ROUND) == 3
    assert entered[-5:] == ["MarkTimedOut", "ReleaseAfterTimeout", "NotifyFallbackTier", "TellCustomerExpertsBusy",
                            "TimedOut"]
    # The rounds add up to the time-out: from the first round's start to the give-up, not time-out + reminders.
    events = flow.sfn.get_execution_history(executionArn=execution)["events"]
    entered_at = [(e["stateEnteredEventDetails"]["name"], e["timestamp"]) for e in events
                  if "stateEnteredEventDetails" in e]
    waited = (next(t for n, t in entered_at if n == "MarkTimedOut")
              - next(t for n, t in entered_at if n == ROUND)).total_seconds()
    assert accept_seconds <= waited < accept_seconds + reminder_seconds
    state = flow.state(escalation)
    assert (state.record.status, state.reminders, state.notices) == ("timed_out", 2, ("busy",))
    assert [m["Message"].split(":", 1)[0] for m in reminders_mailed(flow)] == ["REMINDER 1", "REMINDER 2"]
    assert len(flow.experts_mail) == 3
    (fallback,) = flow.fallback_mail
    assert escalation.escalation_id in fallback["Message"]
    assert system_turns(flow, escalation) == [HANDOFF, BUSY]
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    assert flow.failed_records == []
    flow.assert_no_token_leaked(escalation)


def test_with_reminders_off_the_experts_are_called_once_and_the_wait_is_one_round(flow):
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=SHORT, resolve_seconds=LONG, reminder_seconds=0),
                           escalation)

    assert flow.finish(execution)["status"] == "SUCCEEDED"

    assert rounds_begun(flow, execution) == 1
    assert flow.state(escalation).reminders == 0
    flow.collect_mail()
    assert len(flow.experts_mail) == 1 and reminders_mailed(flow) == [] and len(flow.fallback_mail) == 1


def test_an_accept_made_as_a_reminder_round_begins_is_completed_with_the_new_token(flow):
    """The race: Ann's accept claims the escalation with the first round's token, but that round times out
    before her SendTaskSuccess arrives, as the reminder round begins. The expert API reads the history (the
    next round began: the claim stays), and the worker, keeping the new round's token, finds her claim, hands
    the token to it and completes it: one accept, no reminder, nothing lost."""
    escalation = escalate(flow.store)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG, reminder_seconds=SHORT),
                           escalation)
    flow.run_until(lambda: flow.state(escalation).notified, what="the experts' email")
    claim = flow.escalations.accept(escalation.session_id, escalation.escalation_id, EXPERT)
    flow.run_until(lambda: rounds_begun(flow, execution) == 2, pump=False, what="the reminder round")

    # Ann's SendTaskSuccess with the ended round's token: Step Functions answers TaskTimedOut (simulated: moto
    # accepts and ignores it, AWS-CONTRACTS.md), so the expert API reads the history, which keeps the claim.
    send_and_ignore_refusal(flow, claim.token)
    assert WorkflowProbe(lambda: flow.sfn).accept_outcome(execution, claim.round) == "next_round"

    flow.run_until(lambda: waiting_in(flow, execution, "WaitForResolve")()
                   and flow.state(escalation).resolve_token is not None, what="WaitForResolve")

    assert flow.states_entered(execution).count("WaitForResolve") == 1
    state = flow.state(escalation)
    assert (state.record.status, state.record.accepted_by, state.accept_handed) == ("accepted", EXPERT, True)
    assert flow.session_item(escalation)["owner"] == EXPERT
    assert reminders_mailed(flow) == [] and len(flow.experts_mail) == 1
    assert flow.failed_records == []
    flow.assert_no_token_leaked(escalation)


# failures -------------------------------------------------------------------------------------------

def set_status(flow, escalation: EscalationRecord, status: str) -> None:
    flow.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": escalation.session_id},
                                               "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
                         UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                         ExpressionAttributeValues={":s": {"S": status}})


def test_a_start_that_comes_after_the_escalation_was_withdrawn_changes_nothing(flow):
    """The outbox withdrew the escalation (its start kept failing), then a late start got through."""
    escalation = escalate(flow.store)
    set_status(flow, escalation, "failed")
    before = stored_turns(flow.ddb, TABLE, escalation.session_id), flow.session_item(escalation)
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG), escalation)

    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution) == ["Configure", "RecordPending", "NotPending"]
    assert (stored_turns(flow.ddb, TABLE, escalation.session_id), flow.session_item(escalation)) == before
    assert "execution_arn" not in flow.escalation_item(escalation)
    flow.collect_mail()
    assert flow.experts_mail == [] and flow.fallback_mail == [] and flow.failed_records == []


def test_an_unreachable_work_queue_fails_the_workflow_with_the_status_recorded(flow):
    escalation = escalate(flow.store)
    missing = flow.work_queue_url.replace("tandem-escalation-work", "tandem-no-such-queue")
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG, work_queue_url=missing),
                           escalation)

    described = flow.finish(execution, timeout=60)  # each send is retried (with back-off) before its Catch

    assert described["status"] == "FAILED" and described["error"] == "EscalationFailed"
    assert flow.states_entered(execution) == [
        "Configure", "RecordPending", "StartAcceptWait", "PlanAcceptRound", "RoundUntilTimeout",
        "NotifyExpertsAndWaitForAccept", "MarkFailed", "ReleaseAfterFailure", "TellCustomerWorkflowFailed",
        "WorkflowFailed"]
    state = flow.state(escalation)
    assert state.record.status == "failed" and state.record.note  # the error name of the failed send
    assert state.accept_token is None and state.notices == ()  # the worker never heard of it
    session = flow.session_item(escalation)
    assert "owner" not in session and "open_escalation_id" not in session
    flow.collect_mail()
    assert flow.experts_mail == [] and flow.fallback_mail == []


def test_a_missing_escalation_item_is_not_recreated(flow):
    """RecordPending is conditional: an unconditioned updateItem would create an item with no body and no TTL."""
    escalation = escalate(flow.store)
    flow.ddb.delete_item(TableName=TABLE, Key={"session_id": {"S": escalation.session_id},
                                               "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}})
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG), escalation)

    described = flow.finish(execution)

    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution) == ["Configure", "RecordPending", "NotPending"]
    assert flow.escalation_item(escalation) is None
    assert system_turns(flow, escalation) == [HANDOFF]


# duplicates -----------------------------------------------------------------------------------------

def test_a_duplicate_trigger_starts_no_second_execution(flow):
    escalation = escalate(flow.store)
    machine = flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG)
    execution = flow.start(machine, escalation)

    # The same start again (a retried request): Step Functions answers with the running execution.
    assert flow.start(machine, escalation) == execution
    # The same name with another input: refused.
    with pytest.raises(ClientError) as refused:
        flow.sfn.start_execution(stateMachineArn=machine, name=escalation.escalation_id,
                                 input=json.dumps({"session_id": escalation.session_id,
                                                   "escalation_id": escalation.escalation_id, "reason": "again"}))
    assert refused.value.response["Error"]["Code"] == "ExecutionAlreadyExists"

    flow.run_until(lambda: flow.state(escalation).notified, what="the experts' email")
    (only,) = flow.sfn.list_executions(stateMachineArn=machine)["executions"]
    assert only["executionArn"] == execution and only["name"] == escalation.escalation_id
    flow.collect_mail()
    assert len(flow.experts_mail) == 1
    flow.assert_no_token_leaked(escalation)


def test_a_finished_escalation_cannot_be_started_again(flow):
    escalation = escalate(flow.store)
    machine = flow.state_machine(accept_seconds=SHORT, resolve_seconds=LONG)
    execution = flow.start(machine, escalation)
    assert flow.finish(execution)["status"] == "SUCCEEDED"

    assert flow.start(machine, escalation) == execution  # ExecutionAlreadyExists: nothing new starts

    assert len(flow.sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    assert system_turns(flow, escalation) == [HANDOFF, BUSY]


# transient faults -----------------------------------------------------------------------------------

def test_a_step_that_fails_once_is_retried_and_the_escalation_goes_on(flow):
    """SQS refuses the first send (the queue is briefly unavailable): the Retry sends again and the experts
    are called, instead of the escalation failing on one hiccup."""
    escalation = escalate(flow.store)
    late_url = flow.work_queue_url.replace("tandem-escalation-work", "tandem-escalation-late")
    execution = flow.start(flow.state_machine(accept_seconds=LONG, resolve_seconds=LONG, work_queue_url=late_url),
                           escalation)
    flow.run_until(lambda: any(e["type"] == "TaskFailed" for e in flow.sfn.get_execution_history(
        executionArn=execution)["events"]), pump=False, what="the first send to fail")
    flow.work_queue_url = flow.sqs.create_queue(QueueName="tandem-escalation-late")["QueueUrl"]

    flow.run_until(lambda: flow.state(escalation).notified, timeout=20, what="the experts' email")

    assert flow.describe(execution)["status"] == "RUNNING"
    assert flow.current_state(execution) == "NotifyExpertsAndWaitForAccept"
    assert "MarkFailed" not in flow.states_entered(execution)
    assert flow.state(escalation).record.status == "pending"
    flow.collect_mail()
    assert len(flow.experts_mail) == 1


def test_every_task_retries_transient_faults_before_its_catch():
    for path in DEFINITION.parent.glob("*.asl.json"):
        for name, state in json.loads(path.read_text())["States"].items():
            if state["Type"] != "Task":
                continue
            retriers = state.get("Retry", [])
            assert retriers, f"{path.name}: {name} has no Retry"
            assert all(1 <= r.get("MaxAttempts", 3) <= 5 for r in retriers if r.get("MaxAttempts") != 0), name
            if state["Resource"].startswith("arn:aws:states:::dynamodb:"):
                # A failed condition is an answer, not a fault: never retried (its Catch routes it).
                assert retriers[0] == {"ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"], "MaxAttempts": 0}
