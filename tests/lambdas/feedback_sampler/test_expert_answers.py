"""Experts' answers in the sampler: every escalation resolved in the window gives its experts' answers to the
review queue, masked like the sample, before the manifest, each once; with the in-memory stand-ins of
test_sampler.py and a queue under moto (the handler's, as FeedbackStack gives it the ratings table)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from lambdas.common.expert_answer_queue import ExpertAnswerQueue
from lambdas.common.expert_answers import ExpertAnswer
from lambdas.common.redaction import RedactionFailed
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, Withheld
from lambdas.feedback_sampler.handler import build_sampler
from lambdas.feedback_sampler.sampler import SamplingFailed
from lambdas.feedback_sampler.settings import SamplerSettings
from tests.lambdas.feedback_sampler.test_sampler import MANIFEST_KEY, NOW, SETTINGS, Run, iso, key_of

TABLE = "tandem-ratings-sampler-gold"


class FakeQueue:
    """ExpertAnswerQueue.add over a dict: what was queued, once per candidate."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.queued: dict[str, ExpertAnswer] = {}

    def add(self, candidates: list[ExpertAnswer]) -> tuple[int, int]:
        self.calls.append(f"queue {len(candidates)} expert answers")
        new = [c for c in candidates if c.candidate_id not in self.queued]
        self.queued.update((c.candidate_id, c) for c in new)
        return len(new), len(candidates) - len(new)


def resolved(session_id: str, *, resolved_days_ago: float) -> Transcript:
    """A customer escalates about order 42, an expert answers (quoting the order number), resolves."""
    start = NOW - timedelta(days=resolved_days_ago, hours=1)
    question = Turn(role="customer", text="Order 42 never came!", turn_id=f"{session_id}-c", created_at=iso(start))
    handoff = Turn(role="system", text="A human expert is on the way.", turn_id=f"{session_id}-h",
                   created_at=iso(start), reply_to=question.turn_id,
                   withheld=Withheld(text="Order 42 is on its way.", model_id="model-1"))
    reply = Turn(role="expert", text="Order 42 was resent today.", turn_id=f"{session_id}-e",
                 created_at=iso(start + timedelta(minutes=5)))
    escalation = EscalationRecord(session_id=session_id, reason="negative_sentiment", turn_id=question.turn_id,
                                  escalation_id=f"{session_id}-x", status="resolved", requested_at=iso(start),
                                  accepted_by="expert-1", resolved_at=iso(start + timedelta(minutes=10)))
    return Transcript(session_id=session_id, started_at=iso(start), updated_at=iso(start + timedelta(minutes=10)),
                      turns=[question, handoff, reply], escalations=[escalation])


@pytest.fixture
def run() -> Run:
    run = Run()
    run.queue = FakeQueue(run.calls)
    run.sampler.expert_answers = run.queue
    for transcript in (resolved("gold-in", resolved_days_ago=2), resolved("gold-old", resolved_days_ago=9)):
        run.transcripts.put(key_of(transcript), transcript)
    return run


def test_the_answers_of_escalations_resolved_in_the_window_are_masked_then_queued_before_the_manifest(run):
    summary = run()

    assert run.done() == ["mask 9 texts (en)", "queue 1 expert answers",
                          f"write {MANIFEST_KEY}", "start tandem-feedback-20260310-020000"]
    (answer,) = run.queue.queued.values()
    assert (answer.session_id, answer.question, answer.answer, answer.replaced) == (
        "gold-in", "Order ## never came!", "Order ## was resent today.", "Order ## is on its way.")
    assert (summary["expert_answers"], summary["expert_answers_queued"]) == (1, 1)


def test_a_second_run_over_the_same_window_queues_nothing_twice(run):
    run()
    summary = run()
    assert (summary["expert_answers_queued"], summary["expert_answers_already_queued"]) == (0, 1)
    assert len(run.queue.queued) == 1


def test_a_masking_failure_queues_nothing(run):
    run.masker.failure = RedactionFailed("ThrottlingException")
    with pytest.raises(SamplingFailed):
        run()
    assert run.queue.queued == {} and "queue" not in " ".join(run.calls)


def test_a_dry_run_counts_the_answers_and_queues_nothing(run):
    summary = run(dry_run=True)
    assert summary["expert_answers"] == 1 and run.queue.queued == {}


def test_a_window_with_only_experts_answers_queues_them_and_says_so(run):
    for key in [k for k in run.transcripts.objects if "/session-" in k]:
        del run.transcripts.objects[key]
    summary = run()
    assert summary["manifest_uri"] is None and "the experts' answers were written" in summary["reason"]
    assert list(run.queue.queued) == ["gold-in-x.gold-in-e"]


def test_the_handlers_sampler_queues_them_in_the_ratings_table(aws):
    aws.create("ratings_table", TABLE)
    aws.create("transcripts_bucket", "transcripts-gold")
    aws.create("labeling_bucket", "labeling-gold")
    transcript = resolved("gold-in", resolved_days_ago=2)
    aws.s3.put_object(Bucket="transcripts-gold", Key=key_of(transcript),
                      Body=json.dumps(transcript.to_dict()).encode())
    settings: SamplerSettings = replace(SETTINGS, transcripts_bucket="transcripts-gold", ratings_bucket="labeling-gold",
                                        labeling_bucket="labeling-gold", redact_pii=False, language_code=None,
                                        job=None, ratings_table=TABLE)
    build_sampler(settings).run(settings, now=NOW)

    pending, _ = ExpertAnswerQueue(table_name=TABLE).pending()
    assert [(q.candidate.question, q.candidate.answer) for q in pending] == [
        ("Order 42 never came!", "Order 42 was resent today.")]
