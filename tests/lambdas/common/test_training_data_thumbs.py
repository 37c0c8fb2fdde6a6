"""The dataset builder and the customers' thumbs: KTO rows with their own source and weight, reported apart
from the expert ratings, an expert's rating of the same answer winning, bad rows counted, never failing."""

from __future__ import annotations

import json

import pytest

from lambdas.common.feedback import FeedbackFormatError
from lambdas.common.thumbs import MAX_COMMENT_CHARS, ThumbRecord
from lambdas.common.training_data import DatasetError, DatasetOptions, build_dataset, read_rows
from tests.lambdas.common.test_training_data import line as rating_line

THUMBS_FILE = "thumbs/tandem-feedback-20260310-020000.jsonl"


def thumb(session: str = "s1", turn: str = "t1", value: str = "down", **changes) -> dict:
    """A thumb as the feedback sampler exports it; a change to None removes the field."""
    data = {"schema_version": 1, "session_id": session, "turn_id": turn, "question": f"question {session}/{turn}",
            "answer": f"answer {session}/{turn}", "thumb": value, "given_at": "2026-03-09T10:00:00.000000Z",
            "source": "thumbs", "comment": "It did not help."}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def thumb_line(*args, **changes) -> str:
    return json.dumps(thumb(*args, **changes))


def build(ratings: list[str], thumbs: list[str], **options):
    return build_dataset([("ratings/a.jsonl", ratings)], DatasetOptions(**{"eval_fraction": 0.0, **options}),
                         [(THUMBS_FILE, thumbs)])


def test_thumbs_become_kto_rows_with_their_own_source_and_weight_beside_the_ratings():
    dataset = build([rating_line("s1", "t1", 5), rating_line("s1", "t2", 1)],
                    [thumb_line("s1", "t3", "up"), thumb_line("s1", "t4", "down")], thumbs_weight=0.25)

    rows = {row["turn_id"]: row for row in dataset.train.kto}
    assert {t: (r["label"], r["source"], r["weight"]) for t, r in rows.items()} == {
        "t1": (True, "groundtruth", 1.0), "t2": (False, "groundtruth", 1.0),
        "t3": (True, "thumbs", 0.25), "t4": (False, "thumbs", 0.25)}
    assert rows["t4"] == {"prompt": "question s1/t4", "completion": "answer s1/t4", "label": False,
                          "session_id": "s1", "turn_id": "t4", "source": "thumbs", "weight": 0.25}
    assert dataset.train.counts()["kto_by_source"] == {"groundtruth": {"kto_true": 1, "kto_false": 1},
                                                       "thumbs": {"kto_true": 1, "kto_false": 1}}


def test_thumbs_make_no_reward_or_bedrock_rows_and_are_not_rating_records():
    dataset = build([], [thumb_line("s1", "t1", "up"), thumb_line("s2", "t1", "down")])

    assert dataset.records == 0  # the rating records: thumbs are counted apart
    assert dataset.train.reward == [] and dataset.train.bedrock_prompt_completion == []
    assert dataset.train.bedrock_conversation == [] and len(dataset.train.kto) == 2
    report = dataset.to_report()
    assert report["thumbs"] == {"records": 2, "used": 2, "superseded_by_rating": 0,
                                "bad_rows": {"total": 0, "by_reason": {}}}
    assert report["options"]["thumbs_weight"] == 0.5  # the default


def test_an_expert_rating_of_the_same_answer_wins_over_the_thumb_and_is_counted():
    dataset = build([rating_line("s1", "t1", 5)], [thumb_line("s1", "t1", "down"), thumb_line("s1", "t2", "up")])

    assert [(r["turn_id"], r["source"], r["label"]) for r in dataset.train.kto] == [
        ("t1", "groundtruth", True), ("t2", "thumbs", True)]
    assert dataset.to_report()["thumbs"]["superseded_by_rating"] == 1
    assert dataset.to_report()["thumbs"]["used"] == 1


def test_the_later_thumb_of_an_answer_wins_and_the_earlier_counts_as_a_duplicate():
    dataset = build_dataset([], DatasetOptions(eval_fraction=0.0), [
        ("thumbs/run-1.jsonl", [thumb_line("s1", "t1", "down")]), ("thumbs/run-2.jsonl", [thumb_line("s1", "t1", "up")])])

    assert [r["label"] for r in dataset.train.kto] == [True]
    assert dataset.thumbs.bad_rows.to_dict()["by_reason"] == {"duplicate": {"count": 1,
                                                                            "examples": ["thumbs/run-1.jsonl:1"]}}


@pytest.mark.parametrize("bad, reason", [
    ("{not json", "invalid_json"),
    ("[1, 2]", "not_an_object"),
    (thumb_line(thumb=None), "missing_field"),
    (thumb_line(given_at=None), "missing_field"),
    (thumb_line(schema_version=2), "wrong_schema_version"),
    (thumb_line(thumb="sideways"), "invalid_thumb"),
    (thumb_line(comment="x" * (MAX_COMMENT_CHARS + 1)), "invalid_comment"),
    (thumb_line(source="groundtruth"), "invalid_source"),
    (thumb_line(answer="   "), "empty_text"),
    (thumb_line(question=""), "empty_text"),
    (thumb_line(session_id=7), "invalid_record"),
])
def test_a_bad_thumb_row_is_counted_apart_with_its_location_and_the_rest_is_built(bad, reason):
    dataset = build([rating_line("s1", "t1", 5)], [thumb_line("s1", "t2", "up"), bad, ""])

    assert dataset.thumbs.bad_rows.to_dict()["by_reason"] == {reason: {"count": 1, "examples": [f"{THUMBS_FILE}:2"]}}
    assert dataset.bad_rows.total == 0  # the ratings' own bad rows are another count
    assert [r["source"] for r in dataset.train.kto] == ["groundtruth", "thumbs"]


def test_thumbs_join_the_split_by_session():
    thumbs = [thumb_line(f"s{i}", "t1", "down") for i in range(40)]
    dataset = build_dataset([], DatasetOptions(eval_fraction=0.25), [(THUMBS_FILE, thumbs)])

    train = {r["session_id"] for r in dataset.train.kto}
    held_out = {r["session_id"] for r in dataset.eval.kto}
    assert train and held_out and not train & held_out and len(train | held_out) == 40


@pytest.mark.parametrize("weight", [0, -0.5, 1.5, float("nan"), "0.5", True])
def test_the_thumbs_weight_is_above_zero_and_at_most_an_expert_ratings(weight):
    with pytest.raises(DatasetError) as error:
        DatasetOptions(thumbs_weight=weight)
    assert error.value.field == "thumbs_weight"


def test_written_kto_rows_with_a_weight_are_read_back_and_a_bad_weight_is_refused():
    row = {"prompt": "p", "completion": "c", "label": False, "session_id": "s", "turn_id": "t", "source": "thumbs",
           "weight": 0.5}
    assert read_rows([json.dumps(row)], "kto", "train/kto.jsonl") == [row]
    with pytest.raises(DatasetError) as error:
        read_rows([json.dumps({**row, "weight": 2})], "kto", "train/kto.jsonl")
    assert error.value.field == "weight"


def test_a_thumb_record_round_trips_and_refuses_what_is_not_a_thumb():
    record = ThumbRecord.from_dict(thumb())
    assert ThumbRecord.from_dict(record.to_dict()) == record and record.label is False
    for changes, field in (({"thumb": "meh"}, "thumb"), ({"source": "import"}, "source"),
                           ({"comment": "\ud800"}, "comment"), ({"schema_version": 3}, "schema_version")):
        with pytest.raises(FeedbackFormatError) as error:
            ThumbRecord.from_dict(thumb(**changes))
        assert error.value.field == field
