"""consolidation.py without AWS: the statistics, one object at a time, and the payload stream."""

from __future__ import annotations

import io
import json

import pytest

from lambdas.common.feedback import RatingRecord, WorkerRating
from lambdas.groundtruth_post.consolidation import consolidate, iter_objects

ITEM = json.dumps({"source": "Q: a?\nA: b.", "session_id": "s", "turn_id": "t", "question": "a?", "answer": "b.",
                   "sampling": {"strategy": "random"}})


def obj(*labels: str, **extra) -> dict:
    return {"datasetObjectId": "7", "dataObject": {"content": ITEM},
            "annotations": [{"workerId": f"w{i}", "annotationData": {"content": json.dumps({"relevance": {"label": v}})}}
                            for i, v in enumerate(labels)], **extra}


def no_fetch(uri: str) -> bytes:
    raise AssertionError(f"unexpected read of {uri}")


@pytest.mark.parametrize(("values", "expected_median", "expected_agreement"), [
    ([5], 5.0, 1.0), ([1, 5], 3.0, 0.5), ([2, 3], 2.5, 0.5), ([1, 2, 2, 5], 2.0, 0.5), ([1, 2, 3, 4], 2.5, 0.25),
    ([4, 4, 4], 4.0, 1.0), ([1, 3, 5], 3.0, 0.3333), ([5, 5, 1, 1, 3], 3.0, 0.4),
])
def test_median_and_agreement(values, expected_median, expected_agreement):
    record = RatingRecord.consolidate(session_id="s", turn_id="t", question="q", answer="a", source="import",
                                      ratings=tuple(WorkerRating(worker_id=f"w{i}", value=v) for i, v in enumerate(values)))
    assert (record.rating, record.agreement) == (expected_median, expected_agreement)


def test_mean_is_kept_beside_the_median():
    result = consolidate(obj("1", "1", "5"), label_attribute="L", job_name="job", fetch=no_fetch)
    content = result.entry["consolidatedAnnotation"]["content"]["L"]
    assert (content["rating"], content["mean"]) == (1.0, 2.3333)
    assert (result.record.rating, result.record.mean, result.record.agreement) == (1.0, 2.3333, 0.6667)


@pytest.mark.parametrize("label", ["0", "6", "4.5", " 4", "", 4, None, ["5"]])
def test_a_label_outside_1_to_5_is_that_workers_error(label):
    annotations = [{"workerId": "w0", "annotationData": {"content": json.dumps({"relevance": {"label": label}})}}]
    result = consolidate({**obj(), "annotations": annotations}, label_attribute="L", job_name="j", fetch=no_fetch)
    assert result.record is None
    assert "relevance.label" in result.entry["consolidatedAnnotation"]["content"]["L"]["workers"][0]["error"]


def test_a_non_string_comment_is_that_workers_error_and_a_long_one_is_cut():
    annotations = [{"workerId": "w0", "annotationData": {"content": json.dumps({"relevance": {"label": "3"}, "comment": 5})}},
                   {"workerId": "w1", "annotationData": {"content": json.dumps({"relevance": {"label": "4"},
                                                                                "comment": " x" * 4000})}}]
    result = consolidate({**obj(), "annotations": annotations}, label_attribute="L", job_name="j", fetch=no_fetch)
    workers = result.entry["consolidatedAnnotation"]["content"]["L"]["workers"]
    assert workers[0] == {"workerId": "w0", "error": "comment must be a string"}
    assert len(workers[1]["comment"]) == 5000 and result.record.rating == 4.0


@pytest.mark.parametrize(("item", "error"), [
    ("[1, 2]", "dataObject is not a labeling item (item: must be a JSON object)"),
    ({"sourceRef": "x"}, "dataObject has neither content nor s3Uri"),
    (None, "dataObject must be an object"),
])
def test_a_data_object_that_is_not_a_labeling_item_is_an_error_entry(item, error):
    data_object = {"content": item} if isinstance(item, str) else item
    result = consolidate({**obj("5"), "dataObject": data_object}, label_attribute="L", job_name="j", fetch=no_fetch)
    assert result.record is None and result.entry["consolidatedAnnotation"]["content"]["L"]["error"] == error


def test_items_that_are_not_objects_still_get_an_entry():
    results = [consolidate(o, label_attribute="L", job_name="j", fetch=no_fetch)
               for o in ("text", {"annotations": []}, {"datasetObjectId": "1", "annotations": "x"})]
    assert [r.entry["consolidatedAnnotation"]["content"]["L"]["error"] for r in results] == [
        "payload item must be an object", "datasetObjectId is missing", "annotations must be a list"]


def test_iter_objects_reads_a_binary_stream_item_by_item():
    stream = io.BytesIO(json.dumps([obj("5"), obj("4")]).encode())
    assert [o["annotations"][0]["workerId"] for o in iter_objects(stream)] == ["w0", "w0"]
