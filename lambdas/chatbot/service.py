"""One customer turn, end to end: load the session, answer and gate concurrently, decide, record, reply.

The answer (Bedrock) and the gate's sentiment detector run at the same time, so a gated turn costs about
the slower of the two instead of their sum. Failures are contained on the side of the human:
- the model fails  -> the customer gets an apology, the turn is recorded, and (configurable) a human is called;
- the gate fails   -> the answer still goes out; the failure is logged and counted.
Recording is one DynamoDB transaction (the turns, and the escalation when one is opened); the escalation
workflow and the S3 transcript follow from the table's stream (lambdas/stream_consumer), so an escalating
turn answers as fast as any other and a Step Functions or S3 fault cannot lose what the customer was told.
"""

from __future__ import annotations

from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol

from lambdas.chatbot.answer import Answer, Answerer, ModelFailure
from lambdas.chatbot.frustration import FrustrationCues
from lambdas.chatbot.human_request import HumanRequestMatcher
from lambdas.chatbot.policy import EscalationPolicy
from lambdas.chatbot.request import ChatRequest
from lambdas.chatbot.sentiment import GateReading, SentimentDetector
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import EscalationAlreadyOpen, SessionState, SessionStore
from lambdas.common.text_normalization import normalize
from lambdas.common.transcript import EscalationRecord, Sentiment, Turn, Withheld, customer_view, new_id, utc_now


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


class SessionClosed(RuntimeError):
    """An expert closed this conversation; it takes no more turns."""


@dataclass(frozen=True)
class TurnResult:
    session_id: str
    customer_turn: Turn
    reply_turn: Turn | None  # None while an expert owns the conversation: the bot stays silent
    escalation: EscalationRecord | None  # started by this turn
    sentiment: Sentiment | None
    escalated: bool = False  # this turn's reply is the hand-off (a new or an already open escalation)
    open_escalation_id: str | None = None  # the session's open escalation after this turn, if any
    expert: str | None = None  # who owns the conversation now
    messages: tuple[Turn, ...] = ()  # expert and system turns the customer has not been sent yet

    def to_body(self) -> dict[str, Any]:
        reply = self.reply_turn
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "turn_id": reply.turn_id if reply else self.customer_turn.turn_id,
            "reply": reply.text if reply else None,
            "escalated": self.escalated,
            "sources": [{"uri": s.uri, "excerpt": s.excerpt, "score": s.score} for s in (reply.sources if reply else ())],
            # The customer's own turn, so a page can tell it apart from another with the same text.
            "customer_turn": {"turn_id": self.customer_turn.turn_id, "created_at": self.customer_turn.created_at},
        }
        if self.escalation is not None:
            body["escalation"] = {"escalation_id": self.escalation.escalation_id, "reason": self.escalation.reason,
                                  "status": self.escalation.status, "new": True}
        elif self.open_escalation_id is not None:
            body["escalation"] = {"escalation_id": self.open_escalation_id, "new": False}
        if self.expert is not None:
            body.update(expert_active=True, agent_active=True)  # agent_active: the former name, kept for clients
            body["expert"] = self.expert
        if self.messages:
            body["messages"] = [customer_view(t) for t in self.messages]
        if reply is not None and reply.error:
            body["error"] = reply.error
        return body


def unseen_by_customer(turns: list[Turn]) -> tuple[Turn, ...]:
    """Expert and system turns after the customer's latest turn that no /chat response carried."""
    last_customer = max((i for i, t in enumerate(turns) if t.role == "customer"), default=-1)
    return tuple(t for t in turns[last_customer + 1:] if t.role in ("expert", "system") and t.reply_to is None)


class ChatService:
    def __init__(self, *, settings: ChatbotSettings, store: SessionStore, escalations: EscalationStore,
                 answerer: Answerer, detector: SentimentDetector, executor: Executor,
                 metrics: MetricSink, logger: Any, gate_grace_seconds: float = 1.0):
        self.settings = settings
        self.store = store
        self.escalations = escalations
        self.answerer = answerer
        self.detector = detector
        self.executor = executor
        self.metrics = metrics
        self.logger = logger
        self.gate_grace_seconds = gate_grace_seconds
        self.policy = EscalationPolicy(
            human_requests=HumanRequestMatcher(settings.human_request_languages, settings.human_request_patterns),
            frustration_cues=(FrustrationCues(settings.human_request_languages)
                              if settings.escalate_on_frustration_cues else None),
            negative_threshold=settings.negative_threshold,
            consecutive_negative_turns=settings.consecutive_negative_turns,
            escalate_on_model_error=settings.escalate_on_model_error,
        )
        # Enough turn items (customer, bot and system alternate) for the history and the negative streak.
        self.recent_items = 2 * max(settings.history_turns, settings.consecutive_negative_turns) + 2

    def handle(self, request: ChatRequest, customer_id: str) -> TurnResult:
        session = (self.store.load(request.session_id, customer_id, recent_items=self.recent_items)
                   if request.session_id else self.store.new_session(new_id(), customer_id))
        if session.closed_at:
            raise SessionClosed(session.session_id)
        if session.owner:
            return self._handle_while_expert_owns(request, session)
        received_at = utc_now()
        history = session.recent_turns[-self.settings.history_turns:] if self.settings.history_turns else []

        # Rules and detectors read one canonical form of the text; the stored turn keeps what was typed.
        normalized = normalize(request.message)
        detection = self.executor.submit(self._detect, normalized)
        # An explicit request for a human is settled without the model: no tokens spent on an unread answer.
        answering = None if self.policy.human_request(normalized) else self.executor.submit(
            self.answerer.answer, request.message, history)
        answer = answering.result() if answering is not None else None
        reading = self._await_gate(detection, answered=answering is not None)
        sentiment = reading.sentiment if reading is not None else None

        if isinstance(answer, ModelFailure):
            self.metrics.add_metric("ModelFailures", "Count", 1)
            self.logger.error("model failed to answer", extra={"error": answer.error, "session_id": session.session_id})
        decision = self.policy.decide(normalized, reading, session.recent_turns,
                                      model_failed=isinstance(answer, ModelFailure))
        reason = decision.reason if decision is not None else None
        customer_turn = Turn(role="customer", text=request.message, created_at=received_at, sentiment=sentiment)
        escalation = None
        if decision is not None and session.open_escalation_id is None:
            escalation = EscalationRecord(session_id=session.session_id, reason=decision.reason,
                                          turn_id=customer_turn.turn_id, sentiment=sentiment,
                                          explanation=decision.explanation())
        reply_turn = self._reply(answer, reason, reply_to=customer_turn.turn_id)

        try:
            self.store.record(session, [customer_turn, reply_turn], escalation)
        except EscalationAlreadyOpen:
            # A concurrent turn of this session escalated first: this one joins it instead of opening another.
            escalation = None
            session = self.store.load(session.session_id, customer_id, recent_items=0)
            self.store.record(session, [customer_turn, reply_turn], None)
        if escalation is not None and decision is not None:
            self.metrics.add_metric("Escalations", "Count", 1)
            # The rule and signal, never the excerpt: customer words stay out of the logs.
            self.logger.info("escalation recorded", extra={"escalation_id": escalation.escalation_id,
                                                           "reason": escalation.reason, "rule": decision.rule,
                                                           "signal": decision.signal})
        elif reason is not None:
            self.logger.info("escalation already open", extra={"escalation_id": session.open_escalation_id})
        return TurnResult(session_id=session.session_id, customer_turn=customer_turn, reply_turn=reply_turn,
                          escalation=escalation, sentiment=sentiment, escalated=reason is not None,
                          open_escalation_id=session.open_escalation_id,
                          messages=unseen_by_customer(session.recent_turns))

    def _handle_while_expert_owns(self, request: ChatRequest, session: SessionState) -> TurnResult:
        """The expert has the conversation: the customer's message is stored for them and neither the model
        nor the gate is called. The expert's replies come back with this response or through GET messages."""
        unseen = unseen_by_customer(session.recent_turns)
        customer_turn = Turn(role="customer", text=request.message)
        self.store.record(session, [customer_turn], None)
        return TurnResult(session_id=session.session_id, customer_turn=customer_turn, reply_turn=None,
                          escalation=None, sentiment=None, open_escalation_id=session.open_escalation_id,
                          expert=session.owner, messages=unseen)

    def messages_since(self, session_id: str, customer_id: str, after: str | None) -> dict[str, Any]:
        """GET /chat/{session_id}/messages: what was said after `after` (all turns when None), with the
        customer's thumb on each answer that has one (`feedback`: {thumb, comment, given_at}), and while an
        escalation is open, what the customer may know of it: its status, when it was requested and when the
        wait for an expert ends (EscalationStore.customer_view: never its reason or anything internal)."""
        session = self.store.load(session_id, customer_id, recent_items=0)
        turns, thumbs = self.store.turns_and_thumbs(session_id, after=after or None)
        messages = [customer_view(t) for t in turns]
        for message in messages:  # the customer's own thumb on an answer, so a reload shows it again
            if message["turn_id"] in thumbs:
                message["feedback"] = thumbs[message["turn_id"]].customer_view()
        body: dict[str, Any] = {"session_id": session_id, "messages": messages,
                                "expert_active": session.owner is not None, "closed": session.closed_at is not None}
        body["agent_active"] = body["expert_active"]  # the former name, kept for clients that read it
        if session.owner is not None:
            body["expert"] = session.owner
        if session.open_escalation_id is not None:
            escalation = self.escalations.customer_view(session_id, session.open_escalation_id)
            if escalation is not None:
                body["escalation"] = escalation
        return body

    def _await_gate(self, detection: Future[GateReading | None], *, answered: bool) -> GateReading | None:
        """Once the answer is there, the gate gets a short grace, not its whole retry budget: a stalled
        detector must not hold up the reply. Its thread finishes on its own; the executor has room for it."""
        try:
            return detection.result(timeout=self.gate_grace_seconds if answered else None)
        except TimeoutError:
            self.metrics.add_metric("GateFailures", "Count", 1)
            self.logger.warning("sentiment detector too slow; answering without it",
                                extra={"detector": self.detector.name, "grace_seconds": self.gate_grace_seconds})
            return None

    def _detect(self, message: str) -> GateReading | None:
        try:
            return self.detector.detect(message)
        except Exception as error:  # any detector fault: the gate must never take the answer down with it
            self.metrics.add_metric("GateFailures", "Count", 1)
            self.logger.exception("sentiment detector failed; answering without it",
                                  extra={"detector": self.detector.name, "error": type(error).__name__})
            return None

    def _reply(self, answer: Answer | ModelFailure | None, reason: str | None, reply_to: str) -> Turn:
        if reason is not None:
            text = self.settings.handoff_message
            if isinstance(answer, ModelFailure):
                text = f"{self.settings.model_error_message} {text}"
            # The hand-off is Tandem speaking, not the model: a system turn, never sampled for rating. The
            # model's answer, when there is one, stays on it unseen: the expert's answer is later set beside it.
            if isinstance(answer, ModelFailure):
                return Turn(role="system", text=text, error=answer.error, reply_to=reply_to)
            withheld = Withheld(text=answer.text, model_id=answer.model_id) if answer is not None else None
            return Turn(role="system", text=text, reply_to=reply_to, withheld=withheld)
        if isinstance(answer, ModelFailure):
            return Turn(role="bot", text=self.settings.model_error_message, model_id=self.answerer.model_id,
                        latency_ms=answer.latency_ms, error=answer.error, reply_to=reply_to)
        assert answer is not None  # no reason to escalate means the model was asked
        return Turn(role="bot", text=answer.text, model_id=answer.model_id, latency_ms=answer.latency_ms,
                    sources=answer.sources, reply_to=reply_to)
