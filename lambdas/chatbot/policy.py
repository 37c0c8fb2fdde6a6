"""The escalation policy: pure rules over one customer turn (its normalised text), what the gate's
detector read in it, and the turns before it.

Rules, checked in this order (the first that applies decides, and says why):
1. `human_requested`: a request pattern of one of the configured languages matches
   (lambdas/chatbot/human_request.py), or the `llm` detector says the customer asks for a human.
2. `model_error`: the model failed to answer (when `escalate_on_model_error` is on).
3. `negative_sentiment`: a frustration cue (lambdas/chatbot/frustration.py: threats, insults, shouting,
   sarcastic idioms; when `escalate_on_frustration_cues` is on), or negative sentiment scored at or above
   the detector's threshold.
4. `negative_streak`: this turn is the N-th negative customer turn in a row (`consecutive_negative_turns`;
   0 turns the rule off). A turn whose sentiment is unknown because the gate failed neither breaks nor
   extends a streak; when the gate fails on this turn, the turn counts as negative, so that a failing
   gate calls a human rather than lose one.

The patterns, the model error and the cues never need the detector, so they still work when it fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from lambdas.chatbot.frustration import FrustrationCues
from lambdas.chatbot.human_request import HumanRequestMatcher
from lambdas.chatbot.sentiment import GateReading
from lambdas.common.transcript import Turn

EXCERPT_CHARS = 160


@dataclass(frozen=True)
class GateDecision:
    """Why the gate called a human: the reason (the escalation's `reason`), the rule that fired, the
    signal it fired on, and the normalised words it read. Stored with the escalation for the expert and
    the operator."""

    reason: str
    rule: str
    signal: str
    excerpt: str

    def explanation(self) -> dict[str, str]:
        return {k: v for k, v in asdict(self).items() if k != "reason"}


@dataclass(frozen=True)
class EscalationPolicy:
    human_requests: HumanRequestMatcher
    frustration_cues: FrustrationCues | None  # None: the cue rule is off
    negative_threshold: float
    consecutive_negative_turns: int
    escalate_on_model_error: bool

    def human_request(self, normalized: str) -> GateDecision | None:
        """The request-pattern rule alone: the service asks it before calling the model."""
        found = self.human_requests.find(normalized)
        if found is None:
            return None
        return GateDecision("human_requested", "human_request_pattern", f"pattern {found.pattern}",
                            found.excerpt[:EXCERPT_CHARS])

    def decide(self, normalized: str, reading: GateReading | None, history: Sequence[Turn], *,
               model_failed: bool = False) -> GateDecision | None:
        """The decision for a turn, or None to let the bot answer. `reading` is None when the detector
        failed or was too slow."""
        excerpt = normalized[:EXCERPT_CHARS]
        requested = self.human_request(normalized)
        if requested is not None:
            return requested
        if reading is not None and reading.asks_for_human:
            return GateDecision("human_requested", "detector_human_request",
                                f"{reading.sentiment.detector}: the customer asks for a human", excerpt)
        if model_failed and self.escalate_on_model_error:
            return GateDecision("model_error", "model_error", "the model did not answer", excerpt)
        cue = self.frustration_cues.find(normalized) if self.frustration_cues is not None else None
        if cue is not None:
            return GateDecision("negative_sentiment", "frustration_cue", f"cue {cue.cue}", cue.excerpt[:EXCERPT_CHARS])
        sentiment = reading.sentiment if reading is not None else None
        if sentiment is not None and sentiment.label == "negative" and sentiment.score >= self.negative_threshold:
            return GateDecision("negative_sentiment", "negative_sentiment",
                                f"{sentiment.detector} negative {sentiment.score:.2f} >= {self.negative_threshold:.2f}",
                                excerpt)
        if not self.consecutive_negative_turns or (sentiment is not None and sentiment.label != "negative"):
            return None
        streak = 1 + negative_streak(reversed(history))
        if streak < self.consecutive_negative_turns:
            return None
        unknown = " (this turn's sentiment unknown: the gate failed)" if sentiment is None else ""
        return GateDecision("negative_streak", "negative_streak",
                            f"{streak} negative customer turns in a row{unknown}", excerpt)


def negative_streak(turns_newest_first: Iterable[Turn]) -> int:
    """How many of the latest customer turns in a row were negative. Customer turns of unknown sentiment
    (a failed gate) are skipped; an expert's turn ends the streak, since the conversation went on with a
    person."""
    count = 0
    for turn in turns_newest_first:
        if turn.role == "expert":
            break
        if turn.role != "customer" or turn.sentiment is None:
            continue
        if turn.sentiment.label != "negative":
            break
        count += 1
    return count
