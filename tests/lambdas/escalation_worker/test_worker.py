"""The escalation worker's rules (worker.py) with in-memory stand-ins for the stores, the experts' topic and
the workflow: what each message leads to, and what each failure or race leaves behind. The same behaviour
through the real handler under moto is in test_handler.py."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from botocore.exceptions import EndpointConnectionError

from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.escalation_worker.messages import CallbackMessage, NoticeMessage
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.escalation_worker.worker import CallbackFailed, EscalationWorker
from tests.lambdas.escalation_worker.fakes import (
    FakeEscalations,
    FakeExperts,
    FakeSessions,
    FakeTasks,
    client_error,
)

TOKEN = "AAAAKgAAAAIAAAAAAAAAAR4F+tAsk/Token/With+Slashes/And=Padding=="
BUSY = "All our experts are busy right now."
HANDBACK = "The expert has finished helping you; the assistant is back."
SETTINGS = WorkerSettings(sessions_table="sessions", experts_topic_arn="arn:aws:sns:us-east-1:123456789012:experts",
                          signing_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:signing",
                          expert_api_url="https://experts.example.com/prod/",
                          email_turns=2, busy_message=BUSY, handback_message=HANDBACK, session_ttl_days=90)
NOW = 1_773_100_800.0  # 2026-03-10T00:00:00Z
REQUESTED_AT = "2026-03-09T23:53:00.000000Z"  # the customer has waited 7 minutes at NOW
DEADLINE = datetime(2026, 3, 10, 0, 8, tzinfo=timezone.utc)  # the wait began 23:53, for 15 minutes


class World:
    """One pending escalation of a three-turn conversation, and a worker given the stand-ins."""

    def __init__(self) -> None:
        turns = [Turn(role="customer", text="Where is my refund?", created_at="2026-03-10T00:00:00.000000Z"),
                 Turn(role="bot", text="It was sent on Monday.", created_at="2026-03-10T00:00:01.000000Z"),
                 Turn(role="customer", text="It was not. I want a person!", created_at="2026-03-10T00:00:02.000000Z")]
        self.record = EscalationRecord(session_id="session-1", reason="human_requested", turn_id=turns[-1].turn_id,
                                       requested_at=REQUESTED_AT)
        self.escalations = FakeEscalations(self.record)
        self.sessions = FakeSessions(self.escalations, {"session-1": turns})
        self.experts = FakeExperts(self.escalations.log)
        self.tasks = FakeTasks()
        self.keys_read = 0
        self.worker = EscalationWorker(SETTINGS, sessions=self.sessions, escalations=self.escalations,
                                       experts=self.experts, tasks=self.tasks, signing_key=self.signing_key,
                                       clock=lambda: NOW)

    def signing_key(self) -> bytes:
        self.keys_read += 1
        return b"k" * 32

    def callback(self, kind: str, *, token: str = TOKEN, reminder: int = 0) -> CallbackMessage:
        if kind == "resolve":
            return CallbackMessage(kind="resolve", session_id="session-1", escalation_id=self.record.escalation_id,
                                   task_token=token)
        return CallbackMessage(kind="accept", session_id="session-1", escalation_id=self.record.escalation_id,
                               task_token=token, reminder=reminder, accept_deadline=DEADLINE)

    def notice(self, notice: str) -> NoticeMessage:
        return NoticeMessage(notice=notice, session_id="session-1", escalation_id=self.record.escalation_id)

    def state(self):
        return self.escalations.get("session-1", self.record.escalation_id)

    def system_turns(self) -> list[str]:
        return [t.text for t in self.sessions.stored["session-1"] if t.role == "system"]


@pytest.fixture
def world() -> World:
    return World()


# accept ---------------------------------------------------------------------------------------------

def test_accept_keeps_the_token_claims_the_mail_then_mails_the_latest_turns(world):
    assert world.worker.handle(world.callback("accept")) == "experts_notified"

    assert world.escalations.log == ["keep_accept_token", "mark_notified", "notify"]
    assert world.state().accept_token == TOKEN and world.state().notified
    (email,) = world.experts.sent
    assert "It was sent on Monday." in email.message and "I want a person!" in email.message
    assert "Where is my refund?" not in email.message  # email_turns = 2: the latest two only
    assert f"{SETTINGS.expert_api_url}escalations/{world.record.escalation_id}?" in email.message
    assert TOKEN not in email.message and TOKEN not in email.subject


def test_a_failed_mail_undoes_the_claim_so_the_retry_mails(world):
    failure = client_error("NotFound", "Publish", "Topic does not exist")
    world.experts.failure = failure

    with pytest.raises(type(failure)) as raised:
        world.worker.handle(world.callback("accept"))

    assert raised.value is failure  # raised as botocore raised it: the handler logs its code and operation
    assert world.escalations.log == ["keep_accept_token", "mark_notified", "notify", "clear_notified"]
    assert not world.state().notified and world.experts.sent == []

    world.experts.failure = None
    assert world.worker.handle(world.callback("accept")) == "experts_notified"
    assert len(world.experts.sent) == 1


def test_a_mail_that_timed_out_is_undone_too(world):
    world.experts.failure = EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")

    with pytest.raises(EndpointConnectionError):
        world.worker.handle(world.callback("accept"))

    assert world.escalations.log[-1] == "clear_notified" and not world.state().notified


def test_a_failure_before_the_claim_leaves_nothing_to_undo(world):
    def no_key() -> bytes:
        raise client_error("AccessDeniedException", "GetSecretValue")

    world.worker.signing_key = no_key

    with pytest.raises(Exception, match="AccessDenied"):
        world.worker.handle(world.callback("accept"))

    assert world.escalations.log == ["keep_accept_token"]  # no claim, no mail, nothing undone
    assert not world.state().notified


def test_an_accept_that_lost_the_claim_to_a_concurrent_delivery_mails_nobody(world):
    world.escalations.claimed_elsewhere = True

    assert world.worker.handle(world.callback("accept")) == "already_notified"

    assert world.experts.sent == [] and "clear_notified" not in world.escalations.log


def test_an_accept_already_notified_reads_nothing_more_and_mails_nobody(world):
    world.escalations.mark_notified("session-1", world.record.escalation_id)

    assert world.worker.handle(world.callback("accept")) == "already_notified"

    assert world.experts.sent == [] and world.keys_read == 0
    assert world.state().accept_token == TOKEN


@pytest.mark.parametrize("status", ["timed_out", "failed"])
def test_an_accept_after_the_workflow_moved_on_keeps_the_token_and_mails_nobody(world, status):
    world.escalations.set_status("session-1", world.record.escalation_id, status)

    assert world.worker.handle(world.callback("accept")) == "not_pending"

    assert world.escalations.log == ["keep_accept_token"] and world.experts.sent == []
    assert world.state().accept_token == TOKEN


# reminders: each round of the wait brings a new token ---------------------------------------------

NEXT_TOKEN = "AAAAKgAAAAIAAAAAAAAAAR4F+tAsk/Round/Two+Token=="


def test_a_reminder_round_replaces_the_token_and_reminds_the_experts_with_the_same_link(world):
    assert world.worker.handle(world.callback("accept")) == "experts_notified"

    assert world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1)) == "experts_reminded"

    state = world.state()
    assert (state.accept_token, state.accept_round, state.reminders) == (NEXT_TOKEN, 1, 1)
    assert state.accept_deadline == "2026-03-10T00:08:00Z"
    first, reminder = world.experts.sent
    assert reminder.subject == "Tandem reminder: a customer has waited 7 minutes for an expert (human_requested)"
    assert reminder.message.startswith("REMINDER 1: a customer has been waiting 7 minutes for a human expert")
    link = f"{SETTINGS.expert_api_url}escalations/{world.record.escalation_id}?"
    (first_link,) = [line for line in first.message.splitlines() if line.startswith(link)]
    assert first_link in reminder.message.splitlines()  # the very same signed link
    assert f"exp={int(DEADLINE.timestamp())}&" in first_link  # valid as long as the wait
    assert "works until 2026-03-10 00:08 UTC" in reminder.message
    assert TOKEN not in reminder.message and NEXT_TOKEN not in reminder.message + reminder.subject


def test_a_redelivered_reminder_reminds_nobody_again(world):
    world.worker.handle(world.callback("accept", reminder=1))

    keys_read = world.keys_read
    assert world.worker.handle(world.callback("accept", reminder=1)) == "already_reminded"

    assert len(world.experts.sent) == 1 and world.state().reminders == 1
    assert world.keys_read == keys_read  # nothing more read for a mail that is not sent


def test_a_reminder_whose_mail_failed_is_undone_so_its_retry_reminds(world):
    world.experts.failure = client_error("Throttled", "Publish")

    with pytest.raises(Exception, match="Throttled"):
        world.worker.handle(world.callback("accept", reminder=1))

    assert world.escalations.log[-1] == "clear_reminded" and world.state().reminders == 0
    world.experts.failure = None
    assert world.worker.handle(world.callback("accept", reminder=1)) == "experts_reminded"


def test_a_late_message_of_an_earlier_round_changes_nothing(world):
    world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1))

    assert world.worker.handle(world.callback("accept", reminder=0)) == "stale_round"

    assert world.state().accept_token == NEXT_TOKEN and len(world.experts.sent) == 1


def test_the_token_an_expert_claimed_is_left_to_the_expert_api(world):
    world.worker.handle(world.callback("accept"))
    world.escalations.claim("session-1", world.record.escalation_id, "Ann")

    assert world.worker.handle(world.callback("accept")) == "claimed"  # a redelivery of the claimed round

    assert world.tasks.completed == [] and world.state().accept_token == TOKEN


def test_a_round_that_begins_after_an_expert_claimed_the_escalation_completes_their_accept(world):
    """Ann accepted just as her token's round timed out: the next round's token goes to her claim and its task
    is completed here, instead of a reminder."""
    world.worker.handle(world.callback("accept"))
    world.escalations.claim("session-1", world.record.escalation_id, "Ann")

    assert world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1)) == "accept_completed"

    assert world.tasks.completed == [NEXT_TOKEN]
    state = world.state()
    assert (state.record.status, state.record.accepted_by) == ("accepted", "Ann")
    assert (state.accept_token, state.accept_handed) == (NEXT_TOKEN, True)
    assert len(world.experts.sent) == 1  # no reminder for an escalation that has its expert
    # Redelivered (say the first delivery died before completing): completed again, nothing else.
    assert world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1)) == "accept_completed"
    assert world.tasks.completed == [NEXT_TOKEN, NEXT_TOKEN]


def test_a_handed_token_whose_task_ended_too_is_done(world):
    world.worker.handle(world.callback("accept"))
    world.escalations.claim("session-1", world.record.escalation_id, "Ann")
    world.tasks.failure = client_error("TaskTimedOut", "SendTaskSuccess")

    assert world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1)) == "task_already_closed"


def test_a_claim_undone_while_the_round_began_gets_its_reminder(world):
    """The expert API undid the claim (its accept was refused) between the refused keep and the read after it."""
    world.worker.handle(world.callback("accept"))
    world.escalations.claim("session-1", world.record.escalation_id, "Ann")
    keep = world.escalations.keep_accept_token

    def undone_meanwhile(*args, **kwargs):
        kept = keep(*args, **kwargs)
        world.escalations.set_status("session-1", world.record.escalation_id, "pending")
        return kept

    world.escalations.keep_accept_token = undone_meanwhile

    assert world.worker.handle(world.callback("accept", token=NEXT_TOKEN, reminder=1)) == "experts_reminded"

    assert world.tasks.completed == [] and world.state().accept_token == NEXT_TOKEN


# resolve --------------------------------------------------------------------------------------------

def test_resolve_only_keeps_the_token_while_the_expert_works(world):
    world.escalations.set_status("session-1", world.record.escalation_id, "accepted")

    assert world.worker.handle(world.callback("resolve")) == "token_stored"

    assert world.state().resolve_token == TOKEN and world.tasks.completed == []


def test_resolve_after_the_expert_resolved_completes_the_task_with_its_token(world):
    world.escalations.set_status("session-1", world.record.escalation_id, "resolved")

    assert world.worker.handle(world.callback("resolve")) == "resolve_completed"

    assert world.tasks.completed == [TOKEN] and world.state().resolve_token == TOKEN


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_task_that_no_longer_waits_is_done(world, code):
    world.escalations.set_status("session-1", world.record.escalation_id, "resolved")
    world.tasks.failure = client_error(code, "SendTaskSuccess")

    assert world.worker.handle(world.callback("resolve")) == "task_already_closed"


def test_any_other_completion_failure_is_raised_with_its_code_and_without_the_token(world):
    world.escalations.set_status("session-1", world.record.escalation_id, "resolved")
    world.tasks.failure = client_error("ValidationException", "SendTaskSuccess",
                                       f"Value '{TOKEN}' at 'taskToken' failed to satisfy constraint")

    with pytest.raises(CallbackFailed) as raised:
        world.worker.handle(world.callback("resolve"))

    assert raised.value.code == "ValidationException"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # AWS's message stays out
    assert TOKEN not in str(raised.value)


def test_a_completion_that_could_not_reach_step_functions_is_raised_as_it_is(world):
    world.escalations.set_status("session-1", world.record.escalation_id, "resolved")
    world.tasks.failure = EndpointConnectionError(endpoint_url="https://states.us-east-1.amazonaws.com")

    with pytest.raises(EndpointConnectionError):
        world.worker.handle(world.callback("resolve"))


# notices --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("notice, text", [("busy", BUSY), ("failed", BUSY), ("expert_left", HANDBACK)])
def test_a_notice_writes_its_text_once_with_its_flag(world, notice, text):
    assert world.worker.handle(world.notice(notice)) == "notice_written"
    assert world.worker.handle(world.notice(notice)) == "notice_already_written"

    assert world.system_turns() == [text]
    assert world.state().notices == (notice,)


def test_a_notice_written_by_a_concurrent_delivery_meanwhile_adds_nothing(world):
    def other_delivery() -> None:  # writes the same notice between the worker's check and its write
        world.sessions.before_record = lambda: None
        world.sessions.record(world.sessions.load("session-1", None, recent_items=0), [Turn(role="system", text=BUSY)],
                              extra_writes=[world.escalations.notice_claim("session-1", escalation_id, "busy")])

    escalation_id = world.record.escalation_id
    world.sessions.before_record = other_delivery

    assert world.worker.handle(world.notice("busy")) == "notice_already_written"

    assert world.system_turns() == [BUSY]


def test_a_cancelled_notice_whose_flag_is_still_unset_is_raised_for_a_retry(world):
    cancelled = client_error("TransactionCanceledException", "TransactWriteItems")
    world.sessions.fail_record = cancelled

    with pytest.raises(type(cancelled)) as raised:
        world.worker.handle(world.notice("busy"))

    assert raised.value is cancelled and world.system_turns() == []


def test_a_failed_notice_write_is_raised_for_a_retry(world):
    world.sessions.fail_record = client_error("InternalServerError", "TransactWriteItems")

    with pytest.raises(Exception, match="InternalServerError"):
        world.worker.handle(world.notice("expert_left"))

    assert world.system_turns() == [] and world.state().notices == ()
