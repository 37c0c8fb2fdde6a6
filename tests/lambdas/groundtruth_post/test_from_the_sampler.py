"""The whole Ground Truth path built exactly as Ground Truth would run it, from the sampler's own manifest.

1. the real sampler (lambdas/feedback_sampler) reads transcripts in moto S3, writes the input manifest and
   starts the labeling job (CreateLabelingJob through a Stubber: moto has no labeling jobs);
2. Ground Truth, played by the test, hands each manifest line whole to the real pre-annotation handler;
3. workers answer the template: {"relevance": {"label": "4"}, "comment": "..."} as a JSON string;
4. the consolidation payload carries, per data object, only `{"content": <the line's source>}` and a
   datasetObjectId string (the documented shape), and the real post-annotation handler finds each item in
   the manifest the job was created with (DescribeLabelingJob answers with the ManifestS3Uri the sampler
   sent to CreateLabelingJob).
The rating records must match the manifest's items one to one.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from lambdas.common.transcript import Transcript, Turn
from lambdas.feedback_sampler import handler as sampler_handler
from lambdas.groundtruth_post import handler as post_handler
from lambdas.groundtruth_pre import handler as pre_handler
from local.lambda_context import lambda_context
from tests.lambdas.feedback_sampler.helpers import iso, transcript_key
from tests.lambdas.groundtruth_post.conftest import described_job

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

ACCOUNT = "123456789012"
TRANSCRIPTS, LABELING = "tandem-transcripts-gt", "tandem-labeling-gt"
LABEL = "relevance"
NOW = datetime(2026, 6, 1, 3, 0, 0, tzinfo=timezone.utc)
JOB = "tandem-feedback-20260601-030000"  # the sampler's name for a run at NOW
JOB_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{JOB}"
WORKERS = [f"private.us-east-1.WORKER{n}" for n in range(3)]
# (question, answer) per session; two sessions asked the same thing and got the same answer, so only
# the manifest's reference line tells their lines apart.
CONVERSATIONS = [
    ("How do I reset my password?", "Open Settings, then Security, and choose Reset password."),
    ("How do I reset my password?", "Open Settings, then Security, and choose Reset password."),
    ("Où est ma facture ? <b>urgent</b>", "Dans « Mon compte » → Factures. 请查看 😀"),
    ("Can I pay by card?", "Yes, every major card."),
    ("Do you ship on Sundays?", "No, Monday to Saturday."),
]


def environment() -> dict[str, str]:
    """What stacks/feedback_stack.py gives the sampler and the two Ground Truth Lambdas."""
    return {
        "TRANSCRIPTS_BUCKET": TRANSCRIPTS, "RATINGS_BUCKET": LABELING, "RATINGS_PREFIX": "ratings/",
        "LABELING_BUCKET": LABELING, "WINDOW_DAYS": "7", "BUDGET": "100", "STRATEGY": "random", "SEED": "7",
        "REDACT_PII": "false", "WORKTEAM_ARN": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/raters",
        "LABEL_ATTRIBUTE_NAME": LABEL, "LABELING_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/tandem-labeling",
        "TEMPLATE_S3_URI": f"s3://{LABELING}/templates/relevance.liquid.html",
        "PRE_ANNOTATION_LAMBDA_ARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tandem-gt-pre",
        "CONSOLIDATION_LAMBDA_ARN": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tandem-gt-post",
        "WORKERS_PER_OBJECT": "3", "TASK_TIME_LIMIT_SECONDS": "600", "TASK_AVAILABILITY_SECONDS": "864000",
    }


@pytest.fixture
def world(aws, set_environment, monkeypatch):
    set_environment(environment())
    monkeypatch.setattr(sampler_handler, "_now", lambda: NOW)
    aws.create("transcripts_bucket", TRANSCRIPTS)
    aws.create("labeling_bucket", LABELING)
    aws.sagemaker = aws.stub("sagemaker")  # its own: the folder's `aws` expects another job to be described
    return aws


def store_transcripts(s3) -> dict[tuple[str, str], tuple[str, str]]:
    """One conversation per session; returns (session_id, bot turn_id) -> (question, answer)."""
    expected = {}
    for n, (question, answer) in enumerate(CONVERSATIONS):
        start = NOW - timedelta(hours=n + 1)
        session_id = f"0f6c1d9e-2b7a-4c55-9e31-a8d4f2b6c7{n:02d}"
        turns = [Turn(role="customer", text=question, turn_id=f"c-{n}", created_at=iso(start)),
                 Turn(role="bot", text=answer, turn_id=f"b-{n}", created_at=iso(start + timedelta(seconds=2)),
                      reply_to=f"c-{n}")]
        transcript = Transcript(session_id=session_id, started_at=iso(start), updated_at=turns[-1].created_at,
                                turns=turns)
        s3.put_object(Bucket=TRANSCRIPTS, Key=transcript_key(session_id, transcript.started_at),
                      Body=json.dumps(transcript.to_dict(), ensure_ascii=False).encode())
        expected[(session_id, f"b-{n}")] = (question, answer)
    return expected


def start_job(world) -> list[dict]:
    """The sampler's run: returns the manifest's lines, and makes SageMaker remember the job's input."""
    created = {}
    world.sagemaker.client.meta.events.register(
        "provide-client-params.sagemaker.CreateLabelingJob", lambda params, **_: created.update(params))
    world.sagemaker.add_response("create_labeling_job", {"LabelingJobArn": JOB_ARN})
    sampler_handler.dependencies.reset()
    summary = sampler_handler.handler({"budget": 100, "strategy": "random", "seed": 7}, lambda_context("sampler"))
    assert summary["started"] is True and summary["job_name"] == JOB
    manifest_uri = created["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]
    world.sagemaker.add_response("describe_labeling_job", described_job(JOB, manifest_uri), {"LabelingJobName": JOB})
    bucket, key = manifest_uri.removeprefix("s3://").split("/", 1)
    body = world.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines()]


def rating_of(index: int) -> str:
    return str(1 + index % 5)


def test_the_sampler_manifest_goes_through_ground_truth_to_one_record_per_item(world):
    expected = store_transcripts(world.s3)
    manifest = start_job(world)
    assert {(line["session_id"], line["turn_id"]) for line in manifest} == set(expected)

    payload = []
    for index, line in enumerate(manifest):
        task = pre_handler.handler({"version": "2018-10-16", "labelingJobArn": JOB_ARN, "dataObject": line},
                                   lambda_context("gt-pre"))
        assert task["isHumanAnnotationRequired"] is True
        assert (task["taskInput"]["question"], task["taskInput"]["answer"]) == (line["question"], line["answer"])
        answers = [json.dumps({LABEL: {"label": rating_of(index)}, "comment": f"worker {w} on item {index}"})
                   for w in range(len(WORKERS))]
        payload.append({"datasetObjectId": str(index), "dataObject": {"content": line["source"]},
                        "annotations": [{"workerId": worker, "annotationData": {"content": answer}}
                                        for worker, answer in zip(WORKERS, answers, strict=True)]})
    key = f"output/{JOB}/annotations/consolidated-annotation/consolidation-request/iteration-1/batch.json"
    world.s3.put_object(Bucket=LABELING, Key=key, Body=json.dumps(payload, ensure_ascii=False).encode())

    response = post_handler.handler({
        "version": "2018-10-16", "labelingJobArn": JOB_ARN, "labelCategories": None, "labelAttributeName": LABEL,
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/tandem-labeling", "payload": {"s3Uri": f"s3://{LABELING}/{key}"},
    }, lambda_context("gt-post"))

    assert [e["datasetObjectId"] for e in response] == [str(i) for i in range(len(manifest))]
    assert [e["consolidatedAnnotation"]["content"][LABEL].get("error") for e in response] == [None] * len(manifest)
    body = world.s3.get_object(Bucket=LABELING, Key=f"ratings/{JOB}.jsonl")["Body"].read().decode("utf-8")
    records = {(r["session_id"], r["turn_id"]): r for r in map(json.loads, body.splitlines())}
    assert len(records) == len(manifest) == len(expected)
    for index, line in enumerate(manifest):
        record = records[(line["session_id"], line["turn_id"])]
        assert (record["question"], record["answer"]) == expected[(line["session_id"], line["turn_id"])]
        assert record["rating"] == float(rating_of(index)) and record["labeling_job"] == JOB
        assert [(r["worker_id"], r["value"], r["comment"]) for r in record["ratings"]] == [
            (worker, int(rating_of(index)), f"worker {w} on item {index}") for w, worker in enumerate(WORKERS)]
    world.sagemaker.assert_no_pending_responses()
