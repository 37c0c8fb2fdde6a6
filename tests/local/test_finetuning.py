"""local/finetuning.py: the demo's "Train from the demo's ratings", run for real on the local AWS.

Ratings are given through lambdas/common/rating_batches.py, the code behind the raters' console's rating API,
so the rating records are the files the console writes to the labeling bucket. A run then takes the real
dataset Lambda, the real training job on a tiny randomly initialised T5 (in its own process) and the real
gate Lambda with the stand-in judge; the tests read what each step left in the local artifacts bucket.

Each conversation here holds one rated answer, and the split's hash (seed "tandem", half held out) keeps
conversations 1, 2, 5 and 6 for training and holds out 3, 4, 7 and 8.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdas.common.feedback import LabelingItem, Sampling
from lambdas.common.rating_batches import Rating, RatingBatches
from lambdas.common.rating_files import DEFAULT_PREFIX
from lambdas.finetune_gate.answers import Question
from lambdas.finetune_gate.judge import BASE_FIRST, TUNED_FIRST
from local.finetuning import AlreadyRunning, FineTuningRuns, WordOverlapJudge

GOOD = "Restart the router: hold its reset button for ten seconds, then wait for the lights."
BAD = "I cannot help with that."
QUESTIONS = ("How do I restart my router?", "Why is my internet slow?", "Can I pause my plan?",
             "How do I pay my bill?", "Where is my router's reset button?", "Which plans include TV?",
             "How do I change my wifi password?", "Can I move my plan to a new address?")


@pytest.fixture
def artifacts(local_aws, local_environment) -> str:
    """The artifacts bucket, with the labeling bucket's rating records of earlier tests removed."""
    s3 = local_aws.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=local_aws.names["labeling_bucket"],
                                                             Prefix=DEFAULT_PREFIX):
        for entry in page.get("Contents", []):
            s3.delete_object(Bucket=local_aws.names["labeling_bucket"], Key=entry["Key"])
    return local_aws.names["finetune_artifacts_bucket"]


def rate(local_aws: Any, batch_id: str, ratings: list[int]) -> None:
    """One answer per conversation (conversation-1, -2, ...), rated by one rater as the console rates them: a
    rating batch, then each item taken and rated; each rating becomes a record in the labeling bucket."""
    batches = RatingBatches(table_name=local_aws.names["ratings_table"],
                            ratings_bucket=local_aws.names["labeling_bucket"], ratings_prefix=DEFAULT_PREFIX)
    items = [LabelingItem(source=f"{question}\n{GOOD if value >= 4 else BAD}", session_id=f"conversation-{number}",
                          turn_id="turn-1", question=question, answer=GOOD if value >= 4 else BAD,
                          sampling=Sampling(strategy="uniform", seed=7))
             for number, (question, value) in enumerate(zip(QUESTIONS[:len(ratings)], ratings, strict=True), start=1)]
    batches.create(batch_id, items, ratings_per_item=1, assignment_seconds=600)
    by_question = dict(zip(QUESTIONS[:len(ratings)], ratings, strict=True))
    while (held := batches.next_item(batch_id, "rater-1")) is not None:
        assert batches.rate(batch_id, held.item_id, "rater-1", Rating(value=by_question[held.item.question]))


def read(local_aws: Any, bucket: str, key: str) -> bytes:
    return local_aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def jsonl(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_ratings_become_a_dataset_a_tuned_tiny_model_and_the_gates_report(local_aws, artifacts, tmp_path):
    rate(local_aws, "rated-eight", [5, 1, 5, 1, 4, 2, 5, 1])
    runs = FineTuningRuns(local_aws, tmp_path)

    run_id = runs.start()
    with pytest.raises(AlreadyRunning, match="already going"):
        runs.start()
    runs.wait(120)
    status = runs.status()

    assert status["state"] == "finished", status["error"]
    assert [status["steps"][step]["state"] for step in ("dataset", "training", "gate")] == ["done"] * 3
    # 1. The dataset, from the console's records, in the artifacts bucket.
    train = jsonl(read(local_aws, artifacts, f"datasets/{run_id}/train/reward.jsonl"))
    held_out = jsonl(read(local_aws, artifacts, f"datasets/{run_id}/eval/reward.jsonl"))
    assert sorted(row["session_id"] for row in train) == ["conversation-1", "conversation-2", "conversation-5",
                                                          "conversation-6"]
    assert sorted((row["session_id"], row["rating"]) for row in held_out) == [
        ("conversation-3", 5.0), ("conversation-4", 1.0), ("conversation-7", 5.0), ("conversation-8", 1.0)]
    assert status["dataset"]["counts"]["train"]["reward"] == 4
    # 2. The training job's metrics.json, where SageMaker would put it.
    outputs = f"models/tandem-ft-{run_id}/output/model/"
    metrics = json.loads(read(local_aws, artifacts, f"{outputs}metrics.json"))
    assert metrics["algorithm"] == "reward-pg" and metrics["model"]["model_type"] == "t5"
    assert metrics["rows"] == {"train": 4, "eval": 4} and metrics["training"]["steps"] == 20
    assert metrics["eval"]["before"]["good_rows"] == 2 and metrics["eval"]["before"]["bad_rows"] == 2
    assert metrics["gate_questions"] == 4 and set(metrics["checks"]) >= {"passed", "failures"}
    # 3. The gate's report: every held-out question judged by the stand-in, counted as its scores say.
    answers = [Question(question_id=line["question_id"], question=line["question"], base_answer=line["base_answer"],
                        tuned_answer=line["tuned_answer"])
               for line in jsonl(read(local_aws, artifacts, f"{outputs}gate_answers.jsonl"))]
    expected = {"wins": 0, "losses": 0, "ties": 0}
    for question in answers:
        base, tuned = (WordOverlapJudge.score(question.question, answer)
                       for answer in (question.base_answer, question.tuned_answer))
        expected["wins" if tuned > base else "losses" if base > tuned else "ties"] += 1
    report = json.loads(read(local_aws, artifacts, f"reports/{run_id}/report.json"))
    assert report["judge_model_id"] == WordOverlapJudge.MODEL_ID
    assert {name: report["counts"][name] for name in expected} == expected
    assert report["counts"]["questions"] == 4 and report["thresholds"]["min_questions"] == 1
    assert report["inputs"]["metrics_uri"] == f"s3://{artifacts}/{outputs}metrics.json"
    value = (expected["wins"] + expected["ties"] / 2) / 4
    assert report["win_rate"]["value"] == pytest.approx(value)
    assert status["gate"]["outcome"] == report["decision"]["outcome"]
    assert status["gate"]["win_rate"]["value"] == pytest.approx(value)
    # One of 4 questions can never clear a 0.5 lower bound: refused as not better, whatever the answers.
    assert report["decision"]["outcome"] == "failed"
    assert "not_better" in {reason["code"] for reason in report["decision"]["reasons"]}
    page = runs.report_page(run_id)
    assert page is not None and f"Evaluation gate: {run_id}" in page and WordOverlapJudge.MODEL_ID in page
    assert runs.report_page("demo-unknown") is None


def test_too_few_ratings_stop_at_the_dataset_with_its_message_and_what_is_missing(local_aws, artifacts, tmp_path):
    rate(local_aws, "rated-two", [5, 1])

    status = FineTuningRuns(local_aws, tmp_path).run_now()

    assert status["state"] == "failed"
    assert status["steps"]["dataset"]["state"] == "failed" and status["steps"]["training"]["state"] == "waiting"
    error = status["error"]
    assert (error["step"], error["error"]) == ("dataset", "NotEnoughTrainingData")
    assert error["message"].startswith("the train split has 1 reward rows, fewer than MIN_TRAIN_ROWS=3")
    # conversation-1 is trained on, conversation-2 (the bad answer) held out: 2 more training rows and a
    # well-rated held-out answer are missing.
    assert error["more_ratings_needed"] == {
        "at_least": 3, "train_rows": 2, "held_out_well_rated": 1, "held_out_badly_rated": 0, "ratings": 2,
        "conversations": 2, "advice": error["more_ratings_needed"]["advice"]}
    assert "2 more rated answers" in error["more_ratings_needed"]["advice"]
    report = json.loads(read(local_aws, artifacts, f"datasets/{status['run_id']}/report.json"))
    assert report["records"] == 2 and report["min_train_rows"] == 3


def test_a_training_job_that_cannot_start_is_a_failed_run_with_its_message(local_aws, artifacts, tmp_path):
    rate(local_aws, "rated-eight-again", [5, 1, 5, 1, 4, 2, 5, 1])

    status = FineTuningRuns(local_aws, tmp_path, python=str(tmp_path / "no-python")).run_now()

    assert status["state"] == "failed" and status["steps"]["dataset"]["state"] == "done"
    assert (status["error"]["step"], status["error"]["error"]) == ("training", "FileNotFoundError")
    assert "no-python" in status["error"]["message"]
    assert status["gate"] is None


def test_the_stand_in_judge_prefers_the_answer_sharing_more_words_with_the_question_in_both_orders():
    judge = WordOverlapJudge()
    question = Question(question_id="q1", question="How do I restart my router?",
                        base_answer="", tuned_answer="Restart the router from its menu.")

    assert judge.score(question.question, "") == 1
    assert judge.score(question.question, "how do I restart my router") == 5
    assert [judge.ask(question, order).preferred for order in (BASE_FIRST, TUNED_FIRST)] == ["tuned", "tuned"]
    assert judge.judge(question).outcome == "win"
    assert judge.judge(Question(question_id="q2", question="Why?", base_answer="no", tuned_answer="")).outcome == "tie"
