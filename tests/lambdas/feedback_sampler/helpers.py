"""A generated corpus of transcripts for the sampler's tests, and what each of its turns is.

`make_corpus` builds a few hundred sessions, seeded so every run gets the same ones, in kinds that cover
what the sampler must tell apart: plain ones, escalated ones, ones with a negative customer turn, canned
`system` turns, model errors (apology turns with `error`) and empty bot turns, sessions entirely before the
window, and sessions that began the day before the window and went on inside it. `Corpus.expected` is the
exact set of bot turns a run over the window may pick, computed from how the corpus was made, not by the
code under test.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from lambdas.common.transcript import EscalationRecord, Sentiment, Transcript, Turn

EVENTS = Path(__file__).resolve().parents[2] / "events"
NOW = datetime(2026, 3, 10, 2, 0, 0, tzinfo=timezone.utc)  # tests/events/feedback_sampler_scheduled.json
WINDOW_DAYS = 7
WINDOW_START = NOW - timedelta(days=WINDOW_DAYS)
SYSTEM_TEXT = "SYSTEM: an expert has joined the conversation."
APOLOGY = "APOLOGY: sorry, I cannot answer right now."
KINDS = ("escalated", "negative", "system", "error", "old", "straddling", "plain", "plain", "plain", "plain")


def transcript_key(session_id: str, started_at: str) -> str:
    """Where a session's transcript is stored: dated by the day the session started (the layout sampler.py
    documents and reads; written out here so the corpus does not depend on the code that stores it)."""
    return f"transcripts/dt={started_at[:10]}/{session_id}.json"


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


@dataclass
class Corpus:
    transcripts: list[Transcript] = field(default_factory=list)
    expected: set[tuple[str, str]] = field(default_factory=set)  # (session_id, turn_id) a run may pick
    priority: set[tuple[str, str]] = field(default_factory=set)  # of those, from escalated/negative sessions
    never: set[tuple[str, str]] = field(default_factory=set)  # system, error, empty, out-of-window bot turns
    questions: dict[tuple[str, str], str] = field(default_factory=dict)  # the expected question per answer
    created: dict[tuple[str, str], str] = field(default_factory=dict)

    def store(self, s3: Any, bucket: str) -> None:
        for t in self.transcripts:
            s3.put_object(Bucket=bucket, Key=transcript_key(t.session_id, t.started_at),
                          Body=json.dumps(t.to_dict(), ensure_ascii=False).encode())


def make_corpus(sessions: int = 300, *, seed: int = 1234) -> Corpus:
    rng = random.Random(seed)
    corpus = Corpus()
    for n in range(sessions):
        kind = KINDS[n % len(KINDS)]
        session_id = f"s{n:04d}-{kind}"
        if kind == "old":
            start = NOW - timedelta(days=rng.uniform(9, 30))
        elif kind == "straddling":
            start = WINDOW_START - timedelta(hours=3)  # 23:00 the day before the window's first day
        else:
            start = NOW - timedelta(days=rng.uniform(0.1, WINDOW_DAYS - 0.2))
        turns: list[Turn] = []
        minute = 0
        pairs = rng.randint(2, 4)
        for p in range(pairs):
            if kind == "straddling" and p == 1:
                minute += 6 * 60  # the rest of the conversation is inside the window
            negative = kind == "negative" and p == 0
            question = Turn(role="customer", text=f"Question {p} of {session_id}: where is order {rng.randint(1, 999)}?",
                            turn_id=f"{session_id}-c{p}", created_at=iso(start + timedelta(minutes=minute)),
                            sentiment=Sentiment(label="negative" if negative else "neutral", score=0.9,
                                                detector="comprehend"))
            turns.append(question)
            minute += 1
            if kind == "system" and p == 1:  # a canned message between the question and the answer
                turns.append(Turn(role="system", text=SYSTEM_TEXT, turn_id=f"{session_id}-sys{p}",
                                  created_at=iso(start + timedelta(minutes=minute))))
                minute += 1
            error = kind == "error" and p == 1
            empty = kind == "plain" and p == 2 and n % 3 == 0
            answer = Turn(role="bot", text=APOLOGY if error else ("  " if empty else f"Answer {p} for {session_id}."),
                          turn_id=f"{session_id}-b{p}", created_at=iso(start + timedelta(minutes=minute)),
                          error="ModelTimeoutException" if error else None,
                          reply_to=question.turn_id if p % 2 == 0 else None)
            turns.append(answer)
            minute += 1
            key = (session_id, answer.turn_id)
            corpus.created[key] = answer.created_at
            in_window = WINDOW_START < start + timedelta(minutes=minute - 1) <= NOW
            if error or empty or not in_window:
                corpus.never.add(key)
            else:
                corpus.expected.add(key)
                corpus.questions[key] = question.text
                if kind in ("escalated", "negative"):
                    corpus.priority.add(key)
        if kind == "system":  # the canned message of a human's arrival: never rated
            turns.append(Turn(role="system", text=SYSTEM_TEXT, turn_id=f"{session_id}-sys-end",
                              created_at=iso(start + timedelta(minutes=minute))))
            corpus.never.add((session_id, f"{session_id}-sys-end"))
        escalations = []
        if kind == "escalated":
            escalations.append(EscalationRecord(session_id=session_id, reason="human_requested",
                                                turn_id=turns[-1].turn_id, escalation_id=f"{session_id}-e",
                                                requested_at=turns[-1].created_at))
        corpus.transcripts.append(Transcript(session_id=session_id, started_at=iso(start),
                                             updated_at=turns[-1].created_at, turns=turns, escalations=escalations))
    return corpus
