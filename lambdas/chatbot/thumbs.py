"""POST /chat/{session_id}/feedback: a customer's thumb (up or down, with an optional comment) on one of the
assistant's answers in their own conversation.

Checked before anything is written, each refusal naming what is wrong: the session must be the caller's
(404 session_id, as for every chat route: another customer's session and no session are not told apart), the
turn must be in it (404 turn_id) and be the assistant's answer (400 turn_id: a customer's, an expert's or
Tandem's own turn takes no thumb). The thumb is kept on the answer's turn item (SessionStore.set_thumb), one
per answer: a new choice replaces the earlier one, and `thumb: null` takes it back. The outbox carries it into
the transcript's `feedback` from the table's stream, like every other change of the conversation.
Counted (ThumbsUp, ThumbsDown, ThumbsCleared); logged with ids only, never the comment.
"""

from __future__ import annotations

from typing import Any, Protocol

from lambdas.chatbot.request import ThumbRequest
from lambdas.common.request_errors import RequestError
from lambdas.common.session_store import NotABotTurn, SessionStore
from lambdas.common.thumbs import Thumb
from lambdas.common.transcript import utc_now

METRICS = {"up": "ThumbsUp", "down": "ThumbsDown", None: "ThumbsCleared"}


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


def give_thumb(store: SessionStore, request: ThumbRequest, customer_id: str, *, metrics: MetricSink,
               logger: Any) -> dict[str, Any]:
    """Stores the thumb; returns the answer's feedback as the customer now sees it (None once taken back).
    SessionNotFound when the session is not the caller's; RequestError for a turn that takes no thumb."""
    store.load(request.session_id, customer_id, recent_items=0)  # SessionNotFound unless it is theirs
    turn = next((t for t in store.turns(request.session_id) if t.turn_id == request.turn_id), None)
    if turn is None:
        raise RequestError("turn_id", "no such turn in this conversation", status=404)
    if turn.role != "bot":
        raise RequestError("turn_id", f"is not one of the assistant's answers (it is a {turn.role} turn): "
                                      "only an answer takes a thumb")
    thumb = (Thumb(turn_id=turn.turn_id, thumb=request.thumb, given_at=utc_now(), comment=request.comment)
             if request.thumb is not None else None)
    try:
        store.set_thumb(request.session_id, turn, thumb)
    except NotABotTurn:  # gone since it was read (expired by the table's TTL)
        raise RequestError("turn_id", "no such turn in this conversation", status=404) from None
    metrics.add_metric(METRICS[request.thumb], "Count", 1)
    logger.info("thumb recorded", extra={"session_id": request.session_id, "turn_id": turn.turn_id,
                                         "thumb": request.thumb, "commented": bool(request.comment)})
    return {"session_id": request.session_id, "turn_id": turn.turn_id,
            "feedback": thumb.customer_view() if thumb is not None else None}
