"""One sampling run: transcripts -> candidates -> sample -> PII masked -> input manifest -> labeling job, and
the customers' thumbs given in the window -> PII masked -> a thumbs file for the dataset builder.

Reading. The window is (now - window_days, now]. Transcripts live under `transcripts/dt=<start date>/`
(lambdas/common/transcript.py), dated by the day the session *started*, so the run lists the prefixes of
every day of the window plus SESSION_LOOKBACK_DAYS before it (a conversation that began the evening before
the window and went on in it), then keeps the transcripts updated after the window's start, and of those
the bot turns created in the window (sampling.py). A transcript updated after the window's end is kept: a
scheduled run reads the window a moment after it closed, when live sessions have moved on, and their
turns inside the window still count (the turns after its end do not). Unreadable transcripts are skipped and counted, never fatal.

Already rated. Every rating record (JSON Lines under RATINGS_BUCKET/RATINGS_PREFIX, any rating source)
names a session_id and a turn_id; those turns are left out before sampling, so the budget is spent on new
answers. Lines that are not JSON objects with both ids are counted and ignored.

Thumbs. The customers' thumbs given in the window (sampling.collect) are written, masked like the sample, to
s3://LABELING_BUCKET/thumbs/<job-name>.jsonl (lambdas/common/thumbs.py ThumbRecord, one per line), which the
dataset Lambda reads beside the rating files; a run with thumbs and no sample writes that file alone. A
thumb taken back after a run exported it stays in that file (the dataset builder takes the latest file's
thumb of a turn, and a later run exports a changed one again).

Experts' answers. With the ratings table, every escalation resolved in the window gives its experts' answers
(lambdas/common/expert_answers.py candidates_of), masked like the sample, to the review queue of the rating
console; the queue takes each once, so overlapping windows and reruns add nothing twice.

Writing. The manifest goes to s3://LABELING_BUCKET/manifests/<job-name>.manifest, and only after every text
in it was masked (when REDACT_PII=true): a Comprehend failure raises before anything is written. Without a
workteam, its items become a rating batch of the same name for Tandem's rating console (RATINGS_TABLE,
lambdas/common/rating_batches.py); without that table either, the run stops after the manifest and says so. A scheduled event's own time names the job, so a
redelivery of the same event makes the same manifest and finds the job already there (ResourceInUse),
instead of starting a second one.

AWS. The run reads, masks, writes and starts only through what FeedbackSampler is given (TranscriptReader,
RatingFiles, PiiMasker, ManifestWriter, LabelingJobStarter; the handler builds them once), so these rules,
and what each failure leads to, can be tested without AWS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from botocore.exceptions import ClientError

from lambdas.common import redaction
from lambdas.common.expert_answer_queue import ExpertAnswerQueue
from lambdas.common.expert_answers import ExpertAnswer, candidates_of
from lambdas.common.feedback import LabelingItem, Sampling
from lambdas.common.rating_batches import RatingBatches
from lambdas.common.rating_files import RatingFiles, turn_of
from lambdas.common.redaction import PiiMasker
from lambdas.common.thumbs import THUMBS_PREFIX, ThumbRecord
from lambdas.common.transcript import TRANSCRIPTS_PREFIX, Transcript
from lambdas.feedback_sampler.labeling import LabelingJobStarter, ManifestWriter
from lambdas.feedback_sampler.manifest import manifest_body
from lambdas.feedback_sampler.sampling import collect, select
from lambdas.feedback_sampler.settings import TASK_DESCRIPTION, TASK_KEYWORDS, TASK_TITLE, SamplerSettings
from lambdas.feedback_sampler.transcript_reader import TranscriptReader

MANIFESTS_PREFIX = "manifests/"
OUTPUT_PREFIX = "output/"
SESSION_LOOKBACK_DAYS = 1


class SamplingFailed(RuntimeError):
    """The run stopped before writing anything (PII masking failed). The message is safe to log."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_text(self) -> str:
        return _iso(self.start)

    @property
    def end_text(self) -> str:
        return _iso(self.end)

    def prefixes(self) -> list[str]:
        first = (self.start - timedelta(days=SESSION_LOOKBACK_DAYS)).date()
        days = (self.end.date() - first).days
        return [f"{TRANSCRIPTS_PREFIX}dt={first + timedelta(days=d)}/" for d in range(days + 1)]


def _iso(moment: datetime) -> str:
    """The transcripts' own format (lambdas/common/transcript.py utc_now), so the two compare as text."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def job_name(prefix: str, moment: datetime) -> str:
    """prefix-YYYYMMDD-HHMMSS (UTC): matches [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} for any valid prefix."""
    return f"{prefix}-{moment.astimezone(timezone.utc):%Y%m%d-%H%M%S}"


def default_seed(moment: datetime) -> int:
    """The run's seed when none is configured: its time in whole seconds (reported in the summary)."""
    return int(moment.timestamp())


# Reading -----------------------------------------------------------------------------------------------

@dataclass
class ReadCounts:
    transcripts: int = 0
    unreadable_transcripts: int = 0
    bad_rating_lines: int = 0


def read_transcripts(reader: TranscriptReader, window: Window, counts: ReadCounts) -> Iterator[Transcript]:
    for prefix in window.prefixes():
        for key in reader.keys(prefix):
            if not key.endswith(".json"):
                continue
            try:
                transcript = Transcript.from_dict(json.loads(reader.read(key)))
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError):  # one bad file never fails a run
                counts.unreadable_transcripts += 1
                continue
            # Updated after the window's end (a session still going when a scheduled run reads it): its
            # turns up to the end still count; the turns' own times bound the sample (sampling.collect).
            if transcript.updated_at > window.start_text:
                counts.transcripts += 1
                yield transcript


def rated_turns(files: RatingFiles, counts: ReadCounts) -> set[tuple[str, str]]:
    rated: set[tuple[str, str]] = set()
    for key in files.list().keys:
        for line in files.lines(key):
            turn = turn_of(line)
            if turn is None:
                counts.bad_rating_lines += 1
            else:
                rated.add(turn)
    return rated


# Masking -----------------------------------------------------------------------------------------------

Masked = tuple[list[Any], tuple[str, ...]]  # objects (dataclasses) and the names of their texts to mask


def mask_all(groups: list[Masked], masker: PiiMasker, language_code: str) -> list[list[Any]]:
    """Each group's objects with personal data masked in the named texts: the sample's questions and answers,
    the thumbs' comments too, the experts' answers and the bot answers they replaced (experts may repeat a
    customer's details). All texts go in one masker call (as few Comprehend requests as fit); if it fails,
    SamplingFailed, before anything is written."""
    texts = [getattr(item, name) for objects, names in groups for item in objects for name in names]
    try:
        masked = iter(masker.mask(texts, language_code) if texts else [])
    except redaction.RedactionFailed as error:
        raise SamplingFailed(f"PII redaction failed (Comprehend DetectPiiEntities: {error.code}); no manifest was "
                             "written, nothing was exported or queued and no labeling job was started") from None
    return [[replace(item, **{name: next(masked) for name in names}) for item in objects] for objects, names in groups]


def with_expert_answers(transcripts: Iterator[Transcript], window: Window, found: list[ExpertAnswer]
                        ) -> Iterator[Transcript]:
    """The transcripts as they are read, collecting the experts' answers of the escalations resolved in the
    window into `found` on the way (the transcripts are read once, for the sample and for these)."""
    for transcript in transcripts:
        found.extend(candidates_of(transcript, start=window.start_text, end=window.end_text))
        yield transcript


def thumbs_body(thumbs: list[ThumbRecord]) -> bytes:
    """The exported thumbs: ThumbRecord JSON Lines, UTF-8, the dataset builder's input beside the ratings."""
    return "".join(json.dumps(t.to_dict(), ensure_ascii=False) + "\n" for t in thumbs).encode("utf-8")


# The run -----------------------------------------------------------------------------------------------

def labeling_job_request(settings: SamplerSettings, name: str, manifest_uri: str) -> dict[str, Any]:
    """CreateLabelingJob's parameters (names checked against botocore's sagemaker model)."""
    job = settings.job
    assert job is not None
    return {
        "LabelingJobName": name,
        "LabelAttributeName": job.label_attribute_name,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}}},
        "OutputConfig": {"S3OutputPath": f"s3://{settings.labeling_bucket}/{OUTPUT_PREFIX}"},
        "RoleArn": job.role_arn,
        "HumanTaskConfig": {
            "WorkteamArn": job.workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": job.template_s3_uri},
            "PreHumanTaskLambdaArn": job.pre_annotation_lambda_arn,
            "TaskTitle": TASK_TITLE,
            "TaskDescription": TASK_DESCRIPTION,
            "TaskKeywords": list(TASK_KEYWORDS),
            "NumberOfHumanWorkersPerDataObject": job.workers_per_object,
            "TaskTimeLimitInSeconds": job.task_time_limit_seconds,
            "TaskAvailabilityLifetimeInSeconds": job.task_availability_seconds,
            "MaxConcurrentTaskCount": job.max_concurrent_task_count,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": job.consolidation_lambda_arn},
        },
    }


class FeedbackSampler:
    def __init__(self, *, transcripts: TranscriptReader, ratings: RatingFiles, masker: PiiMasker,
                 manifests: ManifestWriter, jobs: LabelingJobStarter, batches: RatingBatches | None = None,
                 expert_answers: ExpertAnswerQueue | None = None) -> None:
        """batches: where a sample goes when no workteam is configured (Tandem's rating console);
        expert_answers: where the experts' answers wait for review (both in the ratings table)."""
        self.transcripts = transcripts
        self.ratings = ratings
        self.masker = masker
        self.manifests = manifests
        self.jobs = jobs
        self.batches = batches
        self.expert_answers = expert_answers

    def run(self, settings: SamplerSettings, *, now: datetime, dry_run: bool = False) -> dict[str, Any]:
        """Samples, masks, writes the manifest and starts the job; returns the run's summary. `settings` are
        the run's: the environment's, with an on-demand invoke's overrides."""
        window = Window(start=now - timedelta(days=settings.window_days), end=now)
        seed = settings.seed if settings.seed is not None else default_seed(now)
        name = job_name(settings.job_name_prefix, now)
        manifest_key = f"{MANIFESTS_PREFIX}{name}.manifest"
        manifest_uri = f"s3://{settings.labeling_bucket}/{manifest_key}"

        counts = ReadCounts()
        rated = rated_turns(self.ratings, counts)
        answers: list[ExpertAnswer] = []
        transcripts = read_transcripts(self.transcripts, window, counts)
        if self.expert_answers is not None:
            transcripts = with_expert_answers(transcripts, window, answers)
        collected = collect(transcripts, start=window.start_text, end=window.end_text)
        fresh = [c for c in collected.candidates if c.key not in rated]
        sample = select(fresh, strategy=settings.strategy, seed=seed, budget=settings.budget)
        summary: dict[str, Any] = {
            "manifest_uri": manifest_uri, "items": len(sample),
            "skipped_already_rated": len(collected.candidates) - len(fresh),
            "strategy": settings.strategy, "seed": seed, "redacted": False, "started": False,
            "window": {"start": window.start_text, "end": window.end_text},
            "candidates": len(fresh), "transcripts": counts.transcripts,
            "skipped_unreadable_transcripts": counts.unreadable_transcripts,
            "skipped_no_question": collected.no_question, "skipped_bad_ids": collected.bad_ids,
            "bad_rating_lines": counts.bad_rating_lines,
            "thumbs": len(collected.thumbs), "thumbs_down": sum(t.thumb == "down" for t in collected.thumbs),
            "skipped_bad_thumbs": collected.bad_thumbs, "expert_answers": len(answers),
            "dry_run": dry_run,
        }
        if dry_run:
            summary.update(reason="dry run: nothing was masked, written or started", manifest_uri=None)
            return summary
        thumbs = collected.thumbs
        if not sample and not thumbs and not answers:
            summary.update(reason="no unrated bot answers in the window: nothing was written or started",
                           manifest_uri=None)
            return summary
        if settings.redact_pii:
            assert settings.language_code is not None
            sample, thumbs, answers = mask_all([(sample, ("question", "answer")),
                                                (thumbs, ("question", "answer", "comment")),
                                                (answers, ("question", "answer", "replaced"))],
                                               self.masker, settings.language_code)
            summary["redacted"] = True
        if answers:  # before the manifest, as the thumbs: the queue adds each answer once, whatever reruns
            assert self.expert_answers is not None
            added, existing = self.expert_answers.add(answers)
            summary.update(expert_answers_queued=added, expert_answers_already_queued=existing)
        if thumbs:  # before the manifest: a run that fails later has still exported them (a rerun writes the same)
            thumbs_key = f"{THUMBS_PREFIX}{name}.jsonl"
            self.manifests.write(thumbs_key, thumbs_body(thumbs))
            summary["thumbs_uri"] = f"s3://{settings.labeling_bucket}/{thumbs_key}"
        if not sample:
            written = " and ".join(what for what, there in (("the customers' thumbs", thumbs),
                                                             ("the experts' answers", answers)) if there)
            summary.update(reason=f"no unrated bot answers in the window: only {written} were written",
                           manifest_uri=None)
            return summary
        body = manifest_body(sample, Sampling(strategy=settings.strategy, seed=seed))
        self.manifests.write(manifest_key, body)
        if settings.job is None:
            if self.batches is not None:
                return self._rating_batch(settings, name, body, summary)
            summary["reason"] = ("no WORKTEAM_ARN configured: the manifest was written and no labeling job was "
                                 "started")
            return summary
        summary["job_name"] = name
        try:
            job_arn = self.jobs.start(labeling_job_request(settings, name, manifest_uri))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceInUse":
                summary["reason"] = (f"a labeling job named {name} already exists (an earlier delivery of this "
                                     "event started it): no second job was started")
                return summary
            raise
        summary.update(started=True, job_arn=job_arn)
        return summary

    def _rating_batch(self, settings: SamplerSettings, name: str, body: bytes, summary: dict[str, Any]
                      ) -> dict[str, Any]:
        """The manifest's items (the very lines a Ground Truth job would get) become a rating batch named like
        the job; a redelivered event names the same batch and finds it there."""
        assert self.batches is not None
        items = [LabelingItem.from_dict(json.loads(line)) for line in body.decode("utf-8").splitlines()]
        batch = self.batches.create(name, items, ratings_per_item=settings.ratings_per_item,
                                    assignment_seconds=settings.rating_hold_seconds)
        summary.update(started=True, rating_batch=batch.batch_id, rating_items=batch.item_count,
                       reason="no WORKTEAM_ARN configured: the sample is a rating batch for the rating console")
        return summary
