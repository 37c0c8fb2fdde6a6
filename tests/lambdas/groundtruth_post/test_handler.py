"""The post-annotation Lambda end to end over moto S3: Ground Truth's request and payload files in the
documented shapes (tests/events/groundtruth_post*.json) in, the response and the job's ratings file out."""

from __future__ import annotations

import json

import pytest

from lambdas.common.feedback import RatingRecord
from lambdas.groundtruth_post import handler as post_handler
from lambdas.groundtruth_post.request import RequestError
from lambdas.common.env_settings import SettingsError
from tests.lambdas.groundtruth_post.conftest import (JOB, LABEL, RATINGS_BUCKET, RATINGS_KEY, batch_event, load,
                                                     ratings_lines)

BATCH1 = "groundtruth_post_payload.json"
BATCH2 = "groundtruth_post_payload_batch2.json"
W = "private.us-east-1.AAAAAAAAAAAAAAAAAAAAAAAAA"


def run(aws, lambda_context, payload_name: str = BATCH1, **kwargs):
    response = post_handler.handler(batch_event(aws, load(payload_name), **kwargs), lambda_context)
    json.dumps(response)  # what the Lambda runtime does with it: it must serialize
    return {e["datasetObjectId"]: e["consolidatedAnnotation"]["content"][LABEL] for e in response}, response


def test_one_entry_per_data_object_in_payload_order(aws, lambda_context):
    _, response = run(aws, lambda_context)
    assert [e["datasetObjectId"] for e in response] == [o["datasetObjectId"] for o in load(BATCH1)]
    assert all(set(e) == {"datasetObjectId", "consolidatedAnnotation"} and
               list(e["consolidatedAnnotation"]["content"]) == [LABEL] for e in response)


def test_three_workers_median_mean_agreement_and_comments(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert content["0"] == {
        "rating": 5.0, "mean": 4.6667, "agreement": 0.6667, "workerCount": 3,
        "workers": [{"workerId": f"{W}1", "label": "5", "comment": "Clear and correct."},
                    {"workerId": f"{W}2", "label": "4", "comment": ""},
                    {"workerId": f"{W}3", "label": "5", "comment": ""}]}


def test_even_number_of_workers_gives_a_half_median(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert (content["1"]["rating"], content["1"]["mean"], content["1"]["agreement"]) == (2.5, 2.5, 0.5)
    content, _ = run(aws, lambda_context, BATCH2, iteration=2)
    assert (content["8"]["rating"], content["8"]["mean"], content["8"]["agreement"]) == (4.0, 4.0, 0.5)
    assert (content["9"]["rating"], content["9"]["agreement"], content["9"]["workerCount"]) == (5.0, 1.0, 1)


def test_unicode_and_html_pass_through_unchanged(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert content["1"]["workers"][0]["comment"] == "Réponse vague <i>et</i> pas de lien — 不好 😕"
    (record,) = [r for r in ratings_lines(aws) if r["session_id"] == "sess-2"]
    assert record["question"] == "Où est ma facture ? <b>urgent</b>"
    assert record["answer"] == "Votre facture est dans « Mon compte » → Factures. <script>alert('x')</script> 请查看 😀"
    raw = aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read().decode("utf-8")
    assert "请查看 😀" in raw  # UTF-8 text, not \u escapes


def test_data_object_and_answer_given_by_s3_uri_are_read(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert content["2"]["workers"][1] == {"workerId": f"{W}2", "label": "2", "comment": "Missed the point."}
    assert (content["2"]["rating"], content["2"]["mean"]) == (2.0, 1.6667)
    (record,) = [r for r in ratings_lines(aws) if r["session_id"] == "sess-3"]
    assert (record["turn_id"], record["question"]) == ("turn-3", "Wrong item delivered")


def test_unreadable_answer_uri_is_that_workers_error_and_the_others_count(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert content["7"]["workers"][1] == {"workerId": f"{W}2",
                                          "error": "annotationData.s3Uri could not be read (NoSuchKey)"}
    assert (content["7"]["rating"], content["7"]["agreement"], content["7"]["workerCount"]) == (4.0, 1.0, 2)
    (record,) = [r for r in ratings_lines(aws) if r["session_id"] == "sess-8"]
    assert [r["worker_id"] for r in record["ratings"]] == [f"{W}1"]


@pytest.mark.parametrize(("object_id", "error", "worker_errors"), [
    ("3", "no worker gave a valid answer", ["annotationData is not JSON", "annotationData is not JSON"]),
    ("4", "annotations is empty", []),
    ("5", "no worker gave a valid answer", ["relevance.label must be one of 1-5, not '7'",
                                            "relevance.label is missing", "relevance.label is missing"]),
    ("6", "dataObject is not a labeling item (turn_id: must be a string)", []),
    ("8-not-json", "dataObject is not JSON", []),
])
def test_bad_objects_become_error_entries(aws, lambda_context, object_id, error, worker_errors):
    content, _ = run(aws, lambda_context)
    entry = content[object_id]
    assert entry["error"] == error and "rating" not in entry
    assert [w["error"] for w in entry["workers"] if "error" in w] == worker_errors
    assert entry["workerCount"] == len(next(o for o in load(BATCH1) if o["datasetObjectId"] == object_id)["annotations"])


def test_only_consolidated_objects_become_rating_records(aws, lambda_context):
    run(aws, lambda_context)
    records = ratings_lines(aws)
    assert [r["session_id"] for r in records] == ["sess-1", "sess-2", "sess-3", "sess-8"]
    for record in records:
        assert RatingRecord.from_dict(record).to_dict() == record
        assert (record["source"], record["labeling_job"]) == ("groundtruth", JOB)
    first = records[0]
    assert (first["rating"], first["mean"], first["agreement"]) == (5.0, 4.6667, 0.6667)
    assert first["ratings"][0] == {"worker_id": f"{W}1", "value": 5, "comment": "Clear and correct."}


def test_a_retried_batch_rewrites_the_same_file(aws, lambda_context):
    first, _ = run(aws, lambda_context)
    body = aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read()
    second, _ = run(aws, lambda_context)
    assert second == first
    assert aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read() == body
    assert len(ratings_lines(aws)) == 4


def test_two_batches_of_one_job_share_one_file_without_duplicates(aws, lambda_context):
    run(aws, lambda_context)
    run(aws, lambda_context, BATCH2, iteration=2)
    run(aws, lambda_context)  # a late retry of the first batch
    records = ratings_lines(aws)
    keys = [(r["session_id"], r["turn_id"]) for r in records]
    assert len(keys) == len(set(keys)) == 6
    assert {k[0] for k in keys} == {"sess-1", "sess-2", "sess-3", "sess-8", "sess-9", "sess-10"}
    listed = aws.s3.list_objects_v2(Bucket=RATINGS_BUCKET)["Contents"]
    assert [o["Key"] for o in listed] == [RATINGS_KEY]


def test_a_turn_rated_again_replaces_its_record(aws, lambda_context):
    run(aws, lambda_context)
    again = [o for o in load(BATCH1) if o["datasetObjectId"] == "0"]
    again[0]["annotations"] = again[0]["annotations"][:1]
    post_handler.handler(batch_event(aws, again, iteration=3), lambda_context)
    records = [r for r in ratings_lines(aws) if r["session_id"] == "sess-1"]
    assert len(records) == 1 and records[0]["rating"] == 5.0 and len(records[0]["ratings"]) == 1


def test_a_batch_of_errors_only_writes_nothing(aws, lambda_context):
    bad = [o for o in load(BATCH1) if o["datasetObjectId"] in ("3", "4")]
    response = post_handler.handler(batch_event(aws, bad), lambda_context)
    assert len(response) == 2
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=RATINGS_BUCKET)


def test_extras_in_the_request_are_tolerated(aws, lambda_context):
    event = batch_event(aws, load(BATCH2))
    assert "outputConfig" in event and "kmsKeyId" in event
    event["labelCategories"] = ["1", "2", "3", "4", "5"]
    assert len(post_handler.handler(event, lambda_context)) == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"labelingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:training-job/x"}, "labelingJobArn"),
    ({"labelingJobArn": "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/../x"}, "labelingJobArn"),
    ({"labelAttributeName": ""}, "labelAttributeName"),
    ({"payload": {"s3Uri": "https://example.com/a.json"}}, "payload.s3Uri"),
    ({"payload": None}, "payload.s3Uri"),
])
def test_a_request_that_breaks_the_contract_names_the_field(aws, lambda_context, change, field):
    event = {**batch_event(aws, load(BATCH2)), **change}
    with pytest.raises(RequestError) as raised:
        post_handler.handler(event, lambda_context)
    assert raised.value.field == field


def test_a_truncated_payload_file_fails_the_invocation_and_writes_nothing(aws, lambda_context):
    text = json.dumps(load(BATCH1), ensure_ascii=False)
    with pytest.raises(Exception, match="(?i)incomplete|premature|parse"):
        post_handler.handler(batch_event(aws, text[: len(text) // 2]), lambda_context)
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=RATINGS_BUCKET)


@pytest.mark.parametrize(("env", "variable"), [
    ({"RATINGS_BUCKET": ""}, "RATINGS_BUCKET"),
    ({"RATINGS_BUCKET": "Not_A_Bucket"}, "RATINGS_BUCKET"),
    ({"RATINGS_PREFIX": "/ratings"}, "RATINGS_PREFIX"),
])
def test_bad_settings_fail_naming_the_variable(aws, lambda_context, monkeypatch, env, variable):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        post_handler.handler(batch_event(aws, load(BATCH2)), lambda_context)
    assert raised.value.variable == variable


def test_missing_prefix_variable_is_an_error(aws, lambda_context, monkeypatch):
    monkeypatch.delenv("RATINGS_PREFIX")
    with pytest.raises(SettingsError, match="RATINGS_PREFIX"):
        post_handler.handler(batch_event(aws, load(BATCH2)), lambda_context)
