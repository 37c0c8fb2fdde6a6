"""In-memory stand-ins for what the escalation worker is given (worker.py): the two stores, the experts'
topic and the workflow. Each keeps only what the worker's rules need and records what was done to it, so a
rule's test reads as the rule: what was stored, claimed, undone, mailed or completed, in which order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from botocore.exceptions import ClientError

from lambdas.common.escalations import EscalationNotFound, EscalationState
from lambdas.common.session_store import SessionState
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.escalation_worker.expert_email import ExpertEmail


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeEscalations:
    """EscalationStore over a dict; `log` lists the writes in the order they were made."""

    def __init__(self, *records: EscalationRecord) -> None:
        self.states = {(r.session_id, r.escalation_id): EscalationState(record=r) for r in records}
        self.log: list[str] = []
        self.claimed_elsewhere = False  # mark_notified loses to a concurrent delivery of the message

    def get(self, session_id: str, escalation_id: str) -> EscalationState:
        try:
            return self.states[(session_id, escalation_id)]
        except KeyError:
            raise EscalationNotFound(escalation_id) from None

    def _change(self, session_id: str, escalation_id: str, **changes: Any) -> None:
        key = (session_id, escalation_id)
        self.states[key] = replace(self.get(*key), **changes)

    def store_token(self, session_id: str, escalation_id: str, kind: str, token: str) -> None:
        self._change(session_id, escalation_id, **{f"{kind}_token": token})
        self.log.append(f"store_{kind}_token")

    def keep_accept_token(self, session_id: str, escalation_id: str, token: str, *, round: int,
                          deadline: str) -> EscalationState | None:
        """Refused (None) while the escalation is claimed or a later round's token is kept."""
        state = self.get(session_id, escalation_id)
        if state.record.status == "accepted" or (state.accept_round is not None and state.accept_round > round):
            self.log.append("keep_refused")
            return None
        self._change(session_id, escalation_id, accept_token=token, accept_round=round, accept_deadline=deadline,
                     accept_handed=False)
        self.log.append("keep_accept_token")
        return self.get(session_id, escalation_id)

    def hand_accept_token(self, session_id: str, escalation_id: str, token: str, *, round: int,
                          claim: EscalationState) -> bool:
        """Only while the claim, and the token it is tied to, are as `claim` says."""
        state = self.get(session_id, escalation_id)
        now = (state.record.status, state.record.accepted_by, state.record.accepted_at, state.accept_token)
        if now != ("accepted", claim.record.accepted_by, claim.record.accepted_at, claim.accept_token):
            return False
        self._change(session_id, escalation_id, accept_token=token, accept_round=round, accept_handed=True)
        self.log.append("hand_accept_token")
        return True

    def mark_reminded(self, session_id: str, escalation_id: str, reminder: int) -> bool:
        if self.claimed_elsewhere or self.get(session_id, escalation_id).reminders >= reminder:
            return False
        self._change(session_id, escalation_id, reminders=reminder, reminded_at="2026-03-10T00:05:00Z")
        self.log.append("mark_reminded")
        return True

    def clear_reminded(self, session_id: str, escalation_id: str, reminder: int, *, before: EscalationState) -> None:
        self._change(session_id, escalation_id, reminders=before.reminders, reminded_at=before.reminded_at)
        self.log.append("clear_reminded")

    def claim(self, session_id: str, escalation_id: str, expert: str) -> None:
        """What the expert API's accept writes (tied to the token kept now)."""
        state = self.get(session_id, escalation_id)
        self._change(session_id, escalation_id, record=replace(state.record, status="accepted", accepted_by=expert,
                                                               accepted_at="2026-03-10T00:04:59Z"))

    def mark_notified(self, session_id: str, escalation_id: str) -> bool:
        if self.claimed_elsewhere or self.get(session_id, escalation_id).notified:
            return False
        self._change(session_id, escalation_id, notified=True)
        self.log.append("mark_notified")
        return True

    def clear_notified(self, session_id: str, escalation_id: str) -> None:
        self._change(session_id, escalation_id, notified=False)
        self.log.append("clear_notified")

    def notice_claim(self, session_id: str, escalation_id: str, notice: str) -> dict[str, Any]:
        return {"notice": (session_id, escalation_id, notice)}

    def set_status(self, session_id: str, escalation_id: str, status: str) -> None:
        state = self.get(session_id, escalation_id)
        self._change(session_id, escalation_id, record=replace(state.record, status=status))

    def flag_notice(self, session_id: str, escalation_id: str, notice: str) -> None:
        self._change(session_id, escalation_id, notices=(*self.get(session_id, escalation_id).notices, notice))


class FakeSessions:
    """SessionStore over a list of turns per session. `record` applies the notice claims it is given in the
    same step as the turns, and refuses both (TransactionCanceledException) when a claimed notice is already
    flagged, as the DynamoDB transaction does. `before_record` runs first: a concurrent writer."""

    def __init__(self, escalations: FakeEscalations, turns: dict[str, list[Turn]]) -> None:
        self.escalations = escalations
        self.stored = turns
        self.before_record: Callable[[], None] = lambda: None
        self.fail_record: ClientError | None = None

    def turns(self, session_id: str, *, limit: int | None = None) -> list[Turn]:
        turns = self.stored[session_id]
        return turns[-limit:] if limit else list(turns)

    def load(self, session_id: str, customer_id: str | None, *, recent_items: int) -> SessionState:
        return SessionState(session_id=session_id, customer_id="customer-sub-1",
                            started_at=self.stored[session_id][0].created_at, is_new=False)

    def record(self, session: SessionState, turns: list[Turn], *, extra_writes: list[dict[str, Any]]) -> None:
        self.before_record()
        if self.fail_record is not None:
            raise self.fail_record
        claims = [write["notice"] for write in extra_writes]
        if any(notice in self.escalations.get(sid, eid).notices for sid, eid, notice in claims):
            raise client_error("TransactionCanceledException", "TransactWriteItems")
        for sid, eid, notice in claims:
            self.escalations.flag_notice(sid, eid, notice)
        self.stored[session.session_id].extend(turns)


class FakeExperts:
    """ExpertNotifier: keeps the emails; raises `failure` instead while it is set."""

    def __init__(self, log: list[str]) -> None:
        self.sent: list[ExpertEmail] = []
        self.failure: Exception | None = None
        self.log = log

    def notify(self, email: ExpertEmail) -> None:
        self.log.append("notify")
        if self.failure is not None:
            raise self.failure
        self.sent.append(email)


class FakeTasks:
    """TaskCompleter: keeps the tokens it completed; raises `failure` instead while it is set."""

    def __init__(self) -> None:
        self.completed: list[str] = []
        self.failure: Exception | None = None

    def complete(self, task_token: str) -> None:
        if self.failure is not None:
            raise self.failure
        self.completed.append(task_token)
