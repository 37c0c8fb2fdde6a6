"""The escalation policy: pure rules over one customer turn, its sentiment and the turns before it.

Rules, checked in this order (the first that applies names the reason):
1. `human_requested`: the customer asks for a human (configurable phrases, matched as whole words).
2. `model_error`: the model failed to answer (when `escalate_on_model_error` is on).
3. `negative_sentiment`: negative sentiment with a score at or above `negative_threshold`.
4. `negative_streak`: this turn is the N-th negative customer turn in a row (`consecutive_negative_turns`;
   0 turns the rule off).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from lambdas.common.transcript import Sentiment, Turn


@dataclass(frozen=True)
class EscalationPolicy:
    human_request_phrases: tuple[str, ...]
    negative_threshold: float
    consecutive_negative_turns: int
    escalate_on_model_error: bool

    def __post_init__(self) -> None:
        if not self.human_request_phrases or not all(p.strip() for p in self.human_request_phrases):
            raise ValueError("human_request_phrases must be non-empty phrases (an empty one matches everything)")
        alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in self.human_request_phrases)
        object.__setattr__(self, "_human_request", re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE))

    def asks_for_human(self, message: str) -> bool:
        return bool(self._human_request.search(message))  # type: ignore[attr-defined]

    def decide(self, message: str, sentiment: Sentiment | None, history: Sequence[Turn], *,
               model_failed: bool = False) -> str | None:
        """The reason to escalate, or None. `sentiment` is None when the detector failed."""
        if self.asks_for_human(message):
            return "human_requested"
        if model_failed and self.escalate_on_model_error:
            return "model_error"
        if sentiment is None or sentiment.label != "negative":
            return None
        if sentiment.score >= self.negative_threshold:
            return "negative_sentiment"
        streak = 1 + negative_streak(t for t in reversed(history) if t.role == "customer")
        if self.consecutive_negative_turns and streak >= self.consecutive_negative_turns:
            return "negative_streak"
        return None


def negative_streak(customer_turns_newest_first: Iterable[Turn]) -> int:
    """How many of the latest customer turns in a row were negative."""
    count = 0
    for turn in customer_turns_newest_first:
        if turn.sentiment is None or turn.sentiment.label != "negative":
            break
        count += 1
    return count
