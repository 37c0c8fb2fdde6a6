"""The evaluation gate's settings, from the environment the stack that deploys it gives the function.

    REPORT_BUCKET               required: the bucket the report is written to
    REPORT_PREFIX               required, may be empty: folders each ending with "/" ("evaluations/"); a
                                report is written under <REPORT_PREFIX><evaluation_id>/
    JUDGE_MODEL_ID              optional (default DEFAULT_JUDGE_MODEL_ID): the Bedrock model, inference profile
                                or ARN that judges (cdk.json finetune_judge_model_id)
    MIN_WIN_RATE_LOWER_BOUND    optional, 0 to 0.99 (default 0.5): the win rate's 95% lower bound must be above
                                it (cdk.json finetune_gate_min_lower_bound)
    MIN_QUESTIONS               optional, 1..1000 (default 30): questions that must be judged
                                (cdk.json finetune_gate_min_questions)
    MAX_JUDGE_FAILURE_SHARE     optional, 0 to 1 (default 0.1): the share of questions the judge may fail on
                                (cdk.json finetune_gate_max_judge_failures)
    MAX_QUESTIONS               optional, 1..1000 (default 300), at least MIN_QUESTIONS: more questions than
                                this are judged on a fixed sample of this many (two calls each; the function's
                                time-out bounds the run)
    REPORT_SAMPLE_SIZE          optional, 0..100 (default 10): questions shown side by side in the report
    JUDGE_CONCURRENCY           optional, 1..16 (default 4): questions judged at once
    JUDGE_MAX_ATTEMPTS          optional, 1..10 (default 4): attempts per judge call, the first included
                                (botocore's standard retries: throttling and transient errors)
    JUDGE_READ_TIMEOUT_SECONDS  optional, 1..300 (default 60): how long one judge call may take to answer

Why the thresholds' defaults are what they are: lambdas/finetune_gate/decision.py. Why the judge's default
is the model it is: docs/evaluation-gate.md. A missing or bad variable fails the invocation with an error
naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import (
    BUCKET,
    MODEL_ID,
    S3_PREFIX,
    EnvSettings,
    SettingsError,
    Variable,
    integer,
    number,
    variable_of,
)
from lambdas.finetune_gate.decision import Thresholds

# Claude Haiku 4.5 through the global inference profile: the model Tandem checked Active on Bedrock (docs/
# external-defaults.md), which takes temperature 0 and answers in every commercial Region. Not the answer
# model's id: once the tuned model is switched in, that id names the model under test.
DEFAULT_JUDGE_MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
DEFAULT_MAX_QUESTIONS = 300
MAX_QUESTIONS_LIMIT = 1000
_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class GateSettings(EnvSettings):
    report_bucket: str = field(metadata=Variable("REPORT_BUCKET", BUCKET))
    report_prefix: str = field(metadata=Variable("REPORT_PREFIX", S3_PREFIX))
    judge_model_id: str = field(default=DEFAULT_JUDGE_MODEL_ID, metadata=Variable("JUDGE_MODEL_ID", MODEL_ID))
    min_lower_bound: float = field(default=_THRESHOLDS.min_lower_bound,
                                   metadata=Variable("MIN_WIN_RATE_LOWER_BOUND", number(0.0, 0.99)))
    min_questions: int = field(default=_THRESHOLDS.min_questions,
                               metadata=Variable("MIN_QUESTIONS", integer(1, MAX_QUESTIONS_LIMIT)))
    max_failure_share: float = field(default=_THRESHOLDS.max_failure_share,
                                     metadata=Variable("MAX_JUDGE_FAILURE_SHARE", number(0.0, 1.0)))
    max_questions: int = field(default=DEFAULT_MAX_QUESTIONS,
                               metadata=Variable("MAX_QUESTIONS", integer(1, MAX_QUESTIONS_LIMIT)))
    sample_size: int = field(default=10, metadata=Variable("REPORT_SAMPLE_SIZE", integer(0, 100)))
    judge_concurrency: int = field(default=4, metadata=Variable("JUDGE_CONCURRENCY", integer(1, 16)))
    judge_max_attempts: int = field(default=4, metadata=Variable("JUDGE_MAX_ATTEMPTS", integer(1, 10)))
    judge_read_timeout_seconds: int = field(default=60,
                                            metadata=Variable("JUDGE_READ_TIMEOUT_SECONDS", integer(1, 300)))
    thresholds: Thresholds = field(init=False, repr=False)  # the three above, as the decision takes them

    def __post_init__(self) -> None:
        if self.min_questions > self.max_questions:  # the gate could never judge enough questions
            low, high = (variable_of(GateSettings, f).name for f in ("min_questions", "max_questions"))
            raise SettingsError(low, f"must be at most {high} ({self.min_questions} > {self.max_questions})")
        thresholds = Thresholds(min_lower_bound=self.min_lower_bound, min_questions=self.min_questions,
                                max_failure_share=self.max_failure_share)
        object.__setattr__(self, "thresholds", thresholds)  # a frozen dataclass sets its derived field this way
