"""The pre-annotation Lambda's handler under moto, with requests in Ground Truth's exact shape
(tests/events/groundtruth_pre_*.json): inline items, source-ref items, items that need no rater, and data
objects that cannot be read (answered, never raised, shown to no rater, and logged without customer
text)."""

from __future__ import annotations

import gzip
import json

import pytest

from lambdas.common.env_settings import SettingsError
from lambdas.groundtruth_pre import handler as pre_handler
from lambdas.groundtruth_pre import items
from lambdas.groundtruth_pre.items import ERROR_MESSAGE
from lambdas.groundtruth_pre.ratings import MAX_ITEM_BYTES
from tests.lambdas.groundtruth_pre.conftest import BUCKET, RATINGS_PREFIX, event, rating_line

INLINE = event("inline")["dataObject"]
SESSION, TURN = INLINE["session_id"], INLINE["turn_id"]
REF = event("source_ref")["dataObject"]["source-ref"]
REF_KEY = REF.removeprefix(f"s3://{BUCKET}/")
# What an item no rater can use gets: no human, and a task input with no customer text that still renders.
SKIPPED = {"taskInput": {"question": "", "answer": "", "sources": [], "error": ERROR_MESSAGE},
           "isHumanAnnotationRequired": False}


def item_json(**changes) -> str:
    data = {k: v for k, v in INLINE.items()}
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not None}, ensure_ascii=False)


def put_ratings(aws, key: str, *lines: str) -> None:
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body="\n".join(lines).encode())


def unreadable(logs) -> dict:
    (entry,) = logs.entries("unreadable labeling item")
    return entry


# Items a rater sees -----------------------------------------------------------------------------------

def test_an_inline_item_becomes_the_task_input_and_goes_to_a_rater(invoke, logs):
    result = invoke(event("inline"))

    assert result == {"taskInput": {"question": INLINE["question"], "answer": INLINE["answer"],
                                    "sources": INLINE["sources"]},
                      "isHumanAnnotationRequired": True}
    (entry,) = logs.entries("labeling item prepared")
    assert entry["outcome"] == "human_required"
    assert entry["labeling_job"] == "tandem-relevance-2026-11-25"
    assert (entry["session_id"], entry["turn_id"]) == (SESSION, TURN)
    assert INLINE["question"] not in logs.text and INLINE["answer"] not in logs.text


def test_the_response_uses_the_documented_boolean_name(invoke):
    result = invoke(event("inline"))

    assert set(result) == {"taskInput", "isHumanAnnotationRequired"}
    assert result["isHumanAnnotationRequired"] is True


def test_an_item_without_sources_shows_an_empty_list(invoke):
    result = invoke(event("inline", sources=None))

    assert result["taskInput"]["sources"] == []


def test_extra_keys_of_the_data_object_pass_through_unused(invoke):
    result = invoke(event("inline", redaction={"masked": 2}, **{"sampler-run": "2026-11-25T03:00:00Z"}))

    assert result["isHumanAnnotationRequired"] is True
    assert result["taskInput"]["question"] == INLINE["question"]
    assert "redaction" not in result["taskInput"]


def test_an_inline_source_holding_the_item_json_is_read(invoke):
    request = event("source_text")
    expected = json.loads(request["dataObject"]["source"])

    result = invoke(request)

    assert result == {"taskInput": {"question": expected["question"], "answer": expected["answer"], "sources": []},
                      "isHumanAnnotationRequired": True}


def test_a_source_ref_item_is_read_from_s3(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key=REF_KEY, Body=item_json(source=None).encode())

    result = invoke(event("source_ref"))

    assert result["isHumanAnnotationRequired"] is True
    assert result["taskInput"] == {"question": INLINE["question"], "answer": INLINE["answer"],
                                   "sources": INLINE["sources"]}


def test_a_source_ref_item_with_a_byte_order_mark_is_read(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key=REF_KEY, Body=b"\xef\xbb\xbf" + item_json().encode())

    assert invoke(event("source_ref"))["taskInput"]["question"] == INLINE["question"]


def test_unicode_and_html_reach_the_template_unchanged_and_stay_out_of_the_logs(invoke, logs):
    question = "Pourquoi ma commande \u00e9choue ? \u6ce8\u6587 \U0001F600 \u05e9\u05dc\u05d5\u05dd"
    answer = "<script>alert('x')</script> Use <b>Orders</b> &amp; retry \u2014 \u00e7a marche."
    result = invoke(event("inline", question=question, answer=answer,
                          sources=["https://kb.example.com/a?x=1&y=<2>"]))

    assert result["taskInput"]["question"] == question  # escaping is the template's job (| escape)
    assert result["taskInput"]["answer"] == answer
    assert result["taskInput"]["sources"] == ["https://kb.example.com/a?x=1&y=<2>"]
    assert "script" not in logs.text and "\u6ce8\u6587" not in logs.text


# Items that need no rater ------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["", "   \n\t "])
def test_an_empty_answer_needs_no_rater(invoke, logs, answer):
    result = invoke(event("inline", answer=answer))

    assert result["isHumanAnnotationRequired"] is False
    assert result["taskInput"]["question"] == INLINE["question"]
    assert logs.entries("labeling item prepared")[0]["outcome"] == "empty_answer"


def test_a_turn_already_rated_needs_no_rater(aws, invoke, logs):
    put_ratings(aws, f"{RATINGS_PREFIX}tandem-relevance-2026-11-01.jsonl",
                rating_line("other-session", TURN), rating_line(SESSION, TURN, 2))

    result = invoke(event("inline"))

    assert result["isHumanAnnotationRequired"] is False
    assert logs.entries("labeling item prepared")[0]["outcome"] == "already_rated"
    (loaded,) = logs.entries("rating records loaded")
    assert (loaded["files"], loaded["rated_turns"], loaded["bad_lines"]) == (1, 2, 0)


def test_only_the_same_session_and_turn_count_as_rated(aws, invoke):
    put_ratings(aws, f"{RATINGS_PREFIX}job.jsonl", rating_line(SESSION, "another-turn"),
                rating_line("another-session", TURN))

    assert invoke(event("inline"))["isHumanAnnotationRequired"] is True


def test_ratings_outside_the_prefix_and_bad_lines_are_ignored(aws, invoke, logs):
    put_ratings(aws, f"elsewhere/{SESSION}.jsonl", rating_line(SESSION, TURN))
    put_ratings(aws, f"{RATINGS_PREFIX}job.jsonl", "not json", "[1, 2]", '{"session_id": 5, "turn_id": "t"}',
                rating_line("s2", "t2"))

    assert invoke(event("inline"))["isHumanAnnotationRequired"] is True
    (loaded,) = logs.entries("rating records loaded")
    assert (loaded["rated_turns"], loaded["bad_lines"]) == (1, 3)


def test_gzipped_rating_files_are_read(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key=f"{RATINGS_PREFIX}import/2026-11.jsonl.gz",
                      Body=gzip.compress((rating_line(SESSION, TURN) + "\n").encode()))

    assert invoke(event("inline"))["isHumanAnnotationRequired"] is False


def test_rating_records_are_read_once_per_execution_environment(aws, invoke, logs):
    assert invoke(event("inline"))["isHumanAnnotationRequired"] is True
    put_ratings(aws, f"{RATINGS_PREFIX}later.jsonl", rating_line(SESSION, TURN))

    assert invoke(event("inline"))["isHumanAnnotationRequired"] is True  # still the cached set
    assert len(logs.entries("rating records loaded")) == 1


def test_unreadable_rating_records_send_the_item_to_a_rater(aws, invoke, logs, monkeypatch):
    monkeypatch.setenv("RATINGS_BUCKET", "tandem-no-such-bucket")
    pre_handler.dependencies.reset()

    result = invoke(event("inline"))

    assert result["isHumanAnnotationRequired"] is True
    (entry,) = logs.entries("rating records unavailable; item sent to raters")
    assert entry["error_code"] == "NoSuchBucket"


# Data objects that cannot be read: no rater sees them ------------------------------------------------------

def test_bad_json_in_source_needs_no_rater(invoke, logs):
    result = invoke(event("source_text", source='{"session_id": "s", "question": "my card number is 4111'))

    assert result == SKIPPED
    entry = unreadable(logs)
    assert (entry["field"], entry["problem"]) == ("source", "is not a labeling item (not valid JSON)")
    assert "4111" not in logs.text


def test_plain_text_in_source_is_not_an_item(invoke, logs):
    assert invoke(event("source_text", source="Q: hello? A: hi")) == SKIPPED
    assert unreadable(logs)["field"] == "source"


@pytest.mark.parametrize("missing", ["session_id", "turn_id", "question", "answer", "sampling"])
def test_a_missing_field_is_named_in_the_log(invoke, logs, missing):
    result = invoke(event("inline", **{missing: None}))

    assert result == SKIPPED
    entry = unreadable(logs)
    assert entry["field"] == missing
    assert INLINE["question"] not in logs.text


@pytest.mark.parametrize("question", ["", "  \n "])
def test_an_item_with_no_question_needs_no_rater(invoke, logs, question):
    result = invoke(event("inline", question=question))

    assert result == SKIPPED
    assert (unreadable(logs)["field"], unreadable(logs)["problem"]) == ("question", "must not be empty")
    assert INLINE["answer"] not in logs.text


@pytest.mark.parametrize("field", ["question", "answer"])
def test_text_with_a_lone_surrogate_needs_no_rater(invoke, logs, field):
    # What json.loads makes of a "\ud800" escape: a str no UTF-8 writer accepts.
    result = invoke(event("inline", **{field: "broken \ud800 text"}))

    assert result == SKIPPED
    assert unreadable(logs)["field"] == field
    json.dumps(result, ensure_ascii=False).encode("utf-8")  # the response itself is valid UTF-8


def test_a_field_of_the_wrong_type_is_named_in_the_log(invoke, logs):
    assert invoke(event("inline", sources="s3://one-string-not-a-list")) == SKIPPED
    assert unreadable(logs)["field"] == "sources"


def test_a_missing_source_ref_object_needs_no_rater(invoke, logs):
    assert invoke(event("source_ref")) == SKIPPED

    entry = unreadable(logs)
    assert (entry["field"], entry["problem"]) == ("source-ref", "names no object")
    assert entry["data_object_keys"] == ["source-ref"]


def test_a_source_ref_in_a_bucket_that_is_not_there_is_unreadable(invoke, logs):
    assert invoke(event("source_ref", **{"source-ref": "s3://tandem-elsewhere/item.json"})) == SKIPPED
    assert unreadable(logs)["field"] == "source-ref"


@pytest.mark.parametrize("body, problem", [
    (b"{not json", "is not a labeling item (not valid JSON)"),
    (b"\xff\xfe\x00bad", "is not UTF-8 text"),
    (b'["a list"]', "must hold a JSON object"),
    (b" " * (MAX_ITEM_BYTES + 10), f"is larger than {MAX_ITEM_BYTES} bytes"),
])
def test_a_source_ref_object_that_is_not_an_item_is_unreadable(aws, invoke, logs, body, problem):
    aws.s3.put_object(Bucket=BUCKET, Key=REF_KEY, Body=body)

    assert invoke(event("source_ref")) == SKIPPED
    entry = unreadable(logs)
    assert (entry["field"], entry["problem"]) == ("source-ref", problem)


@pytest.mark.parametrize("ref", ["https://example.com/item.json", "s3://", "s3://bucket-only", 42])
def test_a_source_ref_that_is_not_an_s3_uri_is_unreadable(invoke, logs, ref):
    assert invoke(event("source_ref", **{"source-ref": ref})) == SKIPPED
    entry = unreadable(logs)
    assert (entry["field"], entry["problem"]) == ("source-ref", "must be an s3://bucket/key URI")


@pytest.mark.parametrize("data_object, field", [
    (None, "dataObject"), ("a string", "dataObject"), ({}, "dataObject"), ({"source": 12}, "source"),
])
def test_a_data_object_of_the_wrong_shape_is_unreadable(invoke, logs, data_object, field):
    request = event("inline")
    request["dataObject"] = data_object

    assert invoke(request) == SKIPPED
    assert unreadable(logs)["field"] == field


def test_a_request_without_a_data_object_is_answered(invoke, logs):
    request = event("inline")
    del request["dataObject"]

    assert invoke(request) == SKIPPED


def test_an_unexpected_error_needs_no_rater_and_is_logged_without_its_message(invoke, logs, monkeypatch):
    def broken(item, already_rated):
        raise KeyError("the customer's secret text")

    monkeypatch.setattr(items, "decide", broken)

    assert invoke(event("inline")) == SKIPPED
    (entry,) = logs.entries("labeling item failed")
    assert entry["error"] == "KeyError"
    assert "secret text" not in logs.text


def test_an_unknown_request_version_is_logged_and_still_answered(invoke, logs):
    request = event("inline")
    request["version"] = "2099-01-01"

    assert invoke(request)["isHumanAnnotationRequired"] is True
    assert logs.entries("unexpected request version")[0]["version"] == "2099-01-01"


def test_each_outcome_is_counted(invoke, capsys):
    invoke(event("inline", answer=""))

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for e in emitted for d in e["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "ItemsSkippedEmptyAnswer" in names


# Settings ---------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:No application metrics to publish")
@pytest.mark.parametrize("name, value, problem", [
    ("RATINGS_BUCKET", None, "is required"),
    ("RATINGS_BUCKET", "Not_A_Bucket", "must be an S3 bucket name"),
    ("RATINGS_PREFIX", None, "is required"),
    ("RATINGS_PREFIX", "/ratings", "must be empty or folder names"),
    ("RATINGS_PREFIX", "ratings", "must be empty or folder names"),
    ("RATINGS_CACHE_SECONDS", "5", "must be an integer from 60"),
    ("RATINGS_CACHE_MAX_TURNS", "lots", "must be an integer from 1"),
])
def test_a_bad_setting_fails_the_invocation_naming_the_variable(invoke, set_environment, name, value, problem):
    set_environment({name: value})

    with pytest.raises(SettingsError, match=f"{name} {problem}"):
        invoke(event("inline"))


def test_an_empty_ratings_prefix_reads_the_whole_bucket(aws, invoke, monkeypatch):
    monkeypatch.setenv("RATINGS_PREFIX", "")
    pre_handler.dependencies.reset()
    put_ratings(aws, "job.jsonl", rating_line(SESSION, TURN))

    assert invoke(event("inline"))["isHumanAnnotationRequired"] is False
