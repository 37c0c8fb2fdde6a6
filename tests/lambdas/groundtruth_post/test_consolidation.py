"""consolidation.py without AWS: the statistics, one object at a time against an input manifest held in
memory, the inputs that must stay one worker's or one object's error, and the payload stream."""

from __future__ import annotations

import io
import json

import pytest

from lambdas.common.feedback import RatingRecord, WorkerRating
from lambdas.groundtruth_post.consolidation import UndecodableText, consolidate, iter_objects
from lambdas.groundtruth_post.manifest_index import ManifestIndex

SOURCE = "Question: a?\n\nAnswer: b.\n\nTandem item: session s, turn t"
LINE = {"source": SOURCE, "session_id": "s", "turn_id": "t", "question": "a?", "answer": "b.",
        "sampling": {"strategy": "random"}}
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on it


def manifest(*lines: dict) -> ManifestIndex:
    body = "".join(json.dumps(line) + "\n" for line in (lines or (LINE,)))
    return ManifestIndex.build("s3://bucket/job.manifest", io.BytesIO(body.encode("utf-8")))


def answer(label: str = "5", **extra) -> dict:
    return {"content": json.dumps({"relevance": {"label": label}, **extra})}


def obj(*labels: str, **extra) -> dict:
    return {"datasetObjectId": "7", "dataObject": {"content": SOURCE},
            "annotations": [{"workerId": f"w{i}", "annotationData": answer(v)} for i, v in enumerate(labels)],
            **extra}


def no_fetch(uri: str) -> bytes:
    raise AssertionError(f"unexpected read of {uri}")


def run(item: dict, index: ManifestIndex | None = None):
    return consolidate(item, label_attribute="L", job_name="job", manifest=index or manifest(), fetch=no_fetch)


def content(result) -> dict:
    return result.entry["consolidatedAnnotation"]["content"]["L"]


def assert_writable(result) -> None:
    """What the Lambda runtime and the ratings file do with an entry and a record: UTF-8 JSON."""
    json.dumps(result.entry, ensure_ascii=False).encode("utf-8")
    if result.record is not None:
        json.dumps(result.record.to_dict(), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(("values", "expected_median", "expected_agreement"), [
    ([5], 5.0, 1.0), ([1, 5], 3.0, 0.5), ([2, 3], 2.5, 0.5), ([1, 2, 2, 5], 2.0, 0.5), ([1, 2, 3, 4], 2.5, 0.25),
    ([4, 4, 4], 4.0, 1.0), ([1, 3, 5], 3.0, 0.3333), ([5, 5, 1, 1, 3], 3.0, 0.4),
])
def test_median_and_agreement(values, expected_median, expected_agreement):
    record = RatingRecord.consolidate(session_id="s", turn_id="t", question="q", answer="a", source="import",
                                      ratings=tuple(WorkerRating(worker_id=f"w{i}", value=v) for i, v in enumerate(values)))
    assert (record.rating, record.agreement) == (expected_median, expected_agreement)


def test_the_item_comes_from_the_manifest_line_whose_source_is_the_content():
    other = {**LINE, "source": "Question: x?\n\nAnswer: y.\n\nTandem item: session s2, turn t2", "session_id": "s2",
             "turn_id": "t2", "question": "x?", "answer": "y."}
    result = run(obj("4"), manifest(other, LINE))
    assert (result.record.session_id, result.record.turn_id, result.record.question, result.record.answer) == \
        ("s", "t", "a?", "b.")


def test_mean_is_kept_beside_the_median():
    result = run(obj("1", "1", "5"))
    assert (content(result)["rating"], content(result)["mean"]) == (1.0, 2.3333)
    assert (result.record.rating, result.record.mean, result.record.agreement) == (1.0, 2.3333, 0.6667)


@pytest.mark.parametrize("label", ["0", "6", "4.5", " 4", "", 4, None, ["5"]])
def test_a_label_outside_1_to_5_is_that_workers_error(label):
    annotations = [{"workerId": "w0", "annotationData": {"content": json.dumps({"relevance": {"label": label}})}}]
    result = run({**obj(), "annotations": annotations})
    assert result.record is None
    assert "relevance.label" in content(result)["workers"][0]["error"]


def test_a_non_string_comment_is_that_workers_error_and_a_long_one_is_cut():
    annotations = [{"workerId": "w0", "annotationData": answer("3", comment=5)},
                   {"workerId": "w1", "annotationData": answer("4", comment=" x" * 4000)}]
    result = run({**obj(), "annotations": annotations})
    workers = content(result)["workers"]
    assert workers[0] == {"workerId": "w0", "error": "comment must be a string"}
    assert len(workers[1]["comment"]) == 5000 and result.record.rating == 4.0


# Inputs that must not take the batch down -------------------------------------------------------------------

def test_a_comment_with_a_lone_surrogate_is_that_workers_error():
    # The worker's answer as the browser serialises it: the escape stays inside the JSON string.
    broken = {"content": '{"relevance": {"label": "1"}, "comment": "bad \\ud800 text"}'}
    item = obj("4", "5")
    item["annotations"].append({"workerId": "w9", "annotationData": broken})
    result = run(item)
    assert content(result)["workers"][2] == {"workerId": "w9",
                                             "error": "comment is not valid Unicode (it holds a lone surrogate)"}
    assert (result.record.rating, [r.worker_id for r in result.record.ratings]) == (4.5, ["w0", "w1"])
    assert_writable(result)


def test_a_deeply_nested_answer_is_that_workers_error():
    item = obj("3")
    item["annotations"].append({"workerId": "w9", "annotationData": {"content": DEEP}})
    item["annotations"].append({"workerId": "w8", "annotationData": {"content": json.dumps({"relevance": {
        "label": [[["5"]]]}})}})
    result = run(item)
    assert [w.get("error") for w in content(result)["workers"]] == [
        None, "annotationData is nested too deeply to read", "relevance.label must be one of 1-5, not a JSON array"]
    assert result.record.rating == 3.0


def test_a_worker_id_with_a_lone_surrogate_is_that_workers_error():
    item = obj("2")
    item["annotations"].append({"workerId": "w\udc00", "annotationData": answer("5")})
    result = run(item)
    assert content(result)["workers"][1] == {"workerId": "",
                                             "error": "workerId is not valid Unicode (it holds a lone surrogate)"}
    assert result.record.rating == 2.0
    assert_writable(result)


def test_content_with_a_lone_surrogate_is_not_found_and_the_entry_stays_writable():
    result = run({**obj("5"), "dataObject": {"content": SOURCE + "\ud800"}})
    assert content(result)["error"] == "dataObject.content is not in the job's input manifest"
    assert_writable(result)


def test_a_manifest_line_whose_text_holds_a_lone_surrogate_is_never_a_record():
    # A hand-made manifest can carry the escape; its text could not be written to the ratings file.
    line = {**LINE, "source": "Question: a\\ud800?", "question": "a\ud800?"}
    body = json.dumps(line).encode()  # ensure_ascii: the surrogate travels as the "\ud800" escape
    index = ManifestIndex.build("s3://bucket/m", io.BytesIO(body))
    result = run({**obj("5"), "dataObject": {"content": "Question: a\\ud800?"}}, index)
    assert content(result)["error"] == ("the job's input manifest line is not a labeling item "
                                        "(question: is not valid Unicode (it holds a lone surrogate))")
    assert_writable(result)


def test_a_dataset_object_id_with_a_lone_surrogate_is_echoed_escaped():
    result = run({**obj("5"), "datasetObjectId": "7\ud800"})
    assert result.entry["datasetObjectId"] == "7\\ud800"
    assert content(result)["error"] == "datasetObjectId is not valid Unicode" and result.record is None
    assert_writable(result)


# Data objects and the manifest --------------------------------------------------------------------------------

def test_content_that_is_in_no_manifest_line_is_an_error_entry():
    result = run({**obj("5"), "dataObject": {"content": "Question: a?\n\nAnswer: b."}})  # close is not equal
    assert content(result)["error"] == "dataObject.content is not in the job's input manifest"
    assert result.record is None


def test_content_of_two_manifest_lines_is_ambiguous_and_never_guessed():
    twin = {**LINE, "session_id": "s-twin", "turn_id": "t-twin"}
    result = run(obj("5"), manifest(LINE, twin))
    assert content(result)["error"] == ("dataObject.content matches more than one line of the job's input "
                                        "manifest (the source of each), so its labeling item is ambiguous")
    assert result.record is None


def test_an_s3_uri_data_object_is_the_line_with_that_source_ref():
    line = {**{k: v for k, v in LINE.items() if k != "source"}, "source-ref": "s3://bucket/items/1.txt"}
    result = run({**obj("4"), "dataObject": {"s3Uri": "s3://bucket/items/1.txt"}}, manifest(line))
    assert (result.record.session_id, result.record.turn_id, result.record.rating) == ("s", "t", 4.0)


def test_a_line_naming_an_item_object_is_read_through_fetch():
    # feedback.manifest_item's second rule, which the pre-annotation Lambda applies too.
    item = {k: v for k, v in LINE.items() if k != "source"}
    result = consolidate({**obj("2"), "dataObject": {"s3Uri": "s3://bucket/items/1.json"}}, label_attribute="L",
                         job_name="j", manifest=manifest({"source-ref": "s3://bucket/items/1.json"}),
                         fetch={"s3://bucket/items/1.json": json.dumps(item).encode()}.__getitem__)
    assert (result.record.session_id, result.record.answer) == ("s", "b.")


@pytest.mark.parametrize(("data_object", "line", "error"), [
    ({"content": SOURCE}, {**LINE, "turn_id": None},
     "the job's input manifest line is not a labeling item (turn_id: must be a string)"),
    ({"sourceRef": "x"}, LINE, "dataObject has neither content nor s3Uri"),
    (None, LINE, "dataObject must be an object"),
    ({"content": 5}, LINE, "dataObject has neither content nor s3Uri"),
])
def test_a_data_object_without_a_labeling_item_is_an_error_entry(data_object, line, error):
    result = run({**obj("5"), "dataObject": data_object}, manifest(line))
    assert result.record is None and content(result)["error"] == error


def test_items_that_are_not_objects_still_get_an_entry():
    results = [run(o) for o in ("text", {"annotations": []}, {"datasetObjectId": "1", "annotations": "x"},
                                {"datasetObjectId": [["1"]], "annotations": []})]
    assert [content(r)["error"] for r in results] == [
        "payload item must be an object", "datasetObjectId is missing", "annotations must be a list",
        "datasetObjectId must be a string"]


# The payload stream ------------------------------------------------------------------------------------------

def test_iter_objects_reads_a_binary_stream_item_by_item():
    stream = io.BytesIO(json.dumps([obj("5"), obj("4")]).encode())
    assert [o["annotations"][0]["workerId"] for o in iter_objects(stream)] == ["w0", "w0"]


def test_a_lone_low_surrogate_escape_in_the_payload_needs_the_pure_python_parser():
    payload = b'[{"datasetObjectId": "1", "annotations": [{"workerId": "w\\udc00"}]}]'
    with pytest.raises(UndecodableText):
        list(iter_objects(io.BytesIO(payload)))
    (item,) = iter_objects(io.BytesIO(payload), pure_python=True)
    assert item["annotations"][0]["workerId"] == "w\udc00"
