"""The hub formats of a conversation (ARCHITECTURE.md): Turn, EscalationRecord and Transcript.

Plain dataclasses with explicit to/from dict so every Lambda can use them without extra packages.
`schema_version` is bumped whenever a field changes meaning; readers take the versions they know and
reject the others.

The human who takes a conversation over is an **expert** everywhere: the role of their turns, API fields,
pages and mails. Version 1 called that role "agent"; readers still take it, as "expert", so turns stored
and transcripts written before the rename stay readable.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, Sequence

SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)  # 1: the expert's role was "agent"
Role = Literal["customer", "bot", "expert", "system"]
ROLES: tuple[str, ...] = ("customer", "bot", "expert", "system")
_FORMER_ROLE_NAMES = {"agent": "expert"}
SentimentLabel = Literal["negative", "neutral", "positive"]
EscalationStatus = Literal["pending", "accepted", "resolved", "timed_out", "cancelled", "failed"]


TRANSCRIPTS_PREFIX = "transcripts/"
# What an id (session, turn, escalation) may look like wherever one arrives from outside: the chatbot's ids
# are UUIDs; this is looser, but keeps ids safe in table keys, URLs and signed messages (use fullmatch).
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def transcript_key(session_id: str, started_at: str) -> str:
    """Where a session's transcript lives in the transcripts bucket: dated by the day the session started."""
    return f"{TRANSCRIPTS_PREFIX}dt={started_at[:10]}/{session_id}.json"


def utc_now() -> str:
    """ISO 8601 in UTC with microseconds: sorts as text in the order the events happened."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Sentiment:
    label: SentimentLabel
    score: float  # confidence in `label`, 0..1
    detector: str
    reason: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Sentiment":
        return cls(label=data["label"], score=float(data["score"]), detector=data["detector"],
                   reason=data.get("reason", ""))


@dataclass(frozen=True)
class Source:
    """A knowledge-base passage the answer was grounded on."""

    uri: str
    excerpt: str = ""
    score: float | None = None


@dataclass(frozen=True)
class Withheld:
    """The model's answer to a question that escalated: written, never shown to the customer (they were told a
    human is coming instead). Kept on the hand-off turn so an expert's later answer can be set beside it."""

    text: str
    model_id: str

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Withheld":
        return cls(text=data["text"], model_id=data["model_id"])


@dataclass(frozen=True)
class Turn:
    role: Role
    text: str
    turn_id: str = field(default_factory=new_id)
    created_at: str = field(default_factory=utc_now)
    sentiment: Sentiment | None = None
    model_id: str | None = None
    latency_ms: int | None = None
    sources: tuple[Source, ...] = ()
    error: str | None = None  # why a bot turn is an apology instead of an answer
    reply_to: str | None = None  # the customer turn this one answered in the same response (so it was delivered)
    withheld: Withheld | None = None  # on a hand-off (system) turn: the model's answer it replaced

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"turn role must be one of {', '.join(ROLES)}, not {self.role!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in (None, ())}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Turn":
        return cls(
            role=_FORMER_ROLE_NAMES.get(data["role"], data["role"]), text=data["text"], turn_id=data["turn_id"], created_at=data["created_at"],
            sentiment=Sentiment.from_dict(data["sentiment"]) if data.get("sentiment") else None,
            model_id=data.get("model_id"),
            latency_ms=int(data["latency_ms"]) if data.get("latency_ms") is not None else None,
            sources=tuple(Source(uri=s["uri"], excerpt=s.get("excerpt", ""),
                                 score=float(s["score"]) if s.get("score") is not None else None)
                          for s in data.get("sources", ())),
            error=data.get("error"), reply_to=data.get("reply_to"),
            withheld=Withheld.from_dict(data["withheld"]) if data.get("withheld") else None,
        )


def customer_view(turn: Turn) -> dict[str, Any]:
    """What a customer is shown of a turn, by the chat API and the live channel alike: who said what and when,
    and a bot answer's sources; never the sentiment, the model, its latency or an error's detail."""
    view: dict[str, Any] = {"turn_id": turn.turn_id, "role": turn.role, "text": turn.text,
                            "created_at": turn.created_at}
    if turn.sources:
        view["sources"] = [{"uri": s.uri, "excerpt": s.excerpt, "score": s.score} for s in turn.sources]
    return view


def question_of(turns: Sequence[Turn], index: int) -> Turn | None:
    """The customer turn the bot turn at `index` answered: its reply_to, else the nearest customer turn before
    it (transcripts written before reply_to existed). What the sampler shows raters and the import tool
    records as the question."""
    earlier = turns[:index]
    reply_to = turns[index].reply_to
    if reply_to:
        for turn in earlier:
            if turn.turn_id == reply_to and turn.role == "customer":
                return turn
    for turn in reversed(earlier):
        if turn.role == "customer":
            return turn
    return None


@dataclass(frozen=True)
class EscalationRecord:
    """Why a human was called. The Step Functions task token never lives here: it stays in the backend."""

    session_id: str
    reason: str
    turn_id: str
    escalation_id: str = field(default_factory=new_id)
    status: EscalationStatus = "pending"
    requested_at: str = field(default_factory=utc_now)
    sentiment: Sentiment | None = None
    accepted_by: str | None = None
    accepted_at: str | None = None
    resolved_at: str | None = None
    note: str | None = None  # the expert's resolution note, or why the workflow failed
    ended_at: str | None = None  # when the workflow gave up on it (timed out, failed, or could not start)
    # Why the gate decided so: {"rule", "signal", "excerpt"} (lambdas/chatbot/policy.py GateDecision).
    explanation: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EscalationRecord":
        return cls(
            session_id=data["session_id"], reason=data["reason"], turn_id=data["turn_id"],
            escalation_id=data["escalation_id"], status=data["status"], requested_at=data["requested_at"],
            sentiment=Sentiment.from_dict(data["sentiment"]) if data.get("sentiment") else None,
            accepted_by=data.get("accepted_by"), accepted_at=data.get("accepted_at"),
            resolved_at=data.get("resolved_at"), note=data.get("note"), ended_at=data.get("ended_at"),
            explanation=dict(data["explanation"]) if data.get("explanation") else None,
        )

    @property
    def closed_at(self) -> str | None:
        """When the escalation stopped giving an expert access to the conversation (None while it is open)."""
        return self.resolved_at or self.ended_at


@dataclass
class Transcript:
    session_id: str
    started_at: str
    updated_at: str
    turns: list[Turn] = field(default_factory=list)
    escalations: list[EscalationRecord] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def merge(self, turns: list[Turn], escalations: list[EscalationRecord], updated_at: str) -> None:
        """Adds what is new (by id), keeps what is there, orders turns by time; never drops a turn."""
        known = {t.turn_id for t in self.turns}
        self.turns.extend(t for t in turns if t.turn_id not in known)
        self.turns.sort(key=lambda t: (t.created_at, t.turn_id))
        by_id = {e.escalation_id: e for e in self.escalations}
        for escalation in escalations:  # a newer status replaces the older one
            by_id[escalation.escalation_id] = escalation
        self.escalations = sorted(by_id.values(), key=lambda e: e.requested_at)
        self.updated_at = max(self.updated_at, updated_at)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version, "session_id": self.session_id,
            "started_at": self.started_at, "updated_at": self.updated_at,
            "turns": [t.to_dict() for t in self.turns],
            "escalations": [e.to_dict() for e in self.escalations],
            "feedback": list(self.feedback),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Transcript":
        version = data.get("schema_version")
        # `type(...) is int`: JSON's true would otherwise pass as version 1
        if type(version) is not int or version not in READABLE_SCHEMA_VERSIONS:
            raise ValueError(f"transcript schema_version {version!r} is not supported "
                             f"(readable: {', '.join(map(str, READABLE_SCHEMA_VERSIONS))})")
        return cls(
            session_id=data["session_id"], started_at=data["started_at"], updated_at=data["updated_at"],
            turns=[Turn.from_dict(t) for t in data.get("turns", [])],
            escalations=[EscalationRecord.from_dict(e) for e in data.get("escalations", [])],
            feedback=list(data.get("feedback", [])),
        )  # schema_version: the current one, since reading renamed what version 1 called otherwise
