"""The sampler's settings, from the environment stacks/feedback_stack.py gives the function, and the
overrides an on-demand invoke may carry.

A missing or bad variable fails the invocation with an error naming it (an operator's mistake: nothing is
written). A bad override is the caller's mistake: OverrideError names the field and the handler returns it.

The labeling-job variables are read only when WORKTEAM_ARN is set: without a workteam the sampler writes
the manifest and starts nothing, so a stack that has no workforce yet need not invent the others.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from lambdas.common.env_settings import BUCKET_NAME, SettingsError, integer_setting, ratings_location

STRATEGIES = ("random", "escalated_first")
LANGUAGE_CODES = ("en", "es")
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

# botocore's sagemaker model (CreateLabelingJob) and AWS-CONTRACTS.md.
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")
_WORKTEAM_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+$")
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z\-]*:lambda:[a-z0-9\-]*:[0-9]{12}:function:.+$")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
# The job name is the prefix, "-" and a 15-character UTC time (20260105-020000): at most 63 characters.
_JOB_PREFIX = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,46}$")


class OverrideError(ValueError):
    """A bad field of an on-demand invoke."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name
        self.problem = problem


@dataclass(frozen=True)
class JobSettings:
    """What CreateLabelingJob needs beyond the manifest."""

    workteam_arn: str
    label_attribute_name: str
    role_arn: str
    template_s3_uri: str
    pre_annotation_lambda_arn: str
    consolidation_lambda_arn: str
    workers_per_object: int
    task_time_limit_seconds: int
    task_availability_seconds: int
    max_concurrent_task_count: int


@dataclass(frozen=True)
class SamplerSettings:
    transcripts_bucket: str
    ratings_bucket: str
    ratings_prefix: str  # "" or ending with "/"
    labeling_bucket: str
    window_days: int
    budget: int
    strategy: str
    seed: int | None  # None: derived from the run's time (and reported, so the run can be repeated)
    redact_pii: bool
    language_code: str | None  # required when redact_pii
    job_name_prefix: str
    job: JobSettings | None  # None: no WORKTEAM_ARN, write the manifest and start nothing

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "SamplerSettings":
        def text(name: str, default: str | None = None) -> str:
            value = environ.get(name, "").strip()
            if not value:
                if default is not None:
                    return default
                raise SettingsError(name, "is required")
            return value

        def integer(name: str, low: int, high: int, default: int | None = None) -> int:
            return integer_setting(environ, name, low, high, default)

        def matching(name: str, pattern: re.Pattern[str], what: str) -> str:
            value = text(name)
            if not pattern.fullmatch(value):
                raise SettingsError(name, f"must be {what}")
            return value

        def bucket(name: str) -> str:
            return matching(name, BUCKET_NAME, "an S3 bucket name")

        redact_raw = text("REDACT_PII").lower()
        if redact_raw not in ("true", "false"):
            raise SettingsError("REDACT_PII", "must be true or false")
        redact_pii = redact_raw == "true"
        language_code = None
        if redact_pii:
            language_code = text("LANGUAGE_CODE")
            if language_code not in LANGUAGE_CODES:
                raise SettingsError("LANGUAGE_CODE", f"must be one of {', '.join(LANGUAGE_CODES)}")
        strategy = text("STRATEGY")
        if strategy not in STRATEGIES:
            raise SettingsError("STRATEGY", f"must be one of {', '.join(STRATEGIES)}")
        ratings_bucket, ratings_prefix = ratings_location(environ)
        seed = integer("SEED", 0, MAX_SEED) if environ.get("SEED", "").strip() else None

        job = None
        if environ.get("WORKTEAM_ARN", "").strip():
            label = matching("LABEL_ATTRIBUTE_NAME", _NAME,
                             "1-127 letters, digits and inner hyphens (botocore's pattern)")
            if label.endswith("-metadata") or label.endswith("-ref"):
                raise SettingsError("LABEL_ATTRIBUTE_NAME", "must not end with -metadata or -ref")
            job = JobSettings(
                workteam_arn=matching("WORKTEAM_ARN", _WORKTEAM_ARN, "a SageMaker workteam ARN"),
                label_attribute_name=label,
                role_arn=matching("LABELING_ROLE_ARN", _ROLE_ARN, "an IAM role ARN"),
                template_s3_uri=matching("TEMPLATE_S3_URI", _S3_URI, "an s3://bucket/key URI"),
                pre_annotation_lambda_arn=matching("PRE_ANNOTATION_LAMBDA_ARN", _LAMBDA_ARN, "a Lambda function ARN"),
                consolidation_lambda_arn=matching("CONSOLIDATION_LAMBDA_ARN", _LAMBDA_ARN, "a Lambda function ARN"),
                workers_per_object=integer("WORKERS_PER_OBJECT", 1, 9),
                task_time_limit_seconds=integer("TASK_TIME_LIMIT_SECONDS", 30, 28800),
                task_availability_seconds=integer("TASK_AVAILABILITY_SECONDS", 60, MAX_TASK_AVAILABILITY_SECONDS),
                max_concurrent_task_count=integer("MAX_CONCURRENT_TASK_COUNT", 1, 5000,
                                                  default=DEFAULT_MAX_CONCURRENT_TASK_COUNT),
            )
        return cls(
            transcripts_bucket=bucket("TRANSCRIPTS_BUCKET"), ratings_bucket=ratings_bucket,
            ratings_prefix=ratings_prefix, labeling_bucket=bucket("LABELING_BUCKET"),
            window_days=integer("WINDOW_DAYS", 1, MAX_WINDOW_DAYS), budget=integer("BUDGET", 1, MAX_BUDGET),
            strategy=strategy, seed=seed, redact_pii=redact_pii, language_code=language_code,
            job_name_prefix=matching("JOB_NAME_PREFIX", _JOB_PREFIX, "1-47 letters, digits and inner hyphens")
            if environ.get("JOB_NAME_PREFIX", "").strip() else DEFAULT_JOB_NAME_PREFIX,
            job=job,
        )


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
