"""The dataset Lambda under moto: rating records in the labeling bucket become the dataset's files in the
layout the fine-tuning pipeline reads, with a report; too little data, a bad request and a bad environment
fail with errors that name the problem."""

from __future__ import annotations

import json

import pytest

from lambdas.common.env_settings import SettingsError
from lambdas.common.training_data import read_rows
from lambdas.finetune_dataset.handler import InvalidRequest, NotEnoughTrainingData
from tests.lambdas.finetune_dataset.conftest import (
    DATASET_BUCKET,
    DATASET_ID,
    DATASET_PREFIX,
    RATINGS_BUCKET,
    RATINGS_PREFIX,
    event,
    rating_line,
)

BASE = f"{DATASET_PREFIX}{DATASET_ID}/"
URI = f"s3://{DATASET_BUCKET}/{BASE}"
ROW_FILES = ["bedrock-conversation/train.jsonl", "bedrock-conversation/validation.jsonl", "bedrock/train.jsonl",
             "bedrock/validation.jsonl", "eval/kto.jsonl", "eval/reward.jsonl", "train/kto.jsonl",
             "train/reward.jsonl"]
RATINGS = [1, 2, 3, 4, 5]


def sessions(count: int, prefix: str = "s") -> list[str]:
    """`count` sessions of five turns, rated 1 to 5."""
    return [rating_line(f"{prefix}{i}", f"t{rating}", rating) for i in range(count) for rating in RATINGS]


def jsonl(aws, name: str) -> list[dict]:
    return [json.loads(line) for line in aws.read(f"{BASE}{name}").decode().splitlines()]


def report(aws) -> dict:
    return json.loads(aws.read(f"{BASE}report.json"))


# A dataset ------------------------------------------------------------------------------------------------

def test_every_file_is_written_in_the_layout_and_the_uris_are_returned(aws, invoke):
    aws.put_ratings("tandem-feedback-1.jsonl", *sessions(8))

    result = invoke(event())

    assert aws.keys() == sorted(f"{BASE}{name}" for name in [*ROW_FILES, "report.json"])
    assert {k: result[k] for k in ("dataset_id", "dataset_uri", "train_uri", "eval_uri", "report_uri")} == {
        "dataset_id": DATASET_ID, "dataset_uri": URI, "train_uri": f"{URI}train/", "eval_uri": f"{URI}eval/",
        "report_uri": f"{URI}report.json"}
    assert set(result) == {"dataset_id", "dataset_uri", "train_uri", "eval_uri", "report_uri", "counts", "bad_rows"}


def test_the_customers_thumbs_under_thumbs_are_kto_rows_reported_apart(aws, invoke, monkeypatch):
    monkeypatch.setenv("THUMBS_WEIGHT", "0.3")
    aws.put_ratings("tandem-feedback-1.jsonl", *sessions(8))
    thumbs = [json.dumps({"schema_version": 1, "session_id": f"s{i}", "turn_id": "t9", "question": f"Q{i}?",
                          "answer": f"A{i}.", "thumb": "down", "given_at": "2026-03-09T10:00:00Z", "source": "thumbs"})
              for i in range(8)]
    aws.s3.put_object(Bucket=RATINGS_BUCKET, Key="thumbs/tandem-feedback-20260310-020000.jsonl",
                      Body=("\n".join([*thumbs, "not json"]) + "\n").encode())

    invoke(event())

    kto = jsonl(aws, "train/kto.jsonl") + jsonl(aws, "eval/kto.jsonl")
    from_thumbs = [row for row in kto if row["source"] == "thumbs"]
    assert len(from_thumbs) == 8 and {(r["label"], r["weight"]) for r in from_thumbs} == {(False, 0.3)}
    assert all(row["weight"] == 1.0 for row in kto if row["source"] == "groundtruth")
    written = report(aws)
    assert written["thumbs_objects_read"] == 1 and written["records"] == 40  # the rating records alone
    assert written["thumbs"]["used"] == 8
    assert written["thumbs"]["bad_rows"]["by_reason"] == {
        "invalid_json": {"count": 1, "examples": ["thumbs/tandem-feedback-20260310-020000.jsonl:9"]}}
    assert sum(split["kto_by_source"]["thumbs"]["kto_false"] for split in written["splits"].values()) == 8


def test_the_training_files_are_read_back_by_the_training_reader(aws, invoke):
    aws.put_ratings("tandem-feedback-1.jsonl", *sessions(8))

    result = invoke(event())

    counts = result["counts"]
    for split in ("train", "eval"):
        reward = read_rows(aws.read(f"{BASE}{split}/reward.jsonl").splitlines(), "reward", f"{split}/reward.jsonl")
        kto = read_rows(aws.read(f"{BASE}{split}/kto.jsonl").splitlines(), "kto", f"{split}/kto.jsonl")
        assert len(reward) == counts[split]["reward"] == 5 * counts[split]["sessions"]
        assert len(kto) == counts[split]["kto"] == 4 * counts[split]["sessions"]  # the 3s are not in KTO
    assert counts["train"]["sessions"] + counts["eval"]["sessions"] == 8
    assert counts["eval"]["sessions"] >= 1 and counts["records"] == 40
    train_sessions = {row["session_id"] for row in jsonl(aws, "train/reward.jsonl")}
    assert not train_sessions & {row["session_id"] for row in jsonl(aws, "eval/reward.jsonl")}


def test_the_bedrock_files_hold_the_well_rated_answers_in_both_schemas(aws, invoke):
    aws.put_ratings("tandem-feedback-1.jsonl", *sessions(8))

    result = invoke(event())

    train = jsonl(aws, "bedrock/train.jsonl")
    assert len(train) == 2 * result["counts"]["train"]["sessions"]  # ratings 4 and 5
    assert all(set(row) == {"prompt", "completion"} for row in train)
    validation = jsonl(aws, "bedrock-conversation/validation.jsonl")
    assert len(validation) == 2 * result["counts"]["eval"]["sessions"]
    assert validation[0]["schemaVersion"] == "bedrock-conversation-2024"
    assert validation[0]["system"] == [{"text": "You are Tandem's support assistant."}]
    assert [m["role"] for m in validation[0]["messages"]] == ["user", "assistant"]


def test_the_report_counts_bad_rows_by_reason_with_their_locations(aws, invoke):
    aws.put_ratings("a.jsonl", *sessions(4), "not json", rating_line("x", "y", 9))
    aws.put_ratings("b.jsonl", rating_line("z", "t", 4, answer=""), rating_line("s0", "t1", 5))
    aws.s3.put_object(Bucket=RATINGS_BUCKET, Key=f"{RATINGS_PREFIX}notes.txt", Body=b"not a ratings file")
    aws.s3.put_object(Bucket=RATINGS_BUCKET, Key="elsewhere/c.jsonl", Body=rating_line("q", "q").encode())

    result = invoke(event())

    written = report(aws)
    assert written["bad_rows"]["by_reason"] == {
        "invalid_json": {"count": 1, "examples": ["ratings/a.jsonl:21"]},
        "invalid_rating": {"count": 1, "examples": ["ratings/a.jsonl:22"]},
        "empty_text": {"count": 1, "examples": ["ratings/b.jsonl:1"]},
        "duplicate": {"count": 1, "examples": ["ratings/a.jsonl:1"]}}
    assert result["bad_rows"] == written["bad_rows"]["total"] == 4
    assert (written["objects_read"], written["objects_skipped"]) == (2, 1)
    assert written["records"] == result["counts"]["records"] == 20
    assert written["dataset_id"] == DATASET_ID
    assert written["ratings_uri"] == f"s3://{RATINGS_BUCKET}/{RATINGS_PREFIX}"
    assert written["splits"]["train"] == result["counts"]["train"]
    assert written["options"]["good_min_rating"] == 4.0 and written["options"]["eval_fraction"] == 0.25


def test_the_later_key_wins_whatever_the_upload_order(aws, invoke):
    aws.put_ratings("job-2.jsonl", rating_line("s0", "t1", 5, answer="the corrected answer"))
    aws.put_ratings("job-1.jsonl", *sessions(4))

    invoke(event())

    rows = jsonl(aws, "train/reward.jsonl") + jsonl(aws, "eval/reward.jsonl")
    (row,) = [r for r in rows if (r["session_id"], r["turn_id"]) == ("s0", "t1")]
    assert (row["rating"], row["response"]) == (5.0, "the corrected answer")
    assert report(aws)["bad_rows"]["by_reason"]["duplicate"]["examples"] == ["ratings/job-1.jsonl:1"]


def test_the_options_come_from_the_environment(aws, invoke, monkeypatch):
    monkeypatch.setenv("WEIGHT_BY_AGREEMENT", "TRUE")
    monkeypatch.setenv("GOOD_MIN_RATING", "5")
    monkeypatch.setenv("EVAL_FRACTION", "0")
    monkeypatch.setenv("SYSTEM_PROMPT", "")
    aws.put_ratings("a.jsonl", *[rating_line(f"s{i}", "t", 5, agreement=0.5) for i in range(4)])

    result = invoke(event())

    assert {row["reward"] for row in jsonl(aws, "train/reward.jsonl")} == {0.5}
    assert result["counts"]["eval"]["reward"] == 0
    assert all("system" not in row for row in jsonl(aws, "bedrock-conversation/train.jsonl"))


def test_an_invocation_again_with_the_same_id_writes_the_same_files(aws, invoke):
    aws.put_ratings("a.jsonl", *sessions(6))
    first = invoke(event())
    before = {key: aws.read(key) for key in aws.keys()}

    assert invoke(event()) == first
    assert {key: aws.read(key) for key in aws.keys()} == before


def test_more_than_a_page_of_rating_files_is_read(aws, invoke, monkeypatch):
    monkeypatch.setenv("MIN_TRAIN_ROWS", "1")
    for i in range(1005):
        aws.put_ratings(f"part-{i:04d}.jsonl", rating_line(f"s{i}", "t", 4))

    result = invoke(event())

    assert result["counts"]["records"] == 1005
    assert report(aws)["objects_read"] == 1005


def test_logs_carry_counts_and_ids_but_no_customer_text(aws, invoke, logs):
    aws.put_ratings("a.jsonl", *sessions(4))

    invoke(event())

    (entry,) = logs.entries("dataset written")
    assert entry["dataset_id"] == DATASET_ID
    assert entry["records"] == 20 and entry["bad_rows"] == 0
    assert "password" not in logs.text and "Settings, then Security" not in logs.text


# Not enough data ----------------------------------------------------------------------------------------

def test_too_few_training_rows_stop_the_pipeline_naming_the_counts(aws, invoke, monkeypatch):
    monkeypatch.setenv("MIN_TRAIN_ROWS", "500")
    aws.put_ratings("a.jsonl", *sessions(4), "garbage")

    with pytest.raises(NotEnoughTrainingData, match=r"train split has \d+ reward rows, fewer than "
                                                    r"MIN_TRAIN_ROWS=500 \(20 records accepted, .* 1 bad rows"):
        invoke(event())

    assert aws.keys() == [f"{BASE}report.json"]  # the reason can be read; no row files to train on
    assert report(aws)["min_train_rows"] == 500
    assert NotEnoughTrainingData.__name__ == "NotEnoughTrainingData"  # the Step Functions error name


def test_too_few_held_out_answers_of_either_kind_stop_the_pipeline_naming_the_counts(aws, invoke, monkeypatch,
                                                                                      logs):
    monkeypatch.setenv("MIN_EVAL_ROWS", "30")
    aws.put_ratings("a.jsonl", *sessions(40))  # each session rates one answer 1, 2, 3, 4 and 5

    with pytest.raises(NotEnoughTrainingData) as raised:
        invoke(event())

    held_out = report(aws)["splits"]["eval"]
    assert held_out["reward_good"] == held_out["reward_bad"] < 30  # two of each per held-out session
    assert (f"the eval split has {held_out['reward_good']} well-rated (rating >= 4) and {held_out['reward_bad']} "
            "badly rated (rating <= 2) answers; the held-out measures need at least min_eval_rows=30 of each") in str(
        raised.value)
    assert f"(MIN_EVAL_ROWS; see s3://{DATASET_BUCKET}/{BASE}report.json)" in str(raised.value)
    assert aws.keys() == [f"{BASE}report.json"]  # the reason can be read; no row files
    assert report(aws)["options"]["min_eval_rows"] == 30
    assert logs.entries("not enough training data; only report.json was written")


def test_no_rating_records_at_all_is_not_enough_data(aws, invoke):
    with pytest.raises(NotEnoughTrainingData, match="has 0 reward rows"):
        invoke(event())


def test_exactly_the_minimum_is_enough(aws, invoke, monkeypatch):
    monkeypatch.setenv("EVAL_FRACTION", "0")
    monkeypatch.setenv("MIN_TRAIN_ROWS", "5")
    aws.put_ratings("a.jsonl", *sessions(1))

    assert invoke(event())["counts"]["train"]["reward"] == 5


# Bad requests and settings --------------------------------------------------------------------------------

@pytest.mark.parametrize("request_", [
    event(""), event("a/b"), event("../up"), event("has space"), event("x" * 54), event("run_1"), event("-run"),
    event("run-"), event("run--1"), event(None), event(42), {},
    "run-1", None,
])
def test_a_bad_dataset_id_is_an_invalid_request(aws, invoke, request_):
    aws.put_ratings("a.jsonl", *sessions(4))

    with pytest.raises(InvalidRequest, match="dataset_id"):
        invoke(request_)

    assert aws.keys() == []


def test_the_longest_dataset_id_is_accepted(aws, invoke):
    aws.put_ratings("a.jsonl", *sessions(4))

    longest = "A-z-9-" * 8 + "abcde"  # 53 characters: with "tandem-ft-", SageMaker's 63 for a job name
    assert invoke(event(longest))["dataset_uri"] == f"s3://{DATASET_BUCKET}/{DATASET_PREFIX}{longest}/"


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("name, value, problem", [
    ("RATINGS_BUCKET", None, "is required"),
    ("RATINGS_PREFIX", None, "is required"),
    ("DATASET_BUCKET", None, "is required"),
    ("DATASET_BUCKET", "Bad_Bucket", "must be an S3 bucket name"),
    ("DATASET_PREFIX", None, "is required"),
    ("DATASET_PREFIX", "datasets", "must be empty or folder names"),
    ("GOOD_MIN_RATING", "high", "must be a number"),
    ("GOOD_MIN_RATING", "6", "is not valid: good_min_rating must be from 1 to 5"),
    ("BAD_MAX_RATING", "4.5", r"must be less than GOOD_MIN_RATING \(4.5 >= 4\)"),
    ("BAD_MAX_RATING", "0", "is not valid: bad_max_rating must be from 1 to 5"),
    ("EVAL_FRACTION", "1", "is not valid: eval_fraction"),
    ("EVAL_FRACTION", "nan", "must be a number"),
    ("WEIGHT_BY_AGREEMENT", "yes", "must be true or false"),
    ("MIN_TRAIN_ROWS", "0", "must be an integer from 1"),
    ("MIN_TRAIN_ROWS", "many", "must be an integer from 1"),
    ("THUMBS_WEIGHT", "0", "is not valid: thumbs_weight must be above 0"),
    ("THUMBS_WEIGHT", "heavy", "must be a number"),
])
def test_a_bad_setting_fails_the_invocation_naming_the_variable(invoke, set_environment, name, value, problem):
    set_environment({name: value})

    with pytest.raises(SettingsError, match=f"{name} {problem}"):
        invoke(event())


def test_the_optional_settings_have_defaults(aws, invoke, monkeypatch):
    for name in ("GOOD_MIN_RATING", "BAD_MAX_RATING", "EVAL_FRACTION", "SPLIT_SEED", "WEIGHT_BY_AGREEMENT",
                 "MIN_TRAIN_ROWS", "MIN_EVAL_ROWS", "SYSTEM_PROMPT"):
        monkeypatch.delenv(name)
    # Enough sessions for the default minimum of held-out rows, 10 well-rated and 10 badly rated.
    aws.put_ratings("a.jsonl", *sessions(100))

    invoke(event())

    options = report(aws)["options"]
    assert options == {"good_min_rating": 4.0, "bad_max_rating": 2.0, "eval_fraction": 0.2, "split_seed": "tandem",
                       "weight_by_agreement": False, "system_prompt_chars": 0, "thumbs_weight": 0.5,
                       "min_eval_rows": 10}
    assert report(aws)["min_train_rows"] == 10
