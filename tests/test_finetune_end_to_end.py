"""The offline loop end to end, in one process under one moto mock: conversations become a model update.

1. customers chat with the real chatbot handler (Bedrock stubbed): half of the questions get a good answer
   (it names the steps to take), half a bad one (a vague brush-off); every turn lands in the table, and the
   outbox (the stream consumer) writes the transcripts;
2. the real feedback sampler picks the bot answers of the window into a Ground Truth input manifest;
3. Ground Truth is played by the test: each manifest line goes through the real pre-annotation handler,
   three experts' answers (5 for a good answer, 1 for a bad one) go through the real post-annotation handler
   in Ground Truth's documented request and payload shapes (a data object is the line's `source`, nothing
   else), which finds each item in the job's input manifest and writes the job's rating records;
4. the real dataset Lambda turns the rating records into train/eval rows;
5. the training job (training/) runs a few reward-pg steps on a tiny, randomly initialised T5 built here
   from a small config (a simulation: the real job runs on SageMaker with Flan-T5 XL), writes its adapter,
   merged model and metrics.

What crosses each boundary is what the next stage reads in AWS: S3 objects in the formats of
docs/ARCHITECTURE.md, the Lambda events of docs/AWS-CONTRACTS.md. Only Bedrock and SageMaker's DescribeLabelingJob
(Stubbers: moto has no labeling jobs) and Ground Truth's workers (the test) are stand-ins. Session ids come
from a seeded generator (the chatbot's are random), so the train/eval split is the same in every run; the
assertions hold for any split.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.chatbot import service as chatbot_service
from lambdas.common import clients
from lambdas.common.training_data import read_rows
from lambdas.feedback_sampler import handler as sampler_handler
from lambdas.finetune_dataset import handler as dataset_handler
from lambdas.groundtruth_post import handler as post_handler
from lambdas.groundtruth_pre import handler as pre_handler
from local.tiny_models import build_tokenizer, save_tiny_t5
from stacks.config import TandemConfig
from testing.outbox import Outbox
from tests.end_to_end_helpers import RATINGS_TABLE, Bedrock, Customer, lambda_context, stack_environment
from tests.lambdas.escalation_worker.conftest import TABLE
from tests.lambdas.groundtruth_post.conftest import described_job
from tests.statemachines import conftest as workflow
from training import data as training_data
from training import job
from training.config import Hyperparameters

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")
flow, moto_config = workflow.flow, workflow.moto_config  # the escalation workflow's world, executed by moto

LABELING = "tandem-labeling-e2e"
RATINGS_PREFIX = "ratings/"
DATASETS_PREFIX = "datasets/"
LABEL = "relevance"
JOB = "tandem-feedback-e2e"
JOB_ARN = f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{JOB}"
WORKERS = [f"private.us-east-1.EXPERT{n}" for n in range(3)]
TOPICS = ("password", "invoice", "delivery", "refund", "account", "order", "card", "plan")
GOOD = "To change your {topic}, open Settings, choose {topic}, then follow the steps on the screen."
BAD = "Not sure. Maybe ask someone else about your {topic}."
CONVERSATIONS = 16  # eight good answers and eight bad ones


@pytest.fixture
def world(flow, aws, set_environment, monkeypatch):
    config = TandemConfig(sentiment_detector="vader")  # offline gate: no Comprehend call per turn
    flow.outbox = Outbox(TABLE)
    aws.create("labeling_bucket", LABELING)
    # As deployed without a workteam, the sampler also makes the sample a rating batch; Ground Truth is played
    # from its manifest below.
    aws.create("ratings_table", RATINGS_TABLE)
    bedrock = Bedrock(aws)
    environment = stack_environment(config, flow=flow, state_machine_arn=flow.state_machine(
        accept_seconds=900, resolve_seconds=3600))
    environment.update({
        # stacks/feedback_stack.py: the sampler and both Ground Truth Lambdas
        "RATINGS_BUCKET": LABELING, "RATINGS_PREFIX": RATINGS_PREFIX, "LABELING_BUCKET": LABELING,
        "WINDOW_DAYS": "1", "BUDGET": "100", "STRATEGY": "random", "SEED": "7", "REDACT_PII": "false",
        # stacks/finetune_stack.py: the dataset Lambda
        "DATASET_BUCKET": LABELING, "DATASET_PREFIX": DATASETS_PREFIX, "EVAL_FRACTION": "0.25",
        "MIN_TRAIN_ROWS": "2", "SPLIT_SEED": "e2e",
        # Sixteen conversations hold out about four answers: under the default minimum of held-out answers
        # (10 well-rated and 10 badly rated), which this walk through the loop does not test.
        "MIN_EVAL_ROWS": "0",
    })
    set_environment(environment)
    ids = random.Random(7)
    monkeypatch.setattr(chatbot_service, "new_id", lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4)))
    return SimpleNamespace(flow=flow, s3=flow.s3, bedrock=bedrock, monkeypatch=monkeypatch, config=config)


def chat(world) -> dict[str, bool]:
    """Each customer asks one question; returns answer text -> whether it was the good one."""
    answers = {}
    for n in range(CONVERSATIONS):
        topic = TOPICS[n % len(TOPICS)]
        good = n % 2 == 0
        answer = (GOOD if good else BAD).format(topic=topic)
        world.bedrock.will_answer(answer)
        reply = Customer(sub=f"customer-{n:04d}").says(f"How do I change my {topic}? (customer {n})")
        assert reply["reply"] == answer and reply["escalated"] is False
        answers[answer] = good
    world.bedrock.assert_all_used()
    world.flow.outbox.drain()  # the outbox writes the transcripts the sampler reads
    return answers


def sample(world) -> list[dict]:
    # The sampler's window ends at its start time, to the second; a run a minute after the chats sees them.
    later = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)
    world.monkeypatch.setattr(sampler_handler, "_now", lambda: later)
    sampler_handler.dependencies.reset()
    summary = sampler_handler.handler({"budget": 100, "strategy": "random", "seed": 7}, lambda_context("sampler"))
    manifest = [o["Key"] for o in world.s3.list_objects_v2(Bucket=LABELING, Prefix="manifests/")["Contents"]]
    assert summary["items"] == CONVERSATIONS and len(manifest) == 1
    world.manifest_uri = f"s3://{LABELING}/{manifest[0]}"  # what the job would be created with
    body = world.s3.get_object(Bucket=LABELING, Key=manifest[0])["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def label(world, manifest: list[dict], answers: dict[str, bool]) -> None:
    """Ground Truth: the pre-annotation Lambda per object, the workers' answers, then one consolidation batch."""
    payload = []
    for index, line in enumerate(manifest):
        task = pre_handler.handler({"version": "2018-10-16", "labelingJobArn": JOB_ARN, "dataObject": line},
                                   lambda_context("gt-pre"))
        assert task["isHumanAnnotationRequired"] is True
        assert task["taskInput"]["answer"] == line["answer"]
        value = "5" if answers[line["answer"]] else "1"
        payload.append({"datasetObjectId": str(index), "dataObject": {"content": line["source"]},
                        "annotations": [{"workerId": worker, "annotationData": {
                            "content": json.dumps({LABEL: {"label": value}})}} for worker in WORKERS]})
    key = f"{JOB}/annotations/consolidated-annotation/consolidation-request/iteration-1/batch.json"
    world.s3.put_object(Bucket=LABELING, Key=f"output/{key}", Body=json.dumps(payload).encode())
    sagemaker = Stubber(boto3.client("sagemaker"))
    sagemaker.add_response("describe_labeling_job", described_job(JOB, world.manifest_uri), {"LabelingJobName": JOB})
    sagemaker.activate()
    clients.set_client("sagemaker", sagemaker.client)
    post_handler.dependencies.reset()  # the function's clients are made at its first call, with this one
    response = post_handler.handler({
        "version": "2018-10-16", "labelingJobArn": JOB_ARN, "labelCategories": None, "labelAttributeName": LABEL,
        "roleArn": "arn:aws:iam::123456789012:role/tandem-labeling",
        "payload": {"s3Uri": f"s3://{LABELING}/output/{key}"}, "outputConfig": None, "kmsKeyId": None,
    }, lambda_context("gt-post"))
    assert len(response) == CONVERSATIONS
    sagemaker.assert_no_pending_responses()
    sagemaker.deactivate()


def rating_records(world) -> list[dict]:
    body = world.s3.get_object(Bucket=LABELING, Key=f"{RATINGS_PREFIX}{JOB}.jsonl")["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines()]


def build_dataset(world) -> dict:
    result = dataset_handler.handler({"dataset_id": "e2e-1"}, lambda_context("dataset"))
    assert result["train_uri"] == f"s3://{LABELING}/{DATASETS_PREFIX}e2e-1/train/" and result["bad_rows"] == 0
    return result


def rows(world, uri: str, kind: str) -> list[dict]:
    key = uri.removeprefix(f"s3://{LABELING}/") + f"{kind}.jsonl"
    body = world.s3.get_object(Bucket=LABELING, Key=key)["Body"].iter_lines()
    return read_rows(body, kind, key)


def download(world, uri: str, folder):
    """What SageMaker does for an S3Prefix channel: every object under the prefix, into the channel's folder."""
    prefix = uri.removeprefix(f"s3://{LABELING}/")
    folder.mkdir(parents=True)
    for item in world.s3.list_objects_v2(Bucket=LABELING, Prefix=prefix)["Contents"]:
        world.s3.download_file(LABELING, item["Key"], str(folder / item["Key"].removeprefix(prefix)))
    return folder


def test_rated_conversations_become_training_rows_and_a_tuned_adapter(world, tmp_path):
    answers = chat(world)
    manifest = sample(world)
    assert {line["answer"] for line in manifest} == set(answers)
    label(world, manifest, answers)
    records = rating_records(world)
    assert sorted(r["rating"] for r in records) == [1.0] * 8 + [5.0] * 8
    assert all(r["agreement"] == 1.0 and r["source"] == "groundtruth" for r in records)

    dataset = build_dataset(world)
    train, held_out = rows(world, dataset["train_uri"], "reward"), rows(world, dataset["eval_uri"], "reward")
    assert len(train) + len(held_out) == CONVERSATIONS and held_out
    assert not {r["session_id"] for r in train} & {r["session_id"] for r in held_out}
    by_answer = {r["response"]: r["reward"] for r in train + held_out}
    assert by_answer == {answer: 1.0 if good else -1.0 for answer, good in answers.items()}
    kto = rows(world, dataset["train_uri"], "kto")
    assert {r["completion"]: r["label"] for r in kto} == {r["response"]: r["reward"] > 0 for r in train}

    # The training job, on the channels as SageMaker lays them out (a tiny simulated T5, a few steps).
    channels = tmp_path / "input" / "data"
    train_dir = download(world, dataset["train_uri"], channels / "train")
    eval_dir = download(world, dataset["eval_uri"], channels / "eval")
    texts = [text for row in train + held_out for text in (row["prompt"], row["response"])]
    model = save_tiny_t5(build_tokenizer(texts), tmp_path / "base-model")
    hparams = Hyperparameters(algorithm="reward-pg", model_name_or_path=model, load_in_8bit=False,
                              learning_rate=5e-3, batch_size=4, mini_batch_size=2, lora_r=8, lora_alpha=8, seed=7)
    output = tmp_path / "model"
    metrics = job.run(hparams, training_data.load(train_dir, eval_dir, hparams.algorithm), output, max_steps=3)
    assert metrics["training"]["steps"] == 3 and metrics["rows"] == {"train": len(train), "eval": len(held_out)}
    assert all(-1.0 <= entry["reward/mean"] <= 1.0 and math.isfinite(entry["loss"]) for entry in metrics["history"])
    # Three steps prove nothing about learning (tests/training does); they must have moved the model. The
    # held-out sessions may all have good (or all bad) answers, so compare what was measured.
    before, after = metrics["eval"]["before"], metrics["eval"]["after"]
    measured = [k for k in ("good_mean_logprob", "bad_mean_logprob") if before[k] is not None]
    assert measured and all(after[k] != before[k] for k in measured)
    assert metrics["eval"]["before"]["good_rows"] + metrics["eval"]["before"]["bad_rows"] == len(held_out)
    assert (output / "adapter" / "adapter_config.json").is_file()
    assert {"config.json", "model.safetensors"} <= {p.name for p in (output / "merged").iterdir()}
    assert json.loads((output / "metrics.json").read_text())["training"]["steps"] == 3
