"""A sampling run's rules (sampler.FeedbackSampler) with in-memory stand-ins for the buckets, Comprehend and
SageMaker: what is read, masked, written and started, in which order, and what each failure leaves behind.
The same run through the real handler under moto and Stubbers is in test_handler.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from lambdas.common.redaction import RedactionFailed
from lambdas.common.transcript import Transcript, Turn
from lambdas.feedback_sampler.sampler import FeedbackSampler, SamplingFailed
from lambdas.feedback_sampler.settings import JobSettings, SamplerSettings
from tests.lambdas.feedback_sampler.fakes import FakeJobs, FakeManifests, FakeMasker, FakeRatings, FakeTranscripts

NOW = datetime(2026, 3, 10, 2, 0, 0, tzinfo=timezone.utc)
JOB_NAME = "tandem-feedback-20260310-020000"
MANIFEST_KEY = f"manifests/{JOB_NAME}.manifest"
DAYS = [f"transcripts/dt=2026-03-{day:02d}/" for day in range(2, 11)]  # the window's days and the day before
JOB = JobSettings(workteam_arn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/experts",
                  label_attribute_name="relevance", role_arn="arn:aws:iam::123456789012:role/labeling",
                  template_s3_uri="s3://labeling/templates/relevance.liquid.html",
                  pre_annotation_lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:pre",
                  consolidation_lambda_arn="arn:aws:lambda:us-east-1:123456789012:function:post",
                  workers_per_object=3, task_time_limit_seconds=600, task_availability_seconds=864000,
                  max_concurrent_task_count=1000)
SETTINGS = SamplerSettings(transcripts_bucket="transcripts", ratings_bucket="labeling", ratings_prefix="ratings/",
                           labeling_bucket="labeling", window_days=7, budget=50, strategy="random", seed=42,
                           redact_pii=True, language_code="en", job_name_prefix="tandem-feedback", job=JOB)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def conversation(session_id: str, started: datetime) -> Transcript:
    """One question and its answer, both with digits (the fake masker masks digits)."""
    question = Turn(role="customer", text=f"Where is order 1{session_id[-1]}?", turn_id=f"{session_id}-c",
                    created_at=iso(started))
    answer = Turn(role="bot", text="It left on the 9th.", turn_id=f"{session_id}-b", reply_to=question.turn_id,
                  created_at=iso(started + timedelta(minutes=1)))
    return Transcript(session_id=session_id, started_at=question.created_at, updated_at=answer.created_at,
                      turns=[question, answer])


def key_of(transcript: Transcript) -> str:
    return f"transcripts/dt={transcript.started_at[:10]}/{transcript.session_id}.json"


class Run:
    """Three conversations inside the window, and a sampler given the stand-ins."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.transcripts = FakeTranscripts(self.calls)
        self.ratings = FakeRatings(self.calls)
        self.masker = FakeMasker(self.calls)
        self.manifests = FakeManifests(self.calls)
        self.jobs = FakeJobs(self.calls)
        for n in range(3):
            transcript = conversation(f"session-{n}", NOW - timedelta(days=n + 1, hours=1))
            self.transcripts.put(key_of(transcript), transcript)
        self.sampler = FeedbackSampler(transcripts=self.transcripts, ratings=self.ratings, masker=self.masker,
                                       manifests=self.manifests, jobs=self.jobs)

    def __call__(self, dry_run: bool = False, **changes) -> dict:
        return self.sampler.run(replace(SETTINGS, **changes), now=NOW, dry_run=dry_run)

    def done(self) -> list[str]:
        """What was asked beyond reading."""
        return [c for c in self.calls if not c.startswith("list ")]


@pytest.fixture
def run() -> Run:
    return Run()


def test_a_run_reads_the_window_masks_then_writes_the_manifest_then_starts_the_job(run):
    summary = run()

    assert run.calls == ["list ratings", *(f"list {day}" for day in DAYS), "mask 6 texts (en)",
                         f"write {MANIFEST_KEY}", f"start {JOB_NAME}"]
    lines = run.manifests.lines(MANIFEST_KEY)
    assert sorted(line["session_id"] for line in lines) == ["session-0", "session-1", "session-2"]
    assert all("#" in line["question"] and not any(ch.isdigit() for ch in line["question"] + line["answer"])
               for line in lines)
    (request,) = run.jobs.requests
    assert request["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"] == f"s3://labeling/{MANIFEST_KEY}"
    assert summary["started"] is True and summary["redacted"] is True and summary["items"] == 3
    assert summary["job_arn"].endswith(f"/{JOB_NAME}")


def test_without_masking_the_texts_are_written_as_they_are(run):
    run(redact_pii=False, language_code=None)

    assert "mask" not in " ".join(run.calls)
    assert any("1" in line["question"] for line in run.manifests.lines(MANIFEST_KEY))


def test_unreadable_transcripts_are_skipped_and_counted_and_other_keys_left_alone(run):
    day = "transcripts/dt=2026-03-08/"
    run.transcripts.put(f"{day}not-json.json", b"{not json")
    run.transcripts.put(f"{day}other-schema.json", b'{"schema_version": 99, "session_id": "x"}')
    run.transcripts.put(f"{day}no-times.json", b'{"schema_version": 1, "session_id": "x"}')
    run.transcripts.put(f"{day}too-deep.json", b"[" * 100_000 + b"]" * 100_000)  # deeper than Python's stack
    run.transcripts.put(f"{day}notes.txt", b"not a transcript and not read")
    old = conversation("session-9", NOW - timedelta(days=30))
    run.transcripts.put(f"{day}session-9.json", old)  # listed under a window day, but last updated before it

    summary = run()

    assert summary["skipped_unreadable_transcripts"] == 4
    assert summary["transcripts"] == 3 and summary["items"] == 3


def test_a_transcript_that_cannot_be_fetched_fails_the_run_before_anything_is_written(run):
    run.transcripts.failure = ClientError({"Error": {"Code": "InternalError", "Message": ""}}, "GetObject")

    with pytest.raises(ClientError):
        run()

    assert run.done() == []


def test_rated_turns_are_left_out_and_lines_without_both_ids_counted(run):
    run.ratings.files["ratings/job-a.jsonl"] = [b'{"session_id": "session-1", "turn_id": "session-1-b", "rating": 4}',
                                                b'{"session_id": "session-2"}', b"not json"]

    summary = run()

    assert sorted(line["session_id"] for line in run.manifests.lines(MANIFEST_KEY)) == ["session-0", "session-2"]
    assert summary["skipped_already_rated"] == 1 and summary["bad_rating_lines"] == 2


def test_a_masking_failure_writes_and_starts_nothing_and_says_why(run):
    run.masker.failure = RedactionFailed("ThrottlingException")

    with pytest.raises(SamplingFailed, match=r"PII redaction failed \(Comprehend DetectPiiEntities: "
                                             r"ThrottlingException\); no manifest was written"):
        run()

    assert run.done() == ["mask 6 texts (en)"]
    assert run.manifests.written == {}


def test_a_job_that_exists_already_was_started_by_an_earlier_delivery(run):
    run.jobs.failure = ClientError({"Error": {"Code": "ResourceInUse", "Message": "exists"}}, "CreateLabelingJob")

    summary = run()

    assert summary["started"] is False and summary["job_name"] == JOB_NAME and "job_arn" not in summary
    assert summary["reason"].startswith(f"a labeling job named {JOB_NAME} already exists")
    assert MANIFEST_KEY in run.manifests.written  # the same manifest the earlier delivery wrote


def test_any_other_job_failure_fails_the_run(run):
    failure = ClientError({"Error": {"Code": "ValidationException", "Message": "bad role"}}, "CreateLabelingJob")
    run.jobs.failure = failure

    with pytest.raises(ClientError) as raised:
        run()

    assert raised.value is failure
    assert run.done()[-2:] == [f"write {MANIFEST_KEY}", f"start {JOB_NAME}"]


def test_without_a_workteam_the_manifest_is_written_and_no_job_started(run):
    summary = run(job=None)

    assert run.done()[-1] == f"write {MANIFEST_KEY}" and run.jobs.requests == []
    assert summary["started"] is False and "no WORKTEAM_ARN" in summary["reason"]


def test_a_dry_run_only_reads(run):
    summary = run(dry_run=True)

    assert run.done() == [] and summary["items"] == 3 and summary["manifest_uri"] is None


def test_an_empty_window_only_reads(run):
    summary = run(window_days=1)  # the conversations were over more than a day before the run

    assert run.done() == [] and summary["items"] == 0 and summary["manifest_uri"] is None
