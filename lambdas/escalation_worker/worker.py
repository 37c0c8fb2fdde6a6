"""What the escalation worker does with each work-queue message (statemachines/human_escalation.asl.json).

- accept:  keep the accept task token of this round of the wait in the ESCALATION item (a later round's token
           replaces an earlier one's, never the reverse) with the accept deadline; then, while the escalation
           is pending, mail the experts: the call in round 0, reminder n in round n, each once (a redelivered
           message finds it marked and mails nobody). If an expert's accept claimed the escalation while this
           round's token was on its way (their token's task timed out), the token is handed to that claim and
           the task completed here, so the accept is not lost (lambdas/common/escalations.py).
- resolve: keep the resolve task token; if the expert resolved before the token arrived (the API then had
           no token to complete), complete the task here.
- notice:  write the customer's system turn (busy / expert left / failed) into the conversation; the turn
           and a per-notice flag on the ESCALATION item are one DynamoDB transaction, so a redelivered
           notice never writes a second turn (the transcript follows from the table's stream).

Every step is idempotent: SQS may deliver a message more than once, and a failed message is retried.

The worker calls AWS only through what it is given (the stores, ExpertNotifier, TaskCompleter), so these
rules, and what each failure leads to, can be tested without AWS.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.escalations import EscalationState, EscalationStore
from lambdas.common.inbox_link import inbox_link
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import Turn
from lambdas.escalation_worker.expert_email import ExpertEmail, Reminder, compose, review_link
from lambdas.escalation_worker.messages import CallbackMessage, MalformedMessage, NoticeMessage, WorkMessage
from lambdas.escalation_worker.notifier import ExpertNotifier
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.escalation_worker.task_completer import TaskCompleter

# Step Functions' answers for a task that is no longer waiting: nothing left to complete.
TASK_CLOSED_ERRORS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")
KEEP_ATTEMPTS = 3  # the escalation changed between a refused write and the read after it: look again


class EscalationKeptChanging(RuntimeError):
    """The accept token could not be kept or handed over in KEEP_ATTEMPTS tries: the message is retried."""


class CallbackFailed(RuntimeError):
    """SendTaskSuccess failed. Only the error code is kept: AWS's message may quote the task token."""

    def __init__(self, code: str):
        super().__init__(f"SendTaskSuccess failed with {code}")
        self.code = code


class EscalationWorker:
    def __init__(self, settings: WorkerSettings, *, sessions: SessionStore, escalations: EscalationStore,
                 experts: ExpertNotifier, tasks: TaskCompleter, signing_key: Callable[[], bytes],
                 clock: Callable[[], float] = time.time):
        self.settings = settings
        self.sessions = sessions
        self.escalations = escalations
        self.experts = experts
        self.tasks = tasks
        self.signing_key = signing_key
        self.clock = clock

    def handle(self, message: WorkMessage) -> str:
        """Does what the message asks; returns the outcome (a short name for the log and the metrics)."""
        if isinstance(message, NoticeMessage):
            return self.notice(message)
        if message.kind == "accept":
            return self.accept(message)
        return self.resolve(message)

    # accept ---------------------------------------------------------------------------------------

    def accept(self, message: CallbackMessage) -> str:
        sid, eid, deadline = message.session_id, message.escalation_id, message.accept_deadline
        if deadline is None:  # parse_message gives every accept message one
            raise MalformedMessage("accept_seconds", "is required")
        kept = self._keep_accept_token(message, deadline)
        if isinstance(kept, str):
            return kept
        if kept.record.status != "pending":
            return "not_pending"  # the workflow moved on (timed out, failed): a mail could not be acted on
        if message.reminder == 0 and kept.notified:
            return "already_notified"
        if message.reminder and kept.reminders >= message.reminder:
            return "already_reminded"
        # Everything that only reads comes before the claim, so a failure there leaves nothing to undo.
        turns = self.sessions.turns(sid, limit=self.settings.email_turns)
        # The link expires with the wait, so every round mails the very same link.
        expires = int(deadline.timestamp())
        link = review_link(self.settings.expert_api_url, self.signing_key(), session_id=sid, escalation_id=eid,
                           expires=expires)
        inbox = inbox_link(self.settings.site_url, session_id=sid, escalation_id=eid)
        if message.reminder == 0:
            return self._notify(sid, eid, compose(kept.record, turns, link=link, link_expires=expires, inbox=inbox))
        waited = _seconds_since(kept.record.requested_at, self.clock())
        email = compose(kept.record, turns, link=link, link_expires=expires, inbox=inbox,
                        reminder=Reminder(number=message.reminder, waited_seconds=waited))
        return self._remind(sid, eid, message.reminder, email, before=kept)

    def _keep_accept_token(self, message: CallbackMessage, deadline: datetime) -> EscalationState | str:
        """The escalation with this round's token kept, or the outcome when the token went elsewhere: an earlier
        round's (`stale_round`), or an expert's claim (completed here, or by the expert API if it is the claim's
        own token)."""
        sid, eid, token = message.session_id, message.escalation_id, message.task_token
        for _ in range(KEEP_ATTEMPTS):
            kept = self.escalations.keep_accept_token(sid, eid, token, round=message.reminder,
                                                      deadline=deadline.strftime("%Y-%m-%dT%H:%M:%SZ"))
            if kept is not None:
                return kept
            current = self.escalations.get(sid, eid)
            if (current.accept_round or 0) > message.reminder:
                return "stale_round"  # a later round's token is kept; this round's task has ended
            if current.record.status != "accepted":
                continue  # the claim was undone meanwhile: keep the token as usual
            if current.accept_token == token and not current.accept_handed:
                return "claimed"  # the expert API completes the token its claim is tied to
            # (A redelivered message whose token was handed before finds it handed: it completes it again.)
            if self.escalations.hand_accept_token(sid, eid, token, round=message.reminder, claim=current):
                return self._complete(token, "accept_completed")
        raise EscalationKeptChanging(f"escalation {eid} kept changing")

    def _notify(self, sid: str, eid: str, email: ExpertEmail) -> str:
        if not self.escalations.mark_notified(sid, eid):
            return "already_notified"  # a concurrent delivery of this message claimed it first
        try:
            self.experts.notify(email)
        except (ClientError, BotoCoreError):
            self.escalations.clear_notified(sid, eid)  # so that the retry of this message mails the experts
            raise
        return "experts_notified"

    def _remind(self, sid: str, eid: str, reminder: int, email: ExpertEmail, *, before: EscalationState) -> str:
        if not self.escalations.mark_reminded(sid, eid, reminder):
            return "already_reminded"
        try:
            self.experts.notify(email)
        except (ClientError, BotoCoreError):
            self.escalations.clear_reminded(sid, eid, reminder, before=before)
            raise
        return "experts_reminded"

    def _complete(self, token: str, outcome: str) -> str:
        try:
            self.tasks.complete(token)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if code in TASK_CLOSED_ERRORS:
                return "task_already_closed"
            raise CallbackFailed(code) from None
        return outcome

    # resolve --------------------------------------------------------------------------------------

    def resolve(self, message: CallbackMessage) -> str:
        sid, eid = message.session_id, message.escalation_id
        self.escalations.store_token(sid, eid, "resolve", message.task_token)
        if self.escalations.get(sid, eid).record.status != "resolved":
            return "token_stored"  # the expert API completes the task when the expert resolves
        # The expert resolved before this token was stored, so the API had none to send: complete it here.
        return self._complete(message.task_token, "resolve_completed")

    # notice ---------------------------------------------------------------------------------------

    def notice(self, message: NoticeMessage) -> str:
        sid, eid = message.session_id, message.escalation_id
        state = self.escalations.get(sid, eid)
        session = self.sessions.load(sid, None, recent_items=0)
        if message.notice in state.notices:
            return "notice_already_written"
        text = self.settings.handback_message if message.notice == "expert_left" else self.settings.busy_message
        claim = self.escalations.notice_claim(sid, eid, message.notice)  # type: ignore[arg-type]
        try:
            self.sessions.record(session, [Turn(role="system", text=text)], extra_writes=[claim])
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException" \
                    or message.notice not in self.escalations.get(sid, eid).notices:
                raise
            # A concurrent delivery of this message wrote the notice first; this one adds nothing.
            return "notice_already_written"
        return "notice_written"


def _seconds_since(iso: str, now: float) -> int:
    try:
        return int(now - datetime.fromisoformat(iso).timestamp())
    except ValueError:
        return 0  # a record this code did not write: "less than a minute" rather than no reminder at all


def outcome_metric(outcome: str) -> str | None:
    """The CloudWatch metric counting an outcome worth watching."""
    return {"experts_notified": "ExpertEmailsSent", "experts_reminded": "ExpertRemindersSent",
            "resolve_completed": "ResolveTasksCompleted", "accept_completed": "AcceptsHandedToNextRound",
            "notice_written": "CustomerNoticesWritten", "not_pending": "AcceptAfterWorkflowMovedOn"}.get(outcome)
