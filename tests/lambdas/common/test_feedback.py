"""The offline loop's formats (lambdas/common/feedback.py): round trips, each validation error naming its
field, and the one rule for texts that thumbs (lambdas/common/thumbs.py) check theirs by too."""

from __future__ import annotations

import json
import math

import pytest

from lambdas.common.feedback import (
    FeedbackFormatError,
    LabelingItem,
    RatingRecord,
    Sampling,
    WorkerRating,
    text_field,
    validate_rating,
)
from lambdas.common.thumbs import MAX_COMMENT_CHARS, Thumb, ThumbRecord

ITEM = {"source": "Q: Où est ma facture ?\nA: Dans « Mon compte » <b>Factures</b> 😀", "session_id": "s1",
        "turn_id": "t1", "question": "Où est ma facture ?", "answer": "Dans « Mon compte » <b>Factures</b> 😀",
        "sampling": {"strategy": "low_confidence", "seed": 7}, "sources": ["kb/billing.md"]}
RECORD = {"session_id": "s1", "turn_id": "t1", "question": "q", "answer": "", "rating": 3.5,
          "ratings": [{"worker_id": "w1", "value": 3, "comment": "meh <i>ok</i>"},
                      {"worker_id": "w2", "value": 4, "comment": ""}],
          "agreement": 0.5, "source": "groundtruth", "mean": 3.5, "labeling_job": "job-1", "schema_version": 1}


def test_labeling_item_round_trip_through_json():
    item = LabelingItem.from_dict(json.loads(json.dumps(ITEM, ensure_ascii=False)))
    assert item.sampling == Sampling("low_confidence", 7) and item.sources == ("kb/billing.md",)
    assert item.to_dict() == ITEM


def test_labeling_item_without_sources_omits_them():
    data = {k: v for k, v in ITEM.items() if k != "sources"}
    assert LabelingItem.from_dict(data).to_dict() == data


def test_rating_record_round_trip_through_json():
    record = RatingRecord.from_dict(json.loads(json.dumps(RECORD)))
    assert record.ratings[0] == WorkerRating("w1", 3, "meh <i>ok</i>")
    assert record.to_dict() == RECORD


def test_rating_record_optional_fields_are_left_out_when_absent():
    data = {k: v for k, v in RECORD.items() if k not in ("mean", "labeling_job")}
    data["ratings"] = [{"worker_id": "w1", "value": 3}]
    out = RatingRecord.from_dict(data).to_dict()
    assert "mean" not in out and "labeling_job" not in out and out["ratings"] == [
        {"worker_id": "w1", "value": 3, "comment": ""}]


@pytest.mark.parametrize(("change", "field"), [
    ({"source": ""}, "source"), ({"session_id": None}, "session_id"), ({"turn_id": "  "}, "turn_id"),
    ({"question": 3}, "question"), ({"answer": None}, "answer"), ({"sampling": {"seed": 1}}, "sampling"),
    ({"sampling": "random"}, "sampling"), ({"sources": "kb/a.md"}, "sources"), ({"sources": [1]}, "sources"),
])
def test_labeling_item_errors_name_the_field(change, field):
    with pytest.raises(FeedbackFormatError) as raised:
        LabelingItem.from_dict({**ITEM, **change})
    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")


def test_labeling_item_must_be_an_object():
    with pytest.raises(FeedbackFormatError) as raised:
        LabelingItem.from_dict(["not", "an", "object"])  # type: ignore[arg-type]
    assert raised.value.field == "item"


@pytest.mark.parametrize(("change", "field"), [
    ({"session_id": ""}, "session_id"), ({"turn_id": 5}, "turn_id"), ({"question": ""}, "question"),
    ({"answer": None}, "answer"),
    ({"rating": 0}, "rating"), ({"rating": 6}, "rating"), ({"rating": 3.25}, "rating"), ({"rating": "4"}, "rating"),
    ({"rating": None}, "rating"), ({"rating": True}, "rating"), ({"rating": math.nan}, "rating"),
    ({"agreement": 1.5}, "agreement"), ({"agreement": "x"}, "agreement"), ({"agreement": None}, "agreement"),
    ({"source": "survey"}, "source"), ({"source": None}, "source"),
    ({"mean": "x"}, "mean"), ({"mean": 7.0}, "mean"),
    ({"labeling_job": 5}, "labeling_job"), ({"schema_version": 2}, "schema_version"),
    ({"ratings": []}, "ratings"), ({"ratings": None}, "ratings"), ({"ratings": ["w1"]}, "ratings"),
    ({"ratings": [{"value": 3}]}, "worker_id"), ({"ratings": [{"worker_id": "w", "value": 3.5}]}, "value"),
    ({"ratings": [{"worker_id": "w", "value": "5"}]}, "value"), ({"ratings": [{"worker_id": "w", "value": 9}]}, "value"),
    ({"ratings": [{"worker_id": "w", "value": 3, "comment": 5}]}, "comment"),
])
def test_rating_record_errors_name_the_field(change, field):
    with pytest.raises(FeedbackFormatError) as raised:
        RatingRecord.from_dict({**RECORD, **change})
    assert raised.value.field == field and str(raised.value).startswith(f"{field}: ")


def test_rating_record_must_be_an_object():
    with pytest.raises(FeedbackFormatError) as raised:
        RatingRecord.from_dict("{}")  # type: ignore[arg-type]
    assert raised.value.field == "record"


def test_a_whole_float_worker_value_is_stored_as_an_integer():
    data = {**RECORD, "ratings": [{"worker_id": "w", "value": 4.0}]}
    assert RatingRecord.from_dict(data).to_dict()["ratings"][0]["value"] == 4
    assert isinstance(RatingRecord.from_dict(data).ratings[0].value, int)


@pytest.mark.parametrize(("value", "half", "ok"), [
    (1, False, True), (5, False, True), (4.5, True, True), (4.5, False, False), (0.5, True, False), (True, False, False),
])
def test_validate_rating(value, half, ok):
    if ok:
        assert validate_rating(value, "v", allow_half=half) == value
    else:
        with pytest.raises(FeedbackFormatError):
            validate_rating(value, "v", allow_half=half)


# Texts: one rule for every hub format's text fields (labeling items, rating records, thumbs) -------------

@pytest.mark.parametrize(("value", "options", "message"), [
    (None, {}, "must be a string"),
    (5, {}, "must be a string"),
    ("", {}, "must not be empty"),
    (" \n\t", {}, "must not be empty"),
    ("a \ud800 b", {"allow_empty": True}, "is not valid Unicode (it holds a lone surrogate)"),
    ("x" * 6, {"max_chars": 5}, "must be at most 5 characters"),
    (" " * 6, {"allow_empty": True, "max_chars": 5}, "must be at most 5 characters"),
])
def test_a_bad_text_is_refused_naming_the_field(value, options, message):
    with pytest.raises(FeedbackFormatError) as raised:
        text_field({"note": value}, "note", **options)
    assert (raised.value.field, str(raised.value)) == ("note", f"note: {message}")


@pytest.mark.parametrize(("value", "options"), [
    ("Où est ma facture ? 😀", {}), ("", {"allow_empty": True}), ("x" * 5, {"max_chars": 5}), ("é" * 5, {"max_chars": 5}),
])
def test_a_good_text_is_returned_as_given(value, options):
    assert text_field({"note": value}, "note", **options) == value


THUMB = {"turn_id": "t1", "thumb": "down", "given_at": "2026-11-25T01:20:00.123456Z", "comment": "It did not help."}
THUMB_RECORD = {"schema_version": 1, "session_id": "s1", "turn_id": "t1", "question": "q", "answer": "a",
                "thumb": "down", "given_at": "2026-11-25T01:20:00.123456Z", "source": "thumbs"}


@pytest.mark.parametrize(("change", "error"), [
    ({"turn_id": ""}, "turn_id: must not be empty"),
    ({"given_at": 5}, "given_at: must be a string"),
    ({"comment": "\udfff"}, "comment: is not valid Unicode (it holds a lone surrogate)"),
    ({"comment": "x" * (MAX_COMMENT_CHARS + 1)}, f"comment: must be at most {MAX_COMMENT_CHARS} characters"),
])
def test_thumbs_check_their_texts_by_the_same_rule(change, error):
    for parse, data in ((Thumb.from_dict, THUMB), (ThumbRecord.from_dict, THUMB_RECORD)):
        with pytest.raises(FeedbackFormatError) as raised:
            parse({**data, **change})
        assert str(raised.value) == error, parse


def test_a_thumbs_comment_may_be_empty_or_absent_and_be_the_longest_allowed():
    assert Thumb.from_dict({**THUMB, "comment": ""}).comment == ""
    assert Thumb.from_dict({k: v for k, v in THUMB.items() if k != "comment"}).comment == ""
    assert ThumbRecord.from_dict({**THUMB_RECORD, "comment": "x" * MAX_COMMENT_CHARS}).comment == "x" * MAX_COMMENT_CHARS
