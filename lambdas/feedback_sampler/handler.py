"""The feedback sampler and labeling-job launcher, deployed by stacks/feedback_stack.py: invoked on a
schedule by an EventBridge rule, and on demand by a direct invoke.

Events:
- a scheduled event ({"source": "aws.events", "detail-type": "Scheduled Event", "time": ...}): runs with
  the environment's settings; the event's `time` is the end of the window and names the job, so a
  redelivered event repeats the same run instead of starting a second job;
- anything else is a direct invoke whose fields override the environment: {"window_days", "budget",
  "strategy", "seed", "dry_run"}, all optional ({} runs with the defaults, now).
A bad override is answered, not raised: {"started": false, "error": "<field>: <problem>", "field": ...}.
A bad environment, a failed PII masking (nothing written) or an AWS error raises, so the invocation fails
(and an asynchronous one is retried).

The handler is thin: settings.py parses, sampler.py does the work, through the AWS classes built here once.
Logs carry counts and names, never a customer's text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.common import clients
from lambdas.common.expert_answer_queue import ExpertAnswerQueue
from lambdas.common.rating_batches import RatingBatches
from lambdas.common.rating_files import RatingFiles
from lambdas.common.redaction import PiiMasker
from lambdas.common.startup import Startup
from lambdas.feedback_sampler import sampler
from lambdas.feedback_sampler.labeling import LabelingJobStarter, ManifestWriter
from lambdas.feedback_sampler.settings import OverrideError, SamplerSettings, parse_overrides
from lambdas.feedback_sampler.transcript_reader import TranscriptReader

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))


@dataclass(frozen=True)
class Dependencies:
    settings: SamplerSettings  # the environment's; an on-demand invoke's overrides apply to one run
    sampler: sampler.FeedbackSampler


def build_sampler(settings: SamplerSettings) -> sampler.FeedbackSampler:
    def s3() -> Any:
        return clients.client("s3")

    return sampler.FeedbackSampler(
        transcripts=TranscriptReader(settings.transcripts_bucket, s3),
        ratings=RatingFiles(s3(), settings.ratings_bucket, settings.ratings_prefix),
        masker=PiiMasker(),
        manifests=ManifestWriter(settings.labeling_bucket, s3),
        jobs=LabelingJobStarter(lambda: clients.client("sagemaker")),
        batches=RatingBatches(table_name=settings.ratings_table, ratings_bucket=settings.ratings_bucket,
                              ratings_prefix=settings.ratings_prefix) if settings.ratings_table else None,
        expert_answers=ExpertAnswerQueue(table_name=settings.ratings_table) if settings.ratings_table else None,
    )


def build() -> Dependencies:
    settings = SamplerSettings.from_env()
    return Dependencies(settings=settings, sampler=build_sampler(settings))


dependencies = Startup(build)


def is_scheduled(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == "aws.events" \
        and event.get("detail-type") == "Scheduled Event"


def scheduled_time(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"scheduled event time {raw!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: Any, context: Any) -> dict[str, Any]:
    built = dependencies.get()
    settings = built.settings
    dry_run = False
    if is_scheduled(event):
        now = scheduled_time(event)
        trigger = "schedule"
    else:
        trigger = "invoke"
        try:
            if not isinstance(event, dict):
                raise OverrideError("event", "must be a JSON object of overrides")
            overrides = parse_overrides(event)
        except OverrideError as error:
            logger.warning("bad override", extra={"field": error.field, "problem": error.problem})
            return {"started": False, "error": str(error), "field": error.field}
        settings = overrides.apply(settings)
        dry_run = overrides.dry_run
        now = _now()
    try:
        summary = built.sampler.run(settings, now=now, dry_run=dry_run)
    except sampler.SamplingFailed as error:
        metrics.add_metric(name="SamplingFailures", unit=MetricUnit.Count, value=1)
        logger.error("sampling stopped", extra={"trigger": trigger, "detail": str(error)})
        raise
    metrics.add_metric(name="ItemsSampled", unit=MetricUnit.Count, value=summary["items"])
    if summary["started"]:
        metrics.add_metric(name="LabelingJobsStarted", unit=MetricUnit.Count, value=1)
    logger.info("sampling done" if summary["started"] else "sampling done, no labeling job started",
                extra={"trigger": trigger, **{k: v for k, v in summary.items() if k != "window"}})
    return summary


dependencies.prepare_during_init()  # in Lambda's init phase: the settings and the run's classes before the first run
