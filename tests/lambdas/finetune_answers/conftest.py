"""Fixtures for the Bedrock path's answers function: the artifacts bucket under moto with an eval split as
lambdas/finetune_dataset writes it, the function's environment, and the base and custom models' Converse
replies through botocore's Stubber (shapes validated against the service model). The context, `invoke` and
`logs` are tests/conftest.py's."""

from __future__ import annotations

import json
from typing import Any

import pytest

BUCKET = "tandem-artifacts-unit"
DATASET = "datasets/run-31/"
EVALUATION_ID = "run-31"
BASE_MODEL_ID = "amazon.nova-micro-v1:0"
DEPLOYMENT = "arn:aws:bedrock:us-east-1:123456789012:custom-model-deployment/0a1b2c3d4e5f"
SYSTEM = "You are Tandem's support assistant."
# One question at a time, so a Stubber's queued replies meet the calls in order.
ENVIRONMENT = {"ANSWERS_BUCKET": BUCKET, "ANSWERS_PREFIX": "reports/", "BASE_MODEL_ID": BASE_MODEL_ID,
               "CONCURRENCY": "1", "MAX_ANSWER_TOKENS": "300"}


def event(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"evaluation_id": EVALUATION_ID, "eval_uri": f"s3://{BUCKET}/{DATASET}eval/",
                            "tuned_model_id": DEPLOYMENT}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def reward_row(session: int, question: str, rating: float = 5.0) -> dict[str, Any]:
    """An eval reward row as lambdas/common/training_data.py writes it (an eval session may hold several)."""
    return {"prompt": question, "response": f"an answer rated {rating}", "reward": 1.0 if rating >= 4 else -1.0,
            "rating": rating, "session_id": f"s{session}", "turn_id": "t1", "system": SYSTEM}


@pytest.fixture
def aws(aws, set_environment):
    """The artifacts bucket (`aws.put_eval`, `aws.answers_file`), the Bedrock client as a Stubber (`aws.bedrock`)
    and the function's environment."""
    set_environment(ENVIRONMENT)
    aws.create("finetune_artifacts_bucket", BUCKET)
    aws.bedrock = aws.stub("bedrock-runtime", purpose="answering")

    def put_eval(*rows: dict[str, Any]) -> None:
        body = "".join(json.dumps(row) + "\n" for row in rows)
        aws.s3.put_object(Bucket=BUCKET, Key=f"{DATASET}eval/reward.jsonl", Body=body.encode())

    def answers_file() -> list[bytes]:
        body = aws.s3.get_object(Bucket=BUCKET, Key=f"reports/{EVALUATION_ID}/gate_answers.jsonl")["Body"].read()
        return body.splitlines()

    aws.put_eval, aws.answers_file = put_eval, answers_file
    return aws
