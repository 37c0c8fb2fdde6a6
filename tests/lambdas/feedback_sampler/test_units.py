"""The sampler's pure parts: finding the question, cutting texts to Ground Truth's limits, the settings."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from lambdas.common.feedback import LabelingItem, Sampling
from lambdas.common.transcript import Transcript, Turn, question_of
from lambdas.feedback_sampler.manifest import ManifestError, check, cut, manifest_body, manifest_line, reference
from lambdas.feedback_sampler.sampler import Window, job_name
from lambdas.feedback_sampler.sampling import Candidate, collect, select
from lambdas.feedback_sampler.settings import SamplerSettings, SettingsError
from tests.lambdas.feedback_sampler.conftest import base_environment, job_environment


def turn(role: str, text: str, turn_id: str, minute: int, **extra) -> Turn:
    return Turn(role=role, text=text, turn_id=turn_id, created_at=f"2026-03-09T10:{minute:02d}:00.000000Z", **extra)


def candidate(question: str = "Where is my order?", answer: str = "It ships today.", sources=()) -> Candidate:
    return Candidate(session_id="s1", turn_id="b1", question=question, answer=answer, sources=tuple(sources),
                     priority=False)


# The question of an answer ---------------------------------------------------------------------------------

def test_reply_to_names_the_question_even_when_another_customer_turn_came_between():
    turns = [turn("customer", "first question", "c1", 0), turn("customer", "never mind, hello?", "c2", 1),
             turn("bot", "answer to the first", "b1", 2, reply_to="c1")]

    assert question_of(turns, 2).turn_id == "c1"


def test_without_reply_to_the_nearest_earlier_customer_turn_is_the_question():
    turns = [turn("customer", "first", "c1", 0), turn("bot", "a1", "b1", 1), turn("customer", "second", "c2", 2),
             turn("system", "An expert joined.", "s1", 3), turn("bot", "a2", "b2", 4)]

    assert question_of(turns, 4).turn_id == "c2"


def test_an_answer_without_any_question_is_skipped_and_counted():
    transcript = Transcript(session_id="s", started_at="2026-03-09T10:00:00.000000Z",
                            updated_at="2026-03-09T10:05:00.000000Z",
                            turns=[turn("bot", "Hello! How can I help?", "b0", 0),
                                   turn("customer", "hi", "c1", 1), turn("bot", "Hi there.", "b1", 2)])

    found = collect([transcript], start="2026-03-09T00:00:00Z", end="2026-03-10T00:00:00Z")

    assert [c.turn_id for c in found.candidates] == ["b1"] and found.no_question == 1


def test_selection_does_not_depend_on_the_listing_order():
    pool = [Candidate(session_id=f"s{i}", turn_id="b", question="q", answer="a", sources=(), priority=i % 2 == 0)
            for i in range(40)]

    for strategy in ("random", "escalated_first"):
        assert select(pool, strategy=strategy, seed=9, budget=10) == \
            select(list(reversed(pool)), strategy=strategy, seed=9, budget=10)


# Ground Truth's limits ---------------------------------------------------------------------------------------

def test_a_long_multibyte_answer_is_cut_within_the_limits_and_says_so():
    answer = "Réponse détaillée 😀 " * 5000  # 100,000 characters, about 140 KB of UTF-8
    line = manifest_line(candidate(answer=answer, question="¿Dónde está?\n" * 3000), Sampling("random", 1))

    data = json.loads(line)
    item = LabelingItem.from_dict(data)
    assert len(line) <= 100_000 and len(line.encode("utf-8")) <= 100_000
    assert all(len(json.dumps(v, ensure_ascii=False)) <= 20_000 for v in data.values())
    assert set(data["truncated"]) == {"source", "question", "answer"}
    assert re.search(r"\[cut: [\d,]+ of 100,000 characters shown\]$", item.answer)
    assert answer.startswith(item.answer[:item.answer.index("\n[cut:")])
    assert "Answer: Réponse" in item.source and "[cut:" in item.source


def test_a_short_item_is_not_cut_and_keeps_its_sources():
    data = json.loads(manifest_line(candidate(sources=["s3://kb/refunds.md", "s3://kb/shipping.md"]),
                                    Sampling("escalated_first", 3)))

    assert "truncated" not in data
    assert data == {"source": "Question: Where is my order?\n\nAnswer: It ships today.\n\n"
                              "Tandem item: session s1, turn b1", "session_id": "s1",
                    "turn_id": "b1", "question": "Where is my order?", "answer": "It ships today.",
                    "sampling": {"strategy": "escalated_first", "seed": 3},
                    "sources": ["s3://kb/refunds.md", "s3://kb/shipping.md"]}


def test_the_longest_ids_and_texts_still_keep_every_limit_and_the_reference_line():
    session_id, turn_id = "s" * 128, "t" * 128  # the longest plain ids
    text = "\"\\\u2028é😀\n" * 40_000  # escapes and multibyte characters: the most JSON per character
    line = manifest_line(Candidate(session_id=session_id, turn_id=turn_id, question=text, answer=text,
                                   sources=tuple(f"s3://kb/{n:0990d}" for n in range(5)), priority=False),
                         Sampling("random", 1))

    data = json.loads(line)
    assert len(line) <= 100_000 and len(line.encode("utf-8")) <= 100_000
    assert all(len(json.dumps(v, ensure_ascii=False)) <= 20_000 for v in data.values())
    assert len(json.dumps(data["source"], ensure_ascii=False).encode("utf-8")) <= 30_000
    assert data["source"].endswith(f"\n\nTandem item: session {session_id}, turn {turn_id}")
    assert "\n\nAnswer: " in data["source"] and set(data["truncated"]) >= {"source", "question", "answer"}


@pytest.mark.parametrize("ids", [("s 1", "b1"), ("s1", "b,1"), ("s" * 129, "b1"), ("", "b1"), ("s1", "b1\n")])
def test_a_reference_needs_plain_ids(ids):
    with pytest.raises(ManifestError, match="plain ids"):
        reference(*ids)


def test_a_turn_given_twice_is_refused_before_anything_is_written():
    with pytest.raises(ManifestError, match="given twice"):
        manifest_body([candidate(), candidate(answer="Another text, same turn.")], Sampling("random", 1))


def test_turns_with_ids_that_are_not_plain_are_skipped_and_counted():
    transcript = Transcript(session_id="s 1", started_at="2026-03-09T10:00:00.000000Z",
                            updated_at="2026-03-09T10:05:00.000000Z",
                            turns=[turn("customer", "hi", "c1", 1), turn("bot", "Hi there.", "b1", 2)])

    found = collect([transcript], start="2026-03-09T00:00:00Z", end="2026-03-10T00:00:00Z")

    assert (found.candidates, found.bad_ids) == ([], 1)


def test_cut_never_leaves_a_base_character_without_its_combining_marks():
    text = "e\u0301" * 30_000  # é as e + combining acute

    shown, was_cut = cut(text, max_chars=1_001, max_bytes=10_000)

    body = shown[:shown.index("\n[cut:")]
    assert was_cut and body.endswith("\u0301") and len(json.dumps(shown, ensure_ascii=False)) <= 1_001


def test_check_refuses_a_dollar_name_and_an_oversized_attribute():
    with pytest.raises(ManifestError, match=r"\$"):
        check({"$source": "x"})
    with pytest.raises(ManifestError, match="20000"):
        check({"source": "x" * 20_000})


def test_a_manifest_has_one_line_per_item_and_ends_with_a_newline():
    other = Candidate(session_id="s1", turn_id="b2", question="Where is my order?", answer="Tomorrow.", sources=(),
                      priority=False)
    body = manifest_body([candidate(), other], Sampling("random", 1))

    assert body.decode("utf-8").count("\n") == 2 and body.endswith(b"\n")


# Names and windows ---------------------------------------------------------------------------------------------

def test_job_names_match_the_documented_pattern_at_the_longest_prefix():
    name = job_name("a" * 47, datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone.utc))

    assert name.endswith("-20261231-235959") and len(name) == 63
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)


def test_the_window_lists_its_days_and_the_day_before():
    window = Window(start=datetime(2026, 3, 3, 2, tzinfo=timezone.utc), end=datetime(2026, 3, 5, 2, tzinfo=timezone.utc))

    assert window.prefixes() == [f"transcripts/dt=2026-03-0{d}/" for d in (2, 3, 4, 5)]


# Settings ------------------------------------------------------------------------------------------------------

def test_the_job_settings_are_read_only_with_a_workteam():
    assert SamplerSettings.from_env(base_environment()).job is None
    settings = SamplerSettings.from_env({**base_environment(), **job_environment()})
    assert settings.job.workers_per_object == 3 and settings.job.max_concurrent_task_count == 1000


@pytest.mark.parametrize("changes, variable", [
    ({"TRANSCRIPTS_BUCKET": ""}, "TRANSCRIPTS_BUCKET"),
    ({"REDACT_PII": "yes"}, "REDACT_PII"),
    ({"REDACT_PII": "true"}, "LANGUAGE_CODE"),
    ({"REDACT_PII": "true", "LANGUAGE_CODE": "fr"}, "LANGUAGE_CODE"),
    ({"STRATEGY": "newest"}, "STRATEGY"),
    ({"BUDGET": "100001"}, "BUDGET"),
    ({"WINDOW_DAYS": "0"}, "WINDOW_DAYS"),
    ({"SEED": "-3"}, "SEED"),
    ({"LABEL_ATTRIBUTE_NAME": "relevance-metadata"}, "LABEL_ATTRIBUTE_NAME"),
    ({"LABEL_ATTRIBUTE_NAME": "relevance-ref"}, "LABEL_ATTRIBUTE_NAME"),
    ({"LABEL_ATTRIBUTE_NAME": "rel_evance"}, "LABEL_ATTRIBUTE_NAME"),
    ({"WORKERS_PER_OBJECT": "10"}, "WORKERS_PER_OBJECT"),
    ({"TASK_TIME_LIMIT_SECONDS": "28801"}, "TASK_TIME_LIMIT_SECONDS"),
    ({"TASK_TIME_LIMIT_SECONDS": "29"}, "TASK_TIME_LIMIT_SECONDS"),
    ({"TASK_AVAILABILITY_SECONDS": "59"}, "TASK_AVAILABILITY_SECONDS"),
    ({"LABELING_ROLE_ARN": "tandem-labeling"}, "LABELING_ROLE_ARN"),
    ({"WORKTEAM_ARN": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/x"}, "WORKTEAM_ARN"),
    ({"PRE_ANNOTATION_LAMBDA_ARN": ""}, "PRE_ANNOTATION_LAMBDA_ARN"),
    ({"TEMPLATE_S3_URI": "https://example.com/t.html"}, "TEMPLATE_S3_URI"),
    ({"JOB_NAME_PREFIX": "tandem_feedback"}, "JOB_NAME_PREFIX"),
])
def test_a_bad_variable_is_named(changes, variable):
    with pytest.raises(SettingsError) as raised:
        SamplerSettings.from_env({**base_environment(), **job_environment(), **changes})

    assert raised.value.variable == variable
