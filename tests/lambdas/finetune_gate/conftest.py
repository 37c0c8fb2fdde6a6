"""Fixtures for the evaluation gate: the artifacts bucket under moto (the answers file and metrics.json the
training job leaves, the report the gate writes), the function's environment, and recorded judge replies in
the shape Bedrock Converse answers (docs/AWS-CONTRACTS.md, validated by botocore's Stubber against the
service model). The context, `invoke` and `logs` are tests/conftest.py's."""

from __future__ import annotations

import json
from typing import Any

import pytest

from testing.bedrock_replies import converse_text

BUCKET = "tandem-artifacts-unit"
ANSWERS_KEY = "models/run-1/evaluation/answers.jsonl"
METRICS_KEY = "models/run-1/evaluation/metrics.json"
REPORT_PREFIX = "evaluations/"
EVALUATION_ID = "run-2026-12-01-a"
JUDGE_MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
# One question at a time, so a Stubber's queued replies meet the calls in order.
ENVIRONMENT = {"REPORT_BUCKET": BUCKET, "REPORT_PREFIX": REPORT_PREFIX, "JUDGE_MODEL_ID": JUDGE_MODEL_ID,
               "MIN_QUESTIONS": "4", "JUDGE_CONCURRENCY": "1", "REPORT_SAMPLE_SIZE": "4"}


def event(**changes: Any) -> dict[str, Any]:
    """What the pipeline is to send after training."""
    data: dict[str, Any] = {"evaluation_id": EVALUATION_ID, "answers_uri": f"s3://{BUCKET}/{ANSWERS_KEY}",
                            "metrics_uri": f"s3://{BUCKET}/{METRICS_KEY}"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def answer_line(question_id: str, /, **changes: Any) -> str:
    """One line of the answers file (lambdas/finetune_gate/answers.py); a change to None leaves the field out."""
    data: dict[str, Any] = {"schema_version": 1, "question_id": question_id,
                            "question": f"How do I reset my password? ({question_id})",
                            "base_answer": f"Try turning it off and on. ({question_id})",
                            "tuned_answer": f"Open Settings, then Security, then Reset password. ({question_id})",
                            "system": "You are Tandem's support assistant."}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False)


def verdict(score_a: int, score_b: int, winner: str) -> dict[str, Any]:
    """A judge's reply as Converse returns it: the JSON verdict as the message's text."""
    return converse_text(json.dumps({"score_a": score_a, "score_b": score_b, "winner": winner}))


# Recorded replies for one question, (base_first, tuned_first): in base_first answer B is the tuned model's,
# in tuned_first answer A is.
TUNED_WINS = (verdict(2, 5, "B"), verdict(5, 2, "A"))
BASE_WINS = (verdict(5, 2, "A"), verdict(2, 5, "B"))
BOTH_TIE = (verdict(4, 4, "tie"), verdict(4, 4, "tie"))
POSITION_BIAS = (verdict(4, 3, "A"), verdict(4, 3, "A"))  # "A is better" whichever answer A is: a tie


@pytest.fixture
def aws(aws, set_environment):
    """The artifacts bucket (`aws.put_answers`, `aws.put_metrics`, `aws.report`, `aws.page`, `aws.keys`), the
    judge's Bedrock client as a Stubber (`aws.judge`) and the function's environment."""
    set_environment(ENVIRONMENT)
    aws.create("finetune_artifacts_bucket", BUCKET)
    aws.judge = aws.stub("bedrock-runtime", purpose="judge")

    def put_answers(*lines: str) -> None:
        aws.s3.put_object(Bucket=BUCKET, Key=ANSWERS_KEY, Body="\n".join(lines).encode())

    def put_metrics(metrics: Any) -> None:
        body = metrics if isinstance(metrics, str) else json.dumps(metrics)
        aws.s3.put_object(Bucket=BUCKET, Key=METRICS_KEY, Body=body.encode())

    def read(name: str) -> bytes:
        return aws.s3.get_object(Bucket=BUCKET, Key=f"{REPORT_PREFIX}{EVALUATION_ID}/{name}")["Body"].read()

    def keys() -> list[str]:
        listed = aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=REPORT_PREFIX).get("Contents", [])
        return sorted(entry["Key"] for entry in listed)

    aws.put_answers, aws.put_metrics, aws.keys = put_answers, put_metrics, keys
    aws.report = lambda: json.loads(read("report.json"))
    aws.page = lambda: read("report.html").decode()
    return aws
