"""The answers function's settings, from the environment stacks/finetune_stack.py gives it.

    ANSWERS_BUCKET          required: the bucket the answers file is written to
    ANSWERS_PREFIX          required, may be empty: folders each ending with "/"; the file is written as
                            <ANSWERS_PREFIX><evaluation_id>/gate_answers.jsonl, beside the gate's report
    BASE_MODEL_ID           required: the base model as Converse takes it (stacks/bedrock_customization.py
                            invoke_id), answering for the comparison
    MAX_QUESTIONS           optional, 1..1000 (default 100): held-out questions answered, the first distinct
                            ones of the eval split (the training job's gate_questions, for the same reason)
    MAX_ANSWER_TOKENS       optional, 1..8192 (default 512): the longest answer either model may give
    MAX_FAILURE_SHARE       optional, 0 to 1 (default 0.1): the share of questions that may go unanswered
                            (an AWS error on either model after retries) before the run is refused as
                            AnswersUnavailable (cdk.json finetune_gate_max_judge_failures, the gate's own share)
    CONCURRENCY             optional, 1..16 (default 4): questions answered at once
    MAX_ATTEMPTS            optional, 1..10 (default 5): attempts per Converse call, the first included
                            (botocore's standard retries, which retry a custom model's ModelNotReadyException
                            while Bedrock loads it)
    READ_TIMEOUT_SECONDS    optional, 1..300 (default 120): how long one answer may take
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import BUCKET, MODEL_ID, S3_PREFIX, EnvSettings, Variable, integer, number


@dataclass(frozen=True)
class AnswersSettings(EnvSettings):
    answers_bucket: str = field(metadata=Variable("ANSWERS_BUCKET", BUCKET))
    answers_prefix: str = field(metadata=Variable("ANSWERS_PREFIX", S3_PREFIX))
    base_model_id: str = field(metadata=Variable("BASE_MODEL_ID", MODEL_ID))
    max_questions: int = field(default=100, metadata=Variable("MAX_QUESTIONS", integer(1, 1000)))
    max_answer_tokens: int = field(default=512, metadata=Variable("MAX_ANSWER_TOKENS", integer(1, 8192)))
    max_failure_share: float = field(default=0.1, metadata=Variable("MAX_FAILURE_SHARE", number(0.0, 1.0)))
    concurrency: int = field(default=4, metadata=Variable("CONCURRENCY", integer(1, 16)))
    max_attempts: int = field(default=5, metadata=Variable("MAX_ATTEMPTS", integer(1, 10)))
    read_timeout_seconds: int = field(default=120, metadata=Variable("READ_TIMEOUT_SECONDS", integer(1, 300)))
