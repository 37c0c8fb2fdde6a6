"""Which bot answers go to the raters (pure: no AWS).

A candidate is a bot turn (role "bot") with text and no `error` (an error turn is an apology, not the
model's answer), created inside the window, whose question can be found: the customer turn it replied to
(Turn.reply_to) or else the nearest customer turn before it. `system` turns are canned messages and are
never candidates; nor are expert turns. Each (session_id, turn_id) is a candidate once, and only when both
ids are plain (transcript.IDENTIFIER: Tandem's are UUIDs): the manifest line's `source` ends with them, which makes it
unique in its job (manifest.py), and a plain id cannot make two references read alike.

Strategies, both reproducible: the same seed and the same transcripts give the same sample in the same order.
- random: a uniform sample of `budget` candidates (random.Random(seed).sample over the candidates sorted by
  (session_id, turn_id), so the order the transcripts were listed in does not matter).
- escalated_first: first the candidates from conversations that escalated or where a customer turn read as
  negative ("priority"), then the rest; within each group the order is a seeded shuffle of the group
  sorted by (session_id, turn_id), and the sample is the first `budget` of priority + rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from lambdas.common.transcript import IDENTIFIER, Transcript, Turn, question_of

# Letters, digits, ".", "_" and "-", at most 128 characters (Tandem's ids are UUIDs): no space or comma can
# make two references read alike, and the manifest's reference line has room for two of them.


@dataclass(frozen=True)
class Candidate:
    session_id: str
    turn_id: str
    question: str
    answer: str
    sources: tuple[str, ...]
    priority: bool  # the conversation escalated or had a negative customer turn

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.turn_id)


@dataclass(frozen=True)
class Collected:
    candidates: list[Candidate]
    no_question: int  # eligible bot turns whose question could not be found (skipped)
    bad_ids: int = 0  # eligible bot turns whose session or turn id is not a plain id (skipped)


def is_rateable(turn: Turn) -> bool:
    return turn.role == "bot" and bool(turn.text.strip()) and not turn.error


def is_priority(transcript: Transcript) -> bool:
    return bool(transcript.escalations) or any(
        t.role == "customer" and t.sentiment is not None and t.sentiment.label == "negative"
        for t in transcript.turns)


def collect(transcripts: Iterable[Transcript], *, start: str, end: str) -> Collected:
    """The candidates of `transcripts` created in [start, end] (ISO 8601 UTC strings, compared as text, as
    the transcript's own timestamps sort)."""
    found: list[Candidate] = []
    no_question = bad_ids = 0
    seen: set[tuple[str, str]] = set()
    for transcript in transcripts:
        priority = is_priority(transcript)
        turns = transcript.turns
        for index, turn in enumerate(turns):
            if not is_rateable(turn) or not start <= turn.created_at <= end:
                continue
            question = question_of(turns, index)
            if question is None or not question.text.strip():
                no_question += 1
                continue
            key = (transcript.session_id, turn.turn_id)
            if not (IDENTIFIER.fullmatch(key[0]) and IDENTIFIER.fullmatch(key[1])):
                bad_ids += 1
                continue
            if key in seen:  # a session listed twice (e.g. its transcript under two dates) is sampled once
                continue
            seen.add(key)
            found.append(Candidate(session_id=transcript.session_id, turn_id=turn.turn_id, question=question.text,
                                   answer=turn.text, sources=tuple(s.uri for s in turn.sources), priority=priority))
    return Collected(candidates=found, no_question=no_question, bad_ids=bad_ids)


def select(candidates: Sequence[Candidate], *, strategy: str, seed: int, budget: int) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: c.key)
    rng = random.Random(seed)
    if strategy == "random":
        return rng.sample(ordered, min(budget, len(ordered)))
    if strategy == "escalated_first":
        first = [c for c in ordered if c.priority]
        rest = [c for c in ordered if not c.priority]
        rng.shuffle(first)
        rng.shuffle(rest)
        return (first + rest)[:budget]
    raise ValueError(f"unknown strategy {strategy!r}")
