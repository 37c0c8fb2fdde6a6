"""What follows the escalating turn, each polled until a deadline because the outbox (the TandemOutbox
stream consumer, lambdas/stream_consumer/) works asynchronously:

- the ESCALATION#<id> item in the session (lambdas/common/session_store.py), pending or accepted;
- the workflow execution the outbox starts, named after the escalation (lambdas/stream_consumer/starter.py),
  RUNNING and not on its time-out or failure path;
- the session's S3 transcript (lambdas/common/transcript.py `transcript_key`) holding both customer turns.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.escalations import escalation_key, state_from_item
from lambdas.common.session_store import SESSION_SK
from lambdas.common.transcript import Transcript, transcript_key
from tools.smoke.chat import Escalated
from tools.smoke.clock import Poller
from tools.smoke.report import SmokeFailure

# statemachines/human_escalation.asl.json: the states an escalation nobody has answered yet passes through,
# and those of its time-out and failure paths.
WAITING_STATES = ("Configure", "RecordPending", "StartAcceptWait", "PlanAcceptRound", "RoundUntilReminder",
                  "RoundUntilTimeout", "NotifyExpertsAndWaitForAccept", "AcceptRoundEnded", "NextReminder",
                  "WaitForResolve")
FAILURE_PATH_STATES = ("MarkTimedOut", "ReleaseAfterTimeout", "NotifyFallbackTier", "TellCustomerExpertsBusy",
                       "MarkExpired", "ReleaseAfterExpiry", "TellCustomerExpertLeft", "MarkFailed",
                       "ReleaseAfterFailure", "TellCustomerWorkflowFailed")
OPEN_STATUSES = ("pending", "accepted")
OUTBOX_HINT = "is the TandemOutbox stream consumer running? (docs/OPERATIONS.md, The outbox)"


class EscalationNotRecorded(SmokeFailure):
    part = "escalation"


class WorkflowNotRunning(SmokeFailure):
    part = "workflow"


class TranscriptIncomplete(SmokeFailure):
    part = "transcript"


def execution_arn(state_machine_arn: str, escalation_id: str) -> str:
    """The ARN of the execution the outbox starts for an escalation: it is named after it."""
    prefix, machine = state_machine_arn.split(":stateMachine:", 1)
    return f"{prefix}:execution:{machine}:{escalation_id}"


def session_started_at(ddb: Any, table: str, session_id: str) -> str | None:
    item = ddb.get_item(TableName=table, ConsistentRead=True,
                        Key={"session_id": {"S": session_id}, "sk": {"S": SESSION_SK}}).get("Item")
    return item["started_at"]["S"] if item else None


class EscalationRecordCheck:
    def __init__(self, ddb: Any, *, table: str, poller: Poller):
        self.ddb = ddb
        self.table = table
        self.poller = poller

    def check(self, escalated: Escalated) -> str:
        key = escalation_key(escalated.session_id, escalated.escalation_id)
        item = self.poller.until(lambda: self.ddb.get_item(TableName=self.table, ConsistentRead=True,
                                                           Key=key).get("Item"))
        if item is None:
            raise EscalationNotRecorded(f"no ESCALATION#{escalated.escalation_id} item in session "
                                        f"{escalated.session_id} of {self.table} after {self.poller.timeout:g} s")
        record = state_from_item(item).record
        if record.status not in OPEN_STATUSES:
            note = f" ({record.note})" if record.note else ""
            raise EscalationNotRecorded(f"escalation {record.escalation_id} is {record.status}{note}, not pending")
        return f"ESCALATION#{record.escalation_id}: {record.status}, reason {record.reason}"


class WorkflowCheck:
    def __init__(self, sfn: Any, *, state_machine_arn: str, poller: Poller):
        self.sfn = sfn
        self.state_machine_arn = state_machine_arn
        self.poller = poller

    def _describe(self, arn: str) -> dict[str, Any] | None:
        try:
            return self.sfn.describe_execution(executionArn=arn)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return None
            raise

    def current_state(self, arn: str) -> str | None:
        """The state the execution entered last (None before its first)."""
        entered: str | None = None
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
            for event in page["events"]:
                entered = event.get("stateEnteredEventDetails", {}).get("name", entered)
        return entered

    def check(self, escalated: Escalated) -> str:
        arn = execution_arn(self.state_machine_arn, escalated.escalation_id)
        machine = self.state_machine_arn.rsplit(":", 1)[-1]
        execution = self.poller.until(lambda: self._describe(arn))
        if execution is None:
            raise WorkflowNotRunning(f"no execution {escalated.escalation_id} of {machine} after "
                                     f"{self.poller.timeout:g} s: {OUTBOX_HINT}")
        status = execution["status"]
        if status != "RUNNING":
            cause = ": ".join(part for part in (execution.get("error"), execution.get("cause")) if part)
            raise WorkflowNotRunning(f"execution {escalated.escalation_id} is {status}"
                                     + (f" ({cause[:200]})" if cause else "") + ", not RUNNING")
        state = self.current_state(arn)
        if state in FAILURE_PATH_STATES:
            raise WorkflowNotRunning(f"execution {escalated.escalation_id} is RUNNING in {state}: it is on its "
                                     "time-out or failure path (docs/OPERATIONS.md, The escalation workflow)")
        return f"execution {escalated.escalation_id} RUNNING" + (f" in {state}" if state else "")


class TranscriptCheck:
    def __init__(self, s3: Any, ddb: Any, *, bucket: str, table: str, poller: Poller):
        self.s3 = s3
        self.ddb = ddb
        self.bucket = bucket
        self.table = table
        self.poller = poller

    def _customer_texts(self, key: str) -> list[str] | None:
        try:
            stored = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return None
            raise
        with stored["Body"] as body:
            transcript = Transcript.from_dict(json.loads(body.read()))
        return [t.text for t in transcript.turns if t.role == "customer"]

    def check(self, session_id: str, messages: list[str]) -> str:
        started_at = session_started_at(self.ddb, self.table, session_id)
        if started_at is None:
            raise TranscriptIncomplete(f"session {session_id} has no SESSION item in {self.table}")
        key = transcript_key(session_id, started_at)
        seen: list[str] | None = None

        def holds_every_message() -> bool | None:
            nonlocal seen
            seen = self._customer_texts(key)
            return True if seen is not None and all(m in seen for m in messages) else None

        where = f"s3://{self.bucket}/{key}"
        if self.poller.until(holds_every_message) is None:
            if seen is None:
                raise TranscriptIncomplete(f"no transcript at {where} after {self.poller.timeout:g} s: {OUTBOX_HINT}")
            held = sum(m in seen for m in messages)
            raise TranscriptIncomplete(f"{where} holds {held} of the {len(messages)} customer turns after "
                                       f"{self.poller.timeout:g} s: {OUTBOX_HINT}")
        return f"{where} holds both customer turns" if len(messages) == 2 else f"{where} holds the customer turns"
