"""Customers' thumbs in the sampler: the thumbs_down_first strategy, and the thumbs a run exports for the
dataset builder (masked like the sample, written beside the manifest), with the in-memory stand-ins of
test_sampler.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lambdas.common.redaction import RedactionFailed
from lambdas.common.thumbs import Thumb
from lambdas.common.transcript import Transcript
from lambdas.feedback_sampler.sampler import SamplingFailed
from lambdas.feedback_sampler.sampling import Candidate, collect, select
from lambdas.feedback_sampler.settings import SamplerSettings, SettingsError
from tests.lambdas.feedback_sampler.conftest import base_environment
from tests.lambdas.feedback_sampler.test_sampler import MANIFEST_KEY, NOW, Run, conversation, iso, key_of

THUMBS_KEY = "thumbs/tandem-feedback-20260310-020000.jsonl"


def pool(size: int = 60) -> list[Candidate]:
    """Candidates of every kind: thumbs down (every 7th), thumbs up (every 5th), escalated (every 3rd)."""
    return [Candidate(session_id=f"s{i:02d}", turn_id="b", question="q", answer="a", sources=(),
                      priority=i % 3 == 0, thumb="down" if i % 7 == 0 else "up" if i % 5 == 0 else None)
            for i in range(size)]


# The strategy ---------------------------------------------------------------------------------------------

def test_thumbs_down_answers_come_first_then_the_rest_as_escalated_first_orders_them():
    candidates = pool()
    down = {c.key for c in candidates if c.thumb == "down"}

    sample = select(candidates, strategy="thumbs_down_first", seed=3, budget=len(candidates))

    assert {c.key for c in sample[:len(down)]} == down
    rest = sample[len(down):]
    first_plain = next(i for i, c in enumerate(rest) if not c.priority)
    assert all(c.priority for c in rest[:first_plain]) and not any(c.priority for c in rest[first_plain:])
    assert len(sample) == len({c.key for c in sample}) == len(candidates)


def test_a_small_budget_is_spent_on_thumbs_down_answers():
    sample = select(pool(), strategy="thumbs_down_first", seed=3, budget=4)

    assert len(sample) == 4 and all(c.thumb == "down" for c in sample)


def test_thumbs_down_first_is_fixed_by_the_seed_and_not_by_the_listing_order():
    candidates = pool()
    first = select(candidates, strategy="thumbs_down_first", seed=11, budget=20)

    assert first == select(list(reversed(candidates)), strategy="thumbs_down_first", seed=11, budget=20)
    assert [c.key for c in first] != [c.key for c in select(candidates, strategy="thumbs_down_first", seed=12,
                                                             budget=20)]


def test_the_settings_and_an_invoke_accept_the_strategy():
    from lambdas.feedback_sampler.settings import parse_overrides

    environ = {**base_environment(), "STRATEGY": "thumbs_down_first"}
    assert SamplerSettings.from_env(environ).strategy == "thumbs_down_first"
    assert parse_overrides({"strategy": "thumbs_down_first"}).strategy == "thumbs_down_first"
    with pytest.raises(SettingsError, match="STRATEGY"):
        SamplerSettings.from_env({**environ, "STRATEGY": "thumbs_up_first"})


# Thumbs in the transcripts ------------------------------------------------------------------------------

def thumbed(transcript: Transcript, thumb: str, *, comment: str = "", given_at: str | None = None) -> Transcript:
    answer = transcript.turns[-1]
    given = given_at or answer.created_at
    transcript.feedback.append(Thumb(turn_id=answer.turn_id, thumb=thumb, given_at=given, comment=comment).to_dict())
    transcript.updated_at = max(transcript.updated_at, given)
    return transcript


def test_collect_marks_each_candidate_with_its_thumb_and_exports_the_thumbs_with_their_question():
    down = thumbed(conversation("session-d", NOW - timedelta(days=1)), "down", comment="Wrong order 12")
    up = thumbed(conversation("session-u", NOW - timedelta(days=2)), "up")
    plain = conversation("session-p", NOW - timedelta(days=3))
    down.feedback.append({"kind": "thumb", "turn_id": "session-p-b", "thumb": "sideways", "given_at": "x"})

    found = collect([down, up, plain], start=iso(NOW - timedelta(days=7)), end=iso(NOW))

    assert {c.session_id: c.thumb for c in found.candidates} == {"session-d": "down", "session-u": "up",
                                                                 "session-p": None}
    assert [(t.session_id, t.thumb, t.question, t.answer, t.comment) for t in found.thumbs] == [
        ("session-d", "down", "Where is order 1d?", "It left on the 9th.", "Wrong order 12"),
        ("session-u", "up", "Where is order 1u?", "It left on the 9th.", "")]
    assert found.bad_thumbs == 1


def test_a_thumb_is_exported_by_when_it_was_given_not_when_its_answer_was():
    old_answer = thumbed(conversation("session-o", NOW - timedelta(days=9)), "down",
                         given_at=iso(NOW - timedelta(days=1)))
    old_thumb = thumbed(conversation("session-t", NOW - timedelta(days=2)), "up", given_at=iso(NOW - timedelta(days=8)))

    found = collect([old_answer, old_thumb], start=iso(NOW - timedelta(days=7)), end=iso(NOW))

    assert [t.session_id for t in found.thumbs] == ["session-o"]  # given inside the window
    assert [c.session_id for c in found.candidates] == ["session-t"]  # answered inside the window


# A run -------------------------------------------------------------------------------------------------

@pytest.fixture
def run() -> Run:
    return Run()


def put(run: Run, transcript: Transcript) -> None:
    run.transcripts.put(key_of(transcript), transcript)


def test_a_run_samples_the_thumbs_down_answer_first_and_exports_the_thumbs_masked(run):
    put(run, thumbed(conversation("session-1", NOW - timedelta(days=2, hours=1)), "down", comment="Order 77 is lost"))

    summary = run(strategy="thumbs_down_first", budget=1)

    assert run.done() == ["mask 5 texts (en)", f"write {THUMBS_KEY}", f"write {MANIFEST_KEY}",
                          "start tandem-feedback-20260310-020000"]
    (line,) = run.manifests.lines(MANIFEST_KEY)
    assert line["session_id"] == "session-1"
    (record,) = [json.loads(raw) for raw in run.manifests.written[THUMBS_KEY].decode().splitlines()]
    assert record == {"schema_version": 1, "session_id": "session-1", "turn_id": "session-1-b",
                      "question": "Where is order ##?", "answer": "It left on the #th.", "thumb": "down",
                      "comment": "Order ## is lost", "given_at": record["given_at"], "source": "thumbs"}
    assert summary["thumbs"] == 1 and summary["thumbs_down"] == 1
    assert summary["thumbs_uri"] == f"s3://labeling/{THUMBS_KEY}"


def test_thumbs_are_exported_even_when_every_answer_was_rated(run):
    put(run, thumbed(conversation("session-1", NOW - timedelta(days=2, hours=1)), "up"))
    run.ratings.files["ratings/all.jsonl"] = [
        json.dumps({"session_id": f"session-{n}", "turn_id": f"session-{n}-b"}).encode() for n in range(3)]

    summary = run(redact_pii=False, language_code=None)

    assert run.done() == [f"write {THUMBS_KEY}"]
    assert summary["items"] == 0 and summary["manifest_uri"] is None and "only the customers' thumbs" in summary["reason"]


def test_a_masking_failure_writes_no_thumbs_either(run):
    put(run, thumbed(conversation("session-1", NOW - timedelta(days=2, hours=1)), "down"))
    run.masker.failure = RedactionFailed("ThrottlingException")

    with pytest.raises(SamplingFailed):
        run()

    assert run.manifests.written == {}


def test_a_dry_run_counts_the_thumbs_and_writes_nothing(run):
    put(run, thumbed(conversation("session-1", NOW - timedelta(days=2, hours=1)), "down"))

    summary = run(dry_run=True)

    assert run.done() == [] and summary["thumbs"] == 1 and "thumbs_uri" not in summary
