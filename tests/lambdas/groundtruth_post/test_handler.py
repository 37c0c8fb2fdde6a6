"""The post-annotation Lambda end to end over moto S3: Ground Truth's request and payload files in the
documented shapes (tests/events/groundtruth_post*.json: each data object is the `source` or `source-ref`
value of a line of tests/events/groundtruth_post_input.manifest, nothing else) in, the response and the
job's ratings file out; the job's input manifest found through DescribeLabelingJob (a Stubber)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from lambdas.common import clients
from lambdas.common.env_settings import SettingsError
from lambdas.common.feedback import RatingRecord
from lambdas.groundtruth_post import handler as post_handler
from lambdas.groundtruth_post.job_manifest import ManifestUnavailable
from lambdas.groundtruth_post.request import RequestError
from tests.lambdas.groundtruth_post.conftest import (
    INPUT_BUCKET,
    JOB,
    LABEL,
    MANIFEST_KEY,
    MANIFEST_URI,
    RATINGS_BUCKET,
    RATINGS_KEY,
    batch_event,
    expect_describe,
    load,
    manifest_lines,
    ratings_lines,
)

BATCH1 = "groundtruth_post_payload.json"
BATCH2 = "groundtruth_post_payload_batch2.json"
W = "private.us-east-1.AAAAAAAAAAAAAAAAAAAAAAAAA"


def run(aws, lambda_context, payload_name: str | list = BATCH1, **kwargs):
    payload = load(payload_name) if isinstance(payload_name, str) else payload_name
    response = post_handler.handler(batch_event(aws, payload, **kwargs), lambda_context)
    json.dumps(response, ensure_ascii=False).encode("utf-8")  # what the Lambda runtime sends back: UTF-8 JSON
    return {e["datasetObjectId"]: e["consolidatedAnnotation"]["content"][LABEL] for e in response}, response


def manifest_reads(aws) -> list[str]:
    """Records every GetObject of the job's input manifest by the function's S3 client."""
    reads: list[str] = []

    def count(params, **_):
        if params.get("Key") == MANIFEST_KEY:
            reads.append(params["Key"])

    clients.client("s3").meta.events.register("provide-client-params.s3.GetObject", count)
    return reads


def source_of(session_id: str) -> str:
    return next(line["source"] for line in manifest_lines() if line.get("session_id") == session_id)


# The fixtures are Ground Truth's shapes -------------------------------------------------------------------------

def test_every_fixture_data_object_is_a_manifest_value_and_nothing_else():
    values = {line.get("source") for line in manifest_lines()} | {line.get("source-ref") for line in manifest_lines()}
    for obj in load(BATCH1) + load(BATCH2):
        (kind, value), = obj["dataObject"].items()  # content or s3Uri, one key: the rest of the line is not sent
        assert kind in ("content", "s3Uri") and isinstance(value, str)
        assert (value in values) is (obj["datasetObjectId"] != "8-unknown"), obj["datasetObjectId"]
        for annotation in obj["annotations"]:
            assert isinstance(annotation["annotationData"].get("content", ""), str)  # a JSON string, not an object


def test_the_labeling_item_comes_from_the_manifest_line_with_that_source(aws, lambda_context):
    run(aws, lambda_context)
    run(aws, lambda_context, BATCH2, iteration=2)
    lines = {line["session_id"]: line for line in manifest_lines() if "session_id" in line}
    records = ratings_lines(aws)
    assert sorted(r["session_id"] for r in records) == sorted(["sess-1", "sess-2", "sess-3", "sess-8", "sess-9",
                                                               "sess-10"])
    for record in records:
        if record["session_id"] == "sess-3":
            continue  # its line names the object holding the item (test_data_object_and_answer_given_by_s3_uri)
        line = lines[record["session_id"]]
        assert (record["turn_id"], record["question"], record["answer"]) == (line["turn_id"], line["question"],
                                                                             line["answer"])
    aws.sagemaker.assert_no_pending_responses()  # DescribeLabelingJob was asked, once


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
    assert (content["10"]["rating"], content["10"]["mean"], content["10"]["agreement"]) == (4.0, 4.0, 0.5)
    assert (content["11"]["rating"], content["11"]["agreement"], content["11"]["workerCount"]) == (5.0, 1.0, 1)


def test_unicode_and_html_pass_through_unchanged(aws, lambda_context):
    content, _ = run(aws, lambda_context)
    assert content["1"]["workers"][0]["comment"] == "Réponse vague <i>et</i> pas de lien — 不好 😕"
    (record,) = [r for r in ratings_lines(aws) if r["session_id"] == "sess-2"]
    assert record["question"] == "Où est ma facture ? <b>urgent</b>"
    assert record["answer"] == "Votre facture est dans « Mon compte » → Factures. <script>alert('x')</script> 请查看 😀"
    raw = aws.s3.get_object(Bucket=RATINGS_BUCKET, Key=RATINGS_KEY)["Body"].read().decode("utf-8")
    assert "请查看 😀" in raw  # UTF-8 text, not \u escapes


def test_data_object_and_answer_given_by_s3_uri_are_read(aws, lambda_context):
    # Object 2 is the manifest line {"source-ref": ".../items/3.json"}; that object holds the item.
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
    ("6", "the job's input manifest line is not a labeling item (turn_id: must be a string)", []),
    ("8-unknown", "dataObject.content is not in the job's input manifest", []),
    ("9-ambiguous", "dataObject.content matches more than one line of the job's input manifest (the source of "
                    "each), so its labeling item is ambiguous", []),
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
    aws.sagemaker.assert_no_pending_responses()
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


# The job's input manifest ---------------------------------------------------------------------------------------

def test_the_manifest_is_read_and_indexed_once_per_execution_environment(aws, lambda_context):
    reads = manifest_reads(aws)
    run(aws, lambda_context)
    run(aws, lambda_context, BATCH2, iteration=2)
    run(aws, lambda_context, iteration=3)
    assert reads == [MANIFEST_KEY]
    aws.sagemaker.assert_no_pending_responses()  # and the job described once


def test_a_job_cloned_under_another_name_finds_its_manifest_through_sagemaker(aws, lambda_context):
    reads = manifest_reads(aws)
    run(aws, lambda_context)
    expect_describe(aws.sagemaker, name="tandem-ratings-clone")  # the console's clone reads the same manifest
    event = batch_event(aws, load(BATCH2), iteration=2)
    event["labelingJobArn"] = event["labelingJobArn"].replace(JOB, "tandem-ratings-clone")
    response = post_handler.handler(event, lambda_context)
    assert [e["consolidatedAnnotation"]["content"][LABEL]["rating"] for e in response] == [4.0, 5.0]
    assert reads == [MANIFEST_KEY]  # same URI: the index is kept
    aws.sagemaker.assert_no_pending_responses()


def test_another_manifest_is_indexed_afresh(aws, lambda_context):
    reads = manifest_reads(aws)
    run(aws, lambda_context)
    other_key = "manifests/other.manifest"
    only = [line for line in manifest_lines() if line.get("session_id") == "sess-9"]
    aws.s3.put_object(Bucket=INPUT_BUCKET, Key=other_key, Body=(json.dumps(only[0]) + "\n").encode())
    expect_describe(aws.sagemaker, name="tandem-other", manifest_uri=f"s3://{INPUT_BUCKET}/{other_key}")
    event = batch_event(aws, load(BATCH2), iteration=2)
    event["labelingJobArn"] = event["labelingJobArn"].replace(JOB, "tandem-other")
    errors = [e["consolidatedAnnotation"]["content"][LABEL].get("error")
              for e in post_handler.handler(event, lambda_context)]
    assert errors == [None, "dataObject.content is not in the job's input manifest"]  # sess-10 is not in it
    assert reads == [MANIFEST_KEY]  # the manifest of the first job was read once; the other one is not counted


@pytest.mark.parametrize("code", ["NoSuchKey", "AccessDenied"])
def test_a_manifest_that_cannot_be_read_fails_the_batch_naming_job_uri_and_code(aws, lambda_context, logs, capsys,
                                                                                 code):
    if code == "NoSuchKey":
        aws.s3.delete_object(Bucket=INPUT_BUCKET, Key=MANIFEST_KEY)
    else:
        def deny(**_):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject")
        # Every GetObject is denied: the manifest is read first, so the payload is never reached.
        clients.client("s3").meta.events.register("before-call.s3.GetObject", deny)
    with pytest.raises(ManifestUnavailable) as raised:
        post_handler.handler(batch_event(aws, load(BATCH1)), lambda_context)
    message = str(raised.value)
    assert JOB in message and MANIFEST_URI in message and code in message
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=RATINGS_BUCKET)
    (entry,) = logs.entries("input manifest unavailable; the batch fails and Ground Truth retries it")
    assert (entry["labeling_job"], entry["manifest_uri"], entry["error_code"]) == (JOB, MANIFEST_URI, code)
    assert '"ManifestUnavailable"' in capsys.readouterr().out  # the metric


def test_a_job_that_cannot_be_described_fails_the_batch_and_writes_nothing(aws, lambda_context, logs):
    aws.sagemaker.deactivate()
    post_handler.dependencies.reset()
    stub = Stubber(boto3.client("sagemaker"))
    stub.add_client_error("describe_labeling_job", service_error_code="ResourceNotFound", http_status_code=400,
                          expected_params={"LabelingJobName": JOB})
    stub.activate()
    clients.set_client("sagemaker", stub.client)
    reads = manifest_reads(aws)
    with pytest.raises(ManifestUnavailable, match=f"labeling job {JOB}: .*DescribeLabelingJob: ResourceNotFound"):
        post_handler.handler(batch_event(aws, load(BATCH1)), lambda_context)
    assert reads == [] and "Contents" not in aws.s3.list_objects_v2(Bucket=RATINGS_BUCKET)
    assert logs.entries("input manifest unavailable; the batch fails and Ground Truth retries it")[0][
        "operation"] == "DescribeLabelingJob"


def test_logs_name_the_manifest_but_carry_no_customer_text(aws, lambda_context, logs):
    run(aws, lambda_context)
    (indexed,) = logs.entries("input manifest indexed")
    assert (indexed["manifest_uri"], indexed["lines"], indexed["ambiguous_values"]) == (MANIFEST_URI, 12, 1)
    for line in manifest_lines():
        for text in (line.get("question"), line.get("answer"), line.get("source")):
            assert not text or text not in logs.text
    assert "Clear and correct." not in logs.text


# Inputs that must not take the batch down -------------------------------------------------------------------------

def worker(n: int, content: str) -> dict:
    return {"workerId": f"{W}{n}", "annotationData": {"content": content}}


def test_a_lone_surrogate_in_a_comment_is_one_workers_error_and_the_batch_is_written(aws, lambda_context):
    payload = load(BATCH2)
    payload[0]["annotations"].append(worker(9, '{"relevance": {"label": "1"}, "comment": "x \\ud800 y"}'))
    content, _ = run(aws, lambda_context, payload)
    assert content["10"]["workers"][-1]["error"] == "comment is not valid Unicode (it holds a lone surrogate)"
    assert content["10"]["rating"] == 4.0 and content["11"]["rating"] == 5.0
    assert {r["session_id"] for r in ratings_lines(aws)} == {"sess-9", "sess-10"}


def test_a_deeply_nested_answer_is_one_workers_error_and_the_batch_is_written(aws, lambda_context):
    payload = load(BATCH2)
    payload[1]["annotations"].append(worker(9, "[" * 100_000 + "]" * 100_000))
    content, _ = run(aws, lambda_context, payload)
    assert content["11"]["workers"][-1]["error"] == "annotationData is nested too deeply to read"
    assert content["11"]["rating"] == 5.0
    assert {r["session_id"] for r in ratings_lines(aws)} == {"sess-9", "sess-10"}


def test_a_lone_surrogate_escape_in_the_payload_itself_is_parsed_again_and_isolated(aws, lambda_context, logs):
    # The escape decoded by the payload's own JSON: the C parser cannot, the pure-Python one can.
    payload = load(BATCH2)
    payload[0]["annotations"][0]["workerId"] = "private.us-east-1.SURROGATE"
    payload[1]["dataObject"]["content"] += "SURROGATE"
    text = json.dumps(payload, ensure_ascii=False).replace("SURROGATE", "\\udc00")
    response = post_handler.handler(batch_event(aws, text), lambda_context)
    json.dumps(response, ensure_ascii=False).encode("utf-8")
    content = {e["datasetObjectId"]: e["consolidatedAnnotation"]["content"][LABEL] for e in response}
    assert content["10"]["workers"][0] == {"workerId": "",
                                           "error": "workerId is not valid Unicode (it holds a lone surrogate)"}
    assert content["10"]["rating"] == 4.0
    assert content["11"]["error"] == "dataObject.content is not in the job's input manifest"
    assert [r["session_id"] for r in ratings_lines(aws)] == ["sess-9"]
    assert logs.entries("payload parsed again in pure Python")


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
