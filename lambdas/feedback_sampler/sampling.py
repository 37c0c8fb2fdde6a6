"""Which bot answers go to the raters (pure: no AWS).

A candidate is a bot turn (role "bot") with text and no `error` (an error turn is an apology, not the
model's answer), created inside the window, whose question can be found: the customer turn it replied to
(Turn.reply_to) or else the nearest customer turn before it. `system` turns are canned messages and are
never candidates; nor are expert turns. Each (session_id, turn_id) is a candidate once, and only when both
ids are plain (transcript.IDENTIFIER: Tandem's are UUIDs): the manifest line's `source` ends with them, which makes it
unique in its job (manifest.py), and a plain id cannot make two references read alike.

Strategies, all reproducible: the same seed and the same transcripts give the same sample in the same order.
- random: a uniform sample of `budget` candidates (random.Random(seed).sample over the candidates sorted by
  (session_id, turn_id), so the order the transcripts were listed in does not matter).
- escalated_first: first the candidates from conversations that escalated or where a customer turn read as
  negative ("priority"), then the rest; within each group the order is a seeded shuffle of the group
  sorted by (session_id, turn_id), and the sample is the first `budget` of priority + rest.
- thumbs_down_first: first the answers the customer gave a thumbs down (lambdas/common/thumbs.py), in a seeded
  shuffle, then all the others as escalated_first orders them; the sample is the first `budget`.

Customers' thumbs are also exported for the dataset builder (`Collected.thumbs`): every thumb given inside the
window (by its own time, so a thumb given days after its answer is still exported once) on an answer that
would be a candidate but for its time, with its question (lambdas/common/thumbs.py ThumbRecord).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from lambdas.common.thumbs import Thumb, ThumbRecord, is_thumb_entry
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
    thumb: str | None = None  # the customer's thumb on the answer ("up" or "down"), when they gave one

    @property
    def key(self) -> tuple[str, str]:
        return (self.session_id, self.turn_id)


@dataclass(frozen=True)
class Collected:
    candidates: list[Candidate]
    no_question: int  # eligible bot turns whose question could not be found (skipped)
    bad_ids: int = 0  # eligible bot turns whose session or turn id is not a plain id (skipped)
    thumbs: list[ThumbRecord] = field(default_factory=list)  # the customers' thumbs given in the window
    bad_thumbs: int = 0  # thumb entries of the transcripts that could not be read (skipped)


def is_rateable(turn: Turn) -> bool:
    return turn.role == "bot" and bool(turn.text.strip()) and not turn.error


def is_priority(transcript: Transcript) -> bool:
    return bool(transcript.escalations) or any(
        t.role == "customer" and t.sentiment is not None and t.sentiment.label == "negative"
        for t in transcript.turns)


def thumbs_of(transcript: Transcript) -> tuple[dict[str, Thumb], int]:
    """The customer's thumbs in the transcript by turn id, and how many entries could not be read."""
    found: dict[str, Thumb] = {}
    bad = 0
    for entry in transcript.feedback:
        if not is_thumb_entry(entry):
            continue
        try:
            thumb = Thumb.from_dict(entry)
        except ValueError:
            bad += 1
            continue
        found[thumb.turn_id] = thumb
    return found, bad


def collect(transcripts: Iterable[Transcript], *, start: str, end: str) -> Collected:
    """The candidates of `transcripts` created in [start, end] (ISO 8601 UTC strings, compared as text, as
    the transcript's own timestamps sort), and the thumbs given in [start, end]."""
    found: list[Candidate] = []
    thumbs: list[ThumbRecord] = []
    no_question = bad_ids = bad_thumbs = 0
    seen: set[tuple[str, str]] = set()
    seen_thumbs: set[tuple[str, str]] = set()
    for transcript in transcripts:
        priority = is_priority(transcript)
        given, bad = thumbs_of(transcript)
        bad_thumbs += bad
        turns = transcript.turns
        for index, turn in enumerate(turns):
            thumb = given.get(turn.turn_id)
            in_window = start <= turn.created_at <= end
            thumbed = thumb is not None and start <= thumb.given_at <= end
            if not is_rateable(turn) or not (in_window or thumbed):
                continue
            question = question_of(turns, index)
            if question is None or not question.text.strip():
                no_question += in_window
                continue
            key = (transcript.session_id, turn.turn_id)
            if not (IDENTIFIER.fullmatch(key[0]) and IDENTIFIER.fullmatch(key[1])):
                bad_ids += in_window
                continue
            if thumbed and thumb is not None and key not in seen_thumbs:
                seen_thumbs.add(key)
                thumbs.append(ThumbRecord(session_id=transcript.session_id, turn_id=turn.turn_id,
                                          question=question.text, answer=turn.text, thumb=thumb.thumb,
                                          given_at=thumb.given_at, comment=thumb.comment))
            if not in_window or key in seen:  # a session listed twice (e.g. under two dates) is sampled once
                continue
            seen.add(key)
            found.append(Candidate(session_id=transcript.session_id, turn_id=turn.turn_id, question=question.text,
                                   answer=turn.text, sources=tuple(s.uri for s in turn.sources), priority=priority,
                                   thumb=thumb.thumb if thumb is not None else None))
    return Collected(candidates=found, no_question=no_question, bad_ids=bad_ids, thumbs=thumbs,
                     bad_thumbs=bad_thumbs)


def select(candidates: Sequence[Candidate], *, strategy: str, seed: int, budget: int) -> list[Candidate]:
    ordered = sorted(candidates, key=lambda c: c.key)
    rng = random.Random(seed)
    if strategy == "random":
        return rng.sample(ordered, min(budget, len(ordered)))
    if strategy == "escalated_first":
        return _escalated_first(ordered, rng)[:budget]
    if strategy == "thumbs_down_first":
        down = [c for c in ordered if c.thumb == "down"]
        rng.shuffle(down)
        return (down + _escalated_first([c for c in ordered if c.thumb != "down"], rng))[:budget]
    raise ValueError(f"unknown strategy {strategy!r}")


def _escalated_first(ordered: list[Candidate], rng: random.Random) -> list[Candidate]:
    first = [c for c in ordered if c.priority]
    rest = [c for c in ordered if not c.priority]
    rng.shuffle(first)
    rng.shuffle(rest)
    return first + rest
