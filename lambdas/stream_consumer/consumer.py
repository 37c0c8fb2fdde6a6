"""What follows a stored item of the sessions table (the transactional outbox): for each batch of stream
records, in the order the table changed,

1. every escalation the batch opened (the INSERT of a pending ESCALATION item) gets its workflow started,
   one execution named after the escalation (idempotent). If Step Functions keeps refusing, the record is
   retried until `start_timeout_seconds` after the escalation was requested; then the escalation is
   withdrawn in one transaction: status `failed` with a note, the customer told (the busy message, as
   when no expert accepts), the session handed back to the bot so it can escalate again. The withdrawal is
   conditional on no execution having recorded itself on the escalation (its first step, RecordPending,
   sets execution_arn), so a start whose answer was lost is never withdrawn under a running workflow. A
   promise made to the customer is kept or visibly withdrawn, never dropped;
2. every session the batch touched gets its S3 transcript materialised from the table (transcripts.py),
   once per batch however many of its items changed;
3. what people see change (a new turn, an escalation's status) is pushed to the browsers connected to the
   live channel (push.py), when the live channel is deployed.

A failure is reported as the sequence number of the first record it concerns (the stream event source's
ReportBatchItemFailures): Lambda checkpoints everything before it and delivers the rest again. Both steps
are idempotent (a pushed event is named, so a browser drops one it has seen), so the records after it that
had succeeded are simply done again.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Callable, Protocol

from botocore.exceptions import ClientError

from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.stream_consumer.changes import Change, MalformedRecord
from lambdas.stream_consumer.push import LivePush
from lambdas.stream_consumer.starter import StepFunctionsStarter
from lambdas.stream_consumer.transcripts import TranscriptWriter

WITHDRAWN_NOTE = "withdrawn: the expert workflow could not be started"
# While a start keeps failing, each attempt waits this long before the record is handed back for retry, so
# the stream is not retried in a tight loop until the withdrawal bound.
RETRY_PAUSE_SECONDS = 2.0


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


def _seconds_since(timestamp: str, now: float) -> float:
    return now - datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class StreamConsumer:
    def __init__(self, *, starter: StepFunctionsStarter, transcripts: TranscriptWriter, sessions: SessionStore,
                 escalations: EscalationStore, start_timeout_seconds: int, busy_message: str, metrics: MetricSink,
                 logger: Any, live: LivePush | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.starter = starter
        self.transcripts = transcripts
        self.sessions = sessions
        self.escalations = escalations
        self.start_timeout_seconds = start_timeout_seconds
        self.busy_message = busy_message
        self.metrics = metrics
        self.logger = logger
        self.live = live
        self.clock = clock
        self.sleep = sleep

    def process(self, changes: list[Change]) -> str | None:
        """Handles a batch; returns the sequence number to retry from, or None when all of it is done."""
        failed: list[int] = []
        first_change: dict[str, int] = {}
        for index, change in enumerate(changes):
            try:
                escalation = change.opened_escalation()
            except MalformedRecord as error:  # retrying cannot help: counted and left to the alarm
                self.metrics.add_metric("MalformedStreamRecords", "Count", 1)
                self.logger.error("unreadable escalation in the stream", extra={
                    "session_id": change.session_id, "problem": str(error)})
                escalation = None
            if escalation is not None and not self.start_or_withdraw(escalation):
                failed.append(index)
            if change.shows_in_transcript:
                first_change.setdefault(change.session_id, index)
        if self.live is not None:
            unpushed = self.live.push(changes)
            if unpushed is not None:
                failed.append(unpushed)
        for session_id, index in first_change.items():
            if not self.materialize(session_id):
                failed.append(index)
        return changes[min(failed)].sequence_number if failed else None

    # Escalations ---------------------------------------------------------------------------------------

    def start_or_withdraw(self, escalation: EscalationRecord) -> bool:
        """Starts the escalation's workflow, or withdraws it past the bound; False when it must be retried."""
        ids = {"session_id": escalation.session_id, "escalation_id": escalation.escalation_id}
        try:
            outcome = self.starter.start(escalation)
        except Exception as error:  # noqa: BLE001 (any fault of the start: retried, then withdrawn past the bound)
            self.metrics.add_metric("EscalationStartFailures", "Count", 1)
            waited = _seconds_since(escalation.requested_at, self.clock())
            self.logger.warning("escalation workflow did not start", extra={
                **ids, "error": _code(error), "waited_seconds": round(waited, 1)})
            if waited < self.start_timeout_seconds:
                self.sleep(min(RETRY_PAUSE_SECONDS, self.start_timeout_seconds - waited))
                return False
            return self._withdraw(escalation)
        self.metrics.add_metric("EscalationsStarted" if outcome == "started" else "EscalationStartsRepeated",
                                "Count", 1)
        self.logger.info("escalation workflow started", extra={**ids, "outcome": outcome})
        return True

    def _withdraw(self, escalation: EscalationRecord) -> bool:
        ids = {"session_id": escalation.session_id, "escalation_id": escalation.escalation_id}
        try:
            withdrawn = self._write_withdrawal(escalation, release=True)
            if not withdrawn:
                state = self.escalations.get(escalation.session_id, escalation.escalation_id)
                if state.record.status != "pending" or state.execution_arn is not None:
                    self.logger.info("escalation moved on before it was withdrawn",
                                     extra={**ids, "status": state.record.status})
                    return True
                # Still pending and never started: the session no longer names it as its open escalation
                # (changed by hand), so it is withdrawn without handing the session back.
                withdrawn = self._write_withdrawal(escalation, release=False)
        except Exception as error:  # noqa: BLE001 (the table could not be read or written: try again)
            self.logger.error("escalation could not be withdrawn", extra={**ids, "error": _code(error)})
            return False
        if not withdrawn:
            return True  # it moved on between the two writes
        self.metrics.add_metric("EscalationsWithdrawn", "Count", 1)
        self.logger.error("escalation withdrawn: its workflow could not be started; the customer was told",
                          extra={**ids, "timeout_seconds": self.start_timeout_seconds})
        return True

    def _write_withdrawal(self, escalation: EscalationRecord, *, release: bool) -> bool:
        """One transaction: the escalation failed (if still pending and never started), the busy notice, and
        the session handed back (if `release`). False when a condition failed and nothing was written."""
        session = self.sessions.load(escalation.session_id, None, recent_items=0)
        claim = self.escalations.withdraw_claim(escalation.session_id, escalation.escalation_id, note=WITHDRAWN_NOTE)
        try:
            self.sessions.record(session, [Turn(role="system", text=self.busy_message)], extra_writes=[claim],
                                 release=escalation.escalation_id if release else None)
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return False
        return True

    # Transcripts --------------------------------------------------------------------------------------

    def materialize(self, session_id: str) -> bool:
        """Writes the session's transcript from the table; False when it must be retried."""
        try:
            outcome, unreadable = self.transcripts.materialize(session_id)
        except Exception as error:  # noqa: BLE001 (S3 or DynamoDB: the records are retried)
            self.metrics.add_metric("TranscriptWriteFailures", "Count", 1)
            self.logger.warning("transcript not written", extra={"session_id": session_id, "error": _code(error)})
            return False
        if unreadable:  # an item no retry can make readable: counted and left out, the rest is written
            self.metrics.add_metric("UnreadableTableItems", "Count", unreadable)
            self.logger.error("session items that cannot be read were left out of the transcript",
                              extra={"session_id": session_id, "items": unreadable})
        if outcome == "rebuilt":
            self.metrics.add_metric("TranscriptsRebuilt", "Count", 1)
            self.logger.warning("stored transcript was unreadable; rebuilt from the table",
                                extra={"session_id": session_id})
        elif outcome == "written":
            self.metrics.add_metric("TranscriptsWritten", "Count", 1)
        return True


def _code(error: Exception) -> str:
    """The error's code or type only: AWS's messages may quote request parameters."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return type(error).__name__
