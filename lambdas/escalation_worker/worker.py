"""What the escalation worker does with each work-queue message (statemachines/human_escalation.asl.json).

- accept:  keep the accept task token in the ESCALATION item; mail the experts once (a redelivered message
           finds the item already marked notified and mails nobody).
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
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.escalations import EscalationStore
from lambdas.common.inbox_link import inbox_link
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import Turn
from lambdas.escalation_worker.expert_email import compose, review_link
from lambdas.escalation_worker.messages import CallbackMessage, NoticeMessage, WorkMessage
from lambdas.escalation_worker.notifier import ExpertNotifier
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.escalation_worker.task_completer import TaskCompleter

# Step Functions' answers for a task that is no longer waiting: nothing left to complete.
TASK_CLOSED_ERRORS = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


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
        sid, eid = message.session_id, message.escalation_id
        self.escalations.store_token(sid, eid, "accept", message.task_token)
        state = self.escalations.get(sid, eid)
        if state.record.status != "pending":
            return "not_pending"  # the workflow moved on (timed out, failed): a mail could not be acted on
        if state.notified:
            return "already_notified"
        # Everything that only reads comes before the claim, so a failure there leaves nothing to undo.
        turns = self.sessions.turns(sid, limit=self.settings.email_turns)
        expires = int(self.clock()) + self.settings.accept_timeout_seconds
        link = review_link(self.settings.expert_api_url, self.signing_key(), session_id=sid, escalation_id=eid,
                           expires=expires)
        inbox = inbox_link(self.settings.site_url, session_id=sid, escalation_id=eid)
        email = compose(state.record, turns, link=link, link_expires=expires, inbox=inbox)
        if not self.escalations.mark_notified(sid, eid):
            return "already_notified"  # a concurrent delivery of this message claimed it first
        try:
            self.experts.notify(email)
        except (ClientError, BotoCoreError):
            self.escalations.clear_notified(sid, eid)  # so that the retry of this message mails the experts
            raise
        return "experts_notified"

    # resolve --------------------------------------------------------------------------------------

    def resolve(self, message: CallbackMessage) -> str:
        sid, eid = message.session_id, message.escalation_id
        self.escalations.store_token(sid, eid, "resolve", message.task_token)
        if self.escalations.get(sid, eid).record.status != "resolved":
            return "token_stored"  # the expert API completes the task when the expert resolves
        # The expert resolved before this token was stored, so the API had none to send: complete it here.
        try:
            self.tasks.complete(message.task_token)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Unknown")
            if code in TASK_CLOSED_ERRORS:
                return "task_already_closed"
            raise CallbackFailed(code) from None
        return "resolve_completed"

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


def outcome_metric(outcome: str) -> str | None:
    """The CloudWatch metric counting an outcome worth watching."""
    return {"experts_notified": "ExpertEmailsSent", "resolve_completed": "ResolveTasksCompleted",
            "notice_written": "CustomerNoticesWritten", "not_pending": "AcceptAfterWorkflowMovedOn"}.get(outcome)
