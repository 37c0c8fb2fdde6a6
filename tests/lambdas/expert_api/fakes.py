"""In-memory stand-ins for the seams ExpertApi holds (lambdas/expert_api/actions.py), for tests of the rules
alone: no moto, no Stubber. Each one keeps what was done to it, models what its real class promises (a claim
is conditional, a reply's transaction is cancelled when the escalation is no longer the expert's or the form
was stored before), and lets a test script its failures. test_rules.py checks that their methods take the
real classes' parameters."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from lambdas.common.escalations import AcceptClaim, EscalationConflict, EscalationNotFound, EscalationState
from lambdas.common.session_store import SessionState
from lambdas.common.transcript import EscalationRecord, Turn, utc_now
from lambdas.expert_api.replies import ReplyNotStored
from lambdas.expert_api.workflow import AcceptOutcome


class FakeEscalations:
    """One escalation, by (session id, escalation id)."""

    table_name = "fake-sessions"

    def __init__(self, state: EscalationState):
        self.states = {(state.record.session_id, state.record.escalation_id): state}

    def get(self, session_id: str, escalation_id: str) -> EscalationState:
        try:
            return self.states[(session_id, escalation_id)]
        except KeyError:
            raise EscalationNotFound(escalation_id) from None

    def _change(self, state: EscalationState, **changes: Any) -> EscalationRecord:
        record = replace(state.record, **changes)
        self.states[(record.session_id, record.escalation_id)] = replace(state, record=record)
        return record

    def accept(self, session_id: str, escalation_id: str, expert: str) -> AcceptClaim:
        state = self.get(session_id, escalation_id)
        if state.record.status != "pending" or not state.accept_token:
            raise EscalationConflict(state.record.status, "accept")
        record = self._change(state, status="accepted", accepted_by=expert, accepted_at=utc_now())
        return AcceptClaim(record=record, token=state.accept_token, round=state.accept_round or 0)

    def hand_accept_token(self, session_id: str, escalation_id: str, token: str, *, round: int,
                          claim: EscalationState) -> bool:
        """What the worker does when a new round's token finds a standing claim: only while the claim, and the
        token it is tied to, are as `claim` says."""
        key = (session_id, escalation_id)
        state = self.get(*key)
        now = (state.record.status, state.record.accepted_by, state.record.accepted_at, state.accept_token)
        if now != ("accepted", claim.record.accepted_by, claim.record.accepted_at, claim.accept_token):
            return False
        self.states[key] = replace(state, accept_token=token, accept_round=round, accept_handed=True)
        return True

    def undo_accept(self, session_id: str, escalation_id: str, *, expert: str, accepted_at: str, token: str) -> bool:
        state = self.get(session_id, escalation_id)
        record = state.record
        if (record.status, record.accepted_by, record.accepted_at, state.accept_token) != (
                "accepted", expert, accepted_at, token):
            return False
        self._change(state, status="pending", accepted_by=None, accepted_at=None)
        return True

    def resolve(self, session_id: str, escalation_id: str, *, expert: str, note: str,
                close: bool) -> tuple[EscalationRecord, str | None]:
        state = self.get(session_id, escalation_id)
        if state.record.status != "accepted":
            raise EscalationConflict(state.record.status, "resolve")
        return self._change(state, status="resolved", resolved_at=utc_now(), note=note), state.resolve_token


class FakeSessions:
    """One session's turns, oldest first; `failure`, when set, is raised by the next `record`."""

    def __init__(self, session_id: str, turns: Sequence[Turn] = ()):
        self.session_id = session_id
        self.stored = list(turns)
        self.failure: Exception | None = None

    def load(self, session_id: str, customer_id: str | None, *, recent_items: int) -> SessionState:
        return SessionState(session_id=session_id, customer_id="customer-1", started_at=self.stored[0].created_at,
                            is_new=False, recent_turns=self.stored[-recent_items:] if recent_items else [])

    def record(self, session: SessionState, turns: list[Turn], escalation: EscalationRecord | None = None, *,
               extra_writes: Sequence[dict[str, Any]] = (), release: str | None = None) -> None:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        self.stored.extend(turns)

    def turns(self, session_id: str, *, limit: int | None = None, after: str | None = None,
              until: str | None = None) -> list[Turn]:
        found = [t for t in self.stored if (after is None or t.created_at > after)
                 and (until is None or t.created_at <= until)]
        return found[-limit:] if limit is not None else found


class FakeReplies:
    """The reply transaction: stored while the escalation is the expert's, at most once per reply form."""

    def __init__(self, escalations: FakeEscalations, sessions: FakeSessions):
        self.escalations = escalations
        self.sessions = sessions
        self.applied: dict[str, tuple[str, str]] = {}
        self.conflicting = False  # the write keeps conflicting with others: cancelled whatever the state

    def store(self, record: EscalationRecord, turn: Turn, *, reply_id: str | None) -> None:
        now = self.escalations.get(record.session_id, record.escalation_id).record
        if self.conflicting or (now.status, now.accepted_by) != ("accepted", record.accepted_by) \
                or reply_id in self.applied:
            raise ReplyNotStored(record.session_id)
        self.sessions.stored.append(turn)
        if reply_id:
            self.applied[reply_id] = (turn.turn_id, turn.created_at)

    def earlier(self, session_id: str, reply_id: str) -> tuple[str, str] | None:
        return self.applied.get(reply_id)


class FakeTasks:
    """SendTaskSuccess: each call takes the next scripted failure, if any, else completes the task."""

    def __init__(self, *failures: Exception):
        self.failures = list(failures)
        self.completed: list[tuple[str, dict[str, object]]] = []

    def complete(self, token: str, output: dict[str, object]) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.completed.append((token, output))


class FakeProbe:
    """What the execution's history says about the accept."""

    def __init__(self, outcome: AcceptOutcome = "unknown"):
        self.outcome = outcome
        self.asked: list[str | None] = []
        self.rounds: list[int] = []

    def accept_outcome(self, execution_arn: str | None, accept_round: int = 0) -> AcceptOutcome:
        self.asked.append(execution_arn)
        self.rounds.append(accept_round)
        return self.outcome


class FakeMasker:
    """Masks each of `words` as [PII]; raises `failure` instead when set."""

    def __init__(self, *words: str, failure: Exception | None = None):
        self.words = words
        self.failure = failure
        self.asked: list[list[str]] = []

    def mask(self, texts: Sequence[str], language_code: str) -> list[str]:
        self.asked.append(list(texts))
        if self.failure is not None:
            raise self.failure
        masked = list(texts)
        for word in self.words:
            masked = [text.replace(word, "[PII]") for text in masked]
        return masked


class FakeKnowledgeBucket:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.objects[key] = (body, content_type)
