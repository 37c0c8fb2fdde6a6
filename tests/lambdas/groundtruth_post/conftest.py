"""Fixtures for the post-annotation Lambda: moto S3 holding the job's input manifest
(tests/events/groundtruth_post_input.manifest), Ground Truth's payload files and the objects they point at
(tests/events/groundtruth_post*.json), and the ratings bucket the function writes to; SageMaker's
DescribeLabelingJob, which moto does not implement, answered by a botocore Stubber."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

EVENTS = Path(__file__).resolve().parents[2] / "events"
OUTPUT_BUCKET = "tandem-gt-output-unit"  # Ground Truth's output path: the payload files
INPUT_BUCKET = "tandem-gt-input-unit"  # data objects and answers given by s3Uri
RATINGS_BUCKET = "tandem-ratings-unit"
RATINGS_PREFIX = "ratings/"
JOB = "tandem-ratings-2026-05"
RATINGS_KEY = f"{RATINGS_PREFIX}{JOB}.jsonl"
LABEL = "bot-answer-rating"
ACCOUNT = "111122223333"
MANIFEST = "groundtruth_post_input.manifest"
MANIFEST_KEY = f"manifests/{JOB}.manifest"
MANIFEST_URI = f"s3://{INPUT_BUCKET}/{MANIFEST_KEY}"


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def manifest_lines() -> list[dict[str, Any]]:
    """tests/events/groundtruth_post_input.manifest, line by line."""
    return [json.loads(line) for line in (EVENTS / MANIFEST).read_text(encoding="utf-8").splitlines()]


def described_job(name: str = JOB, manifest_uri: str = MANIFEST_URI) -> dict[str, Any]:
    """A DescribeLabelingJob answer (every member botocore's model requires) for a job reading `manifest_uri`."""
    now = datetime(2026, 5, 4, 10, tzinfo=timezone.utc)
    return {
        "LabelingJobStatus": "InProgress", "CreationTime": now, "LastModifiedTime": now,
        "LabelCounters": {"TotalLabeled": 0, "HumanLabeled": 0, "MachineLabeled": 0, "FailedNonRetryableError": 0,
                          "Unlabeled": 12},
        "JobReferenceCode": "ref", "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}",
        "LabelAttributeName": LABEL,
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": manifest_uri}}},
        "OutputConfig": {"S3OutputPath": f"s3://{OUTPUT_BUCKET}/"},
        "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/tandem-groundtruth-labeling",
        "HumanTaskConfig": {
            "WorkteamArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/raters",
            "UiConfig": {"UiTemplateS3Uri": f"s3://{INPUT_BUCKET}/relevance.liquid.html"},
            "TaskTitle": "Rate", "TaskDescription": "Rate", "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 600},
    }


def expect_describe(stub: Stubber, name: str = JOB, manifest_uri: str = MANIFEST_URI) -> None:
    stub.add_response("describe_labeling_job", described_job(name, manifest_uri), {"LabelingJobName": name})


@pytest.fixture
def aws(aws, set_environment):
    """The job's buckets holding its input manifest and the objects it points at, the ratings bucket, and
    SageMaker as a Stubber (`aws.sagemaker`) that describes the job once."""
    set_environment({"RATINGS_BUCKET": RATINGS_BUCKET, "RATINGS_PREFIX": RATINGS_PREFIX})
    for bucket in (OUTPUT_BUCKET, INPUT_BUCKET, RATINGS_BUCKET):
        aws.create("labeling_bucket", bucket)
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=MANIFEST_KEY, Body=(EVENTS / MANIFEST).read_bytes())
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="items/3.json",
                      Body=(EVENTS / "groundtruth_post_item_3.json").read_bytes())
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key="annotations/2-w2.json",
                      Body=(EVENTS / "groundtruth_post_annotation_2_w2.json").read_bytes())
    aws.sagemaker = aws.stub("sagemaker")
    expect_describe(aws.sagemaker)  # once per execution environment: the answer is kept per job
    return aws


def batch_event(aws, payload: list[dict[str, Any]] | str, *, iteration: int = 1) -> dict[str, Any]:
    """The request of tests/events/groundtruth_post.json for a payload file put in S3 first."""
    event = load("groundtruth_post.json")
    key = f"{JOB}/annotations/consolidated-annotation/consolidation-request/iteration-{iteration}/batch.json"
    body = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    aws.s3.put_object(Bucket=OUTPUT_BUCKET, Key=key, Body=body.encode())
    event["payload"]["s3Uri"] = f"s3://{OUTPUT_BUCKET}/{key}"
    return event


def ratings_lines(aws) -> list[dict[str, Any]]:
    body = aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]
