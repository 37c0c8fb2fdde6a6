"""The sampler's settings, from the environment stacks/feedback_stack.py gives the function, and the
overrides an on-demand invoke may carry.

A missing or bad variable fails the invocation with an error naming it (an operator's mistake: nothing is
written). A bad override is the caller's mistake: OverrideError names the field and the handler returns it.

The labeling-job variables are read only when WORKTEAM_ARN is set: without a workteam the sampler writes
the manifest and starts nothing, so a stack that has no workforce yet need not invent the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from lambdas.common.env_settings import (
    BUCKET,
    RATINGS_BUCKET,
    RATINGS_PREFIX,
    RATINGS_TABLE,
    S3_URI,
    TRANSCRIPTS_BUCKET,
    WORKTEAM_ARN,
    EnvSettings,
    Variable,
    arn,
    integer,
    matching,
    one_of,
    read,
)
from lambdas.common.env_settings import SettingsError as SettingsError  # raised by from_env: callers catch it here
from lambdas.common.redaction import LANGUAGE_CODE, REDACT_PII, masking_settings
from lambdas.common.request_errors import FieldError

STRATEGIES = ("random", "escalated_first", "thumbs_down_first")  # lambdas/feedback_sampler/sampling.py
MAX_WINDOW_DAYS = 90
MAX_BUDGET = 100_000  # Ground Truth's limit on objects per labeling job (AWS-CONTRACTS.md)
MAX_SEED = 2**63 - 1
MAX_TASK_AVAILABILITY_SECONDS = 30 * 86400  # private workforce (AWS-CONTRACTS.md)
DEFAULT_JOB_NAME_PREFIX = "tandem-feedback"
DEFAULT_MAX_CONCURRENT_TASK_COUNT = 1000  # SageMaker's own default
# What raters read in the worker portal's task list.
TASK_TITLE = "Rate an assistant answer from 1 to 5"
TASK_DESCRIPTION = ("Read the customer's question and the assistant's answer, then rate how relevant and "
                    "helpful the answer is: 1 (not at all) to 5 (fully).")
TASK_KEYWORDS = ("text", "rating", "chatbot", "relevance")

# botocore's sagemaker model (CreateLabelingJob) and AWS-CONTRACTS.md. Ground Truth adds "<name>-metadata"
# beside the label attribute, and "-ref" names a reference: neither may end it.
_LABEL_ATTRIBUTE = matching(r"(?!.*-(metadata|ref)$)[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}",
                            "1-127 letters, digits and inner hyphens (botocore's pattern), not ending with "
                            "-metadata or -ref")
_ROLE_ARN = matching(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", "an IAM role ARN")
_LAMBDA_ARN = arn("lambda", "function:.+", "a Lambda function ARN")
_WORKTEAM = Variable("WORKTEAM_ARN", WORKTEAM_ARN)  # set: a labeling job is started (JobSettings are read)
# The job name is the prefix, "-" and a 15-character UTC time (20260105-020000): at most 63 characters.
_JOB_PREFIX = matching(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,46}", "1-47 letters, digits and inner hyphens")


class OverrideError(FieldError):
    """A bad field of an on-demand invoke."""


@dataclass(frozen=True)
class JobSettings(EnvSettings):
    """What CreateLabelingJob needs beyond the manifest."""

    workteam_arn: str = field(metadata=_WORKTEAM)
    label_attribute_name: str = field(metadata=Variable("LABEL_ATTRIBUTE_NAME", _LABEL_ATTRIBUTE))
    role_arn: str = field(metadata=Variable("LABELING_ROLE_ARN", _ROLE_ARN))
    template_s3_uri: str = field(metadata=Variable("TEMPLATE_S3_URI", S3_URI))
    pre_annotation_lambda_arn: str = field(metadata=Variable("PRE_ANNOTATION_LAMBDA_ARN", _LAMBDA_ARN))
    consolidation_lambda_arn: str = field(metadata=Variable("CONSOLIDATION_LAMBDA_ARN", _LAMBDA_ARN))
    workers_per_object: int = field(metadata=Variable("WORKERS_PER_OBJECT", integer(1, 9)))
    task_time_limit_seconds: int = field(metadata=Variable("TASK_TIME_LIMIT_SECONDS", integer(30, 28800)))
    task_availability_seconds: int = field(metadata=Variable("TASK_AVAILABILITY_SECONDS",
                                                             integer(60, MAX_TASK_AVAILABILITY_SECONDS)))
    max_concurrent_task_count: int = field(default=DEFAULT_MAX_CONCURRENT_TASK_COUNT,
                                           metadata=Variable("MAX_CONCURRENT_TASK_COUNT", integer(1, 5000)))


@dataclass(frozen=True)
class SamplerSettings(EnvSettings):
    transcripts_bucket: str = field(metadata=TRANSCRIPTS_BUCKET)
    ratings_bucket: str = field(metadata=RATINGS_BUCKET)
    ratings_prefix: str = field(metadata=RATINGS_PREFIX)  # "" or ending with "/"
    labeling_bucket: str = field(metadata=Variable("LABELING_BUCKET", BUCKET))
    window_days: int = field(metadata=Variable("WINDOW_DAYS", integer(1, MAX_WINDOW_DAYS)))
    budget: int = field(metadata=Variable("BUDGET", integer(1, MAX_BUDGET)))
    strategy: str = field(metadata=Variable("STRATEGY", one_of(*STRATEGIES)))
    redact_pii: bool = field(metadata=REDACT_PII)
    language_code: str | None = field(metadata=LANGUAGE_CODE)  # None unless redact_pii
    job: JobSettings | None  # None: no WORKTEAM_ARN, write the manifest and start nothing
    # None: derived from the run's time (and reported, so the run can be repeated).
    seed: int | None = field(default=None, metadata=Variable("SEED", integer(0, MAX_SEED)))
    job_name_prefix: str = field(default=DEFAULT_JOB_NAME_PREFIX, metadata=Variable("JOB_NAME_PREFIX", _JOB_PREFIX))
    # Without a workteam, the sample becomes a rating batch for Tandem's rating console, in this table; None
    # (no table either) writes the manifest alone.
    ratings_table: str | None = field(default=None, metadata=RATINGS_TABLE)
    ratings_per_item: int = field(default=1, metadata=Variable("RATINGS_PER_ITEM", integer(1, 9)))
    # How long a rater holds an item before it returns to the pool (Ground Truth's task time limit, alike).
    rating_hold_seconds: int = field(default=600, metadata=Variable("RATING_HOLD_SECONDS", integer(30, 28800)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SamplerSettings:
        job = JobSettings.from_env(environ) if environ.get(_WORKTEAM.name, "").strip() else None
        return read(cls, environ, job=job, **masking_settings(environ))


@dataclass(frozen=True)
class Overrides:
    window_days: int | None = None
    budget: int | None = None
    strategy: str | None = None
    seed: int | None = None
    dry_run: bool = False

    def apply(self, settings: SamplerSettings) -> SamplerSettings:
        changes: dict[str, Any] = {k: v for k, v in (("window_days", self.window_days), ("budget", self.budget),
                                                     ("strategy", self.strategy), ("seed", self.seed))
                                   if v is not None}
        return replace(settings, **changes)


OVERRIDE_FIELDS = ("window_days", "budget", "strategy", "seed", "dry_run")


def parse_overrides(event: Mapping[str, Any]) -> Overrides:
    """The overrides of a direct invoke: every field optional, none other allowed (a misspelt field would
    otherwise be ignored silently). JSON integers only: "5" or 5.0 or true are refused."""
    unknown = sorted(k for k in event if k not in OVERRIDE_FIELDS)
    if unknown:
        raise OverrideError(unknown[0], f"is not an override (allowed: {', '.join(OVERRIDE_FIELDS)})")

    def integer(name: str, low: int, high: int) -> int | None:
        value = event.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise OverrideError(name, f"must be an integer from {low} to {high}")
        return value

    strategy = event.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise OverrideError("strategy", f"must be one of {', '.join(STRATEGIES)}")
    dry_run = event.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise OverrideError("dry_run", "must be true or false")
    return Overrides(window_days=integer("window_days", 1, MAX_WINDOW_DAYS), budget=integer("budget", 1, MAX_BUDGET),
                     strategy=strategy, seed=integer("seed", 0, MAX_SEED), dry_run=dry_run)
