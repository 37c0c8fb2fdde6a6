"""The dataset builder on its own: each row format, the rating thresholds, the split by session, every kind
of bad row, Bedrock's limits, and the reader training/ uses for the written files."""

from __future__ import annotations

import json
import math
import random

import pytest

from lambdas.common import training_data
from lambdas.common.training_data import (
    BEDROCK_MAX_RECORD_CHARS,
    BEDROCK_MAX_RECORDS,
    BEDROCK_MAX_VALIDATION_RECORDS,
    KTO_FILE,
    MAX_EXAMPLES,
    REWARD_FILE,
    DatasetError,
    DatasetOptions,
    build_dataset,
    read_rows,
    split_sessions,
    to_jsonl,
)

REQUIRED = ("session_id", "turn_id", "question", "answer", "rating", "ratings", "agreement", "source")


def record(session: str = "s1", turn: str = "t1", rating: float = 4, **changes) -> dict:
    """A rating record as the post-annotation Lambda writes it; a change to None removes the field."""
    # The workers' values match a valid median; a bad `rating` is then the only thing wrong.
    valid = isinstance(rating, (int, float)) and not isinstance(rating, bool) and 1 <= rating <= 5
    workers = rating if valid else 4
    data = {"schema_version": 1, "session_id": session, "turn_id": turn, "question": f"question {session}/{turn}",
            "answer": f"answer {session}/{turn}", "rating": rating,
            "ratings": [{"worker_id": "w1", "value": math.floor(workers)},
                        {"worker_id": "w2", "value": math.ceil(workers)}],
            "agreement": 1.0 if workers == int(workers) else 0.5, "source": "groundtruth"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def line(session: str = "s1", turn: str = "t1", rating: float = 4, **changes) -> str:
    return json.dumps(record(session, turn, rating, **changes))


def build(*lines: str, source: str = "ratings/a.jsonl", **options):
    return build_dataset([(source, list(lines))], DatasetOptions(**options))


def everything_in_train(*lines: str, **options):
    """One session only, so that every row lands in train."""
    return build(*lines, eval_fraction=0.0, **options).train


def many_sessions(count: int, rating: float = 4, prefix: str = "s") -> list[str]:
    return [line(f"{prefix}{i}", "t1", rating) for i in range(count)]


# Reward rows --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rating, reward", [(1, -1.0), (1.5, -0.75), (2, -0.5), (3, 0.0), (4.5, 0.75), (5, 1.0)])
def test_the_reward_is_the_rating_scaled_to_minus_one_to_one(rating, reward):
    (row,) = everything_in_train(line(rating=rating)).reward

    assert row == {"prompt": "question s1/t1", "response": "answer s1/t1", "reward": reward,
                   "rating": float(rating), "session_id": "s1", "turn_id": "t1"}


def test_every_accepted_record_gives_a_reward_row_including_the_middle_ratings():
    split = everything_in_train(line(turn="a", rating=1), line(turn="b", rating=3), line(turn="c", rating=3.5))

    assert [row["turn_id"] for row in split.reward] == ["a", "b", "c"]


def test_weighting_by_agreement_scales_the_reward():
    lines = [line(turn="a", rating=5, agreement=0.6667), line(turn="b", rating=1, agreement=0.5),
             line(turn="c", rating=4, agreement=0.0)]

    weighted = everything_in_train(*lines, weight_by_agreement=True).reward
    plain = everything_in_train(*lines).reward

    assert [row["reward"] for row in weighted] == [0.6667, -0.5, 0.0]
    assert [row["reward"] for row in plain] == [1.0, -1.0, 0.5]


@pytest.mark.parametrize("weight", [False, True])
def test_rewards_stay_within_minus_one_and_one(weight):
    lines = [line(turn=f"t{i}", rating=rating, agreement=agreement)
             for i, (rating, agreement) in enumerate((r / 2, a) for r in range(2, 11) for a in (0.0, 0.5, 1.0))]

    rewards = [row["reward"] for row in everything_in_train(*lines, weight_by_agreement=weight).reward]

    assert len(rewards) == 27
    assert min(rewards) == -1.0 and max(rewards) == 1.0
    assert all(-1 <= r <= 1 for r in rewards)


# KTO rows -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rating, label", [
    (1, False), (1.5, False), (2, False), (2.5, None), (3, None), (3.5, None), (4, True), (4.5, True), (5, True),
])
def test_kto_labels_with_the_default_thresholds(rating, label):
    split = everything_in_train(line(rating=rating))

    if label is None:
        assert split.kto == [] and split.kto_dropped_middle == 1
    else:
        assert split.kto == [{"prompt": "question s1/t1", "completion": "answer s1/t1", "label": label,
                              "session_id": "s1", "turn_id": "t1", "source": "groundtruth", "weight": 1.0}]
        assert split.kto_dropped_middle == 0


@pytest.mark.parametrize("rating, label", [(1.5, False), (2, None), (4, None), (4.5, True)])
def test_kto_thresholds_come_from_the_options_and_may_sit_on_half_ratings(rating, label):
    split = everything_in_train(line(rating=rating), good_min_rating=4.5, bad_max_rating=1.5)

    assert [row["label"] for row in split.kto] == ([] if label is None else [label])


def test_the_dropped_middle_is_reported_per_split_and_not_as_bad_rows():
    dataset = build(line(turn="a", rating=3), line(turn="b", rating=2.5), line(turn="c", rating=5), eval_fraction=0)

    report = dataset.to_report()
    assert report["splits"]["train"]["kto_dropped_middle"] == 2
    assert (report["splits"]["train"]["kto_true"], report["splits"]["train"]["kto_false"]) == (1, 0)
    assert report["bad_rows"] == {"total": 0, "by_reason": {}}
    assert dataset.records == 3


# Bedrock rows -------------------------------------------------------------------------------------------

def test_bedrock_rows_hold_the_well_rated_answers_only():
    split = everything_in_train(line(turn="good", rating=4), line(turn="mid", rating=3.5),
                                line(turn="bad", rating=1), line(turn="best", rating=5))

    assert split.bedrock_prompt_completion == [{"prompt": "question s1/good", "completion": "answer s1/good"},
                                               {"prompt": "question s1/best", "completion": "answer s1/best"}]


def test_the_conversation_rows_follow_the_bedrock_conversation_schema_with_the_system_prompt():
    (row,) = everything_in_train(line(rating=5), system_prompt="You are Tandem's support assistant.") \
        .bedrock_conversation

    assert row == {"schemaVersion": "bedrock-conversation-2024",
                   "system": [{"text": "You are Tandem's support assistant."}],
                   "messages": [{"role": "user", "content": [{"text": "question s1/t1"}]},
                                {"role": "assistant", "content": [{"text": "answer s1/t1"}]}]}


def test_the_system_prompt_travels_with_the_reward_and_kto_rows_when_given():
    with_system = everything_in_train(line(rating=5), system_prompt="You are Tandem's support assistant.")
    assert with_system.reward[0]["system"] == with_system.kto[0]["system"] == "You are Tandem's support assistant."
    without = everything_in_train(line(rating=5))
    assert "system" not in without.reward[0] and "system" not in without.kto[0]


def test_without_a_system_prompt_the_conversation_rows_have_no_system():
    (row,) = everything_in_train(line(rating=5)).bedrock_conversation

    assert "system" not in row
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]


def test_the_bedrock_limits_are_the_documented_ones():
    # 4,096 tokens per record at a conservative 4 characters a token; 10,000 records per job, 1,000 held out.
    assert BEDROCK_MAX_RECORD_CHARS == 16_384
    assert (BEDROCK_MAX_RECORDS, BEDROCK_MAX_VALIDATION_RECORDS) == (10_000, 1_000)


def test_a_record_over_the_bedrock_bound_is_left_out_of_the_bedrock_files_only():
    long_answer = "x" * (BEDROCK_MAX_RECORD_CHARS - len("question s1/big") + 1)
    dataset = build(line(turn="big", rating=5, answer=long_answer), line(turn="ok", rating=5), eval_fraction=0)

    assert [row["turn_id"] for row in dataset.train.reward] == ["big", "ok"]
    assert [row["turn_id"] for row in dataset.train.kto] == ["big", "ok"]
    assert dataset.train.bedrock_prompt_completion == [{"prompt": "question s1/ok", "completion": "answer s1/ok"}]
    assert len(dataset.train.bedrock_conversation) == 1
    skipped = dataset.to_report()["bedrock"]["skipped"]
    for name in ("prompt_completion", "conversation"):
        assert skipped[name]["by_reason"] == {"exceeds_bedrock_limit": {"count": 1, "examples": ["ratings/a.jsonl:1"]}}
    assert dataset.bad_rows.total == 0  # still a good rating record


def test_a_record_exactly_at_the_bound_is_kept():
    answer = "x" * (BEDROCK_MAX_RECORD_CHARS - len("question s1/t1"))

    assert len(everything_in_train(line(rating=5, answer=answer)).bedrock_prompt_completion) == 1


def test_the_system_prompt_counts_toward_the_conversation_rows_bound():
    answer = "x" * (BEDROCK_MAX_RECORD_CHARS - len("question s1/t1") - 5)
    dataset = build(line(rating=5, answer=answer), eval_fraction=0, system_prompt="0123456789")

    assert len(dataset.train.bedrock_prompt_completion) == 1
    assert dataset.train.bedrock_conversation == []
    assert dataset.bedrock_skipped["conversation"].counts == {"exceeds_bedrock_limit": 1}


def test_bedrock_files_over_the_record_quota_are_cut_deterministically_and_reported(monkeypatch):
    monkeypatch.setattr(training_data, "BEDROCK_MAX_RECORDS", 30)
    monkeypatch.setattr(training_data, "BEDROCK_MAX_VALIDATION_RECORDS", 4)
    lines = many_sessions(100, rating=5)

    first = build(*lines, eval_fraction=0.2)
    second = build(*reversed(lines), eval_fraction=0.2)

    validation, train = first.eval.bedrock_prompt_completion, first.train.bedrock_prompt_completion
    assert len(validation) == 4 and len(train) == 26  # the quota is on the sum of the two files
    assert len(first.eval.reward) > 4 and len(first.train.reward) > 26  # the other formats are not cut
    assert sorted(map(json.dumps, train)) == sorted(map(json.dumps, second.train.bedrock_prompt_completion))
    assert sorted(map(json.dumps, validation)) == sorted(map(json.dumps, second.eval.bedrock_prompt_completion))
    truncated = first.to_report()["bedrock"]["truncated"]
    assert truncated["prompt_completion"] == {"train": len(first.train.reward) - 26,
                                              "validation": len(first.eval.reward) - 4}
    assert truncated["conversation"] == truncated["prompt_completion"]


def test_bedrock_files_under_the_quota_are_not_cut():
    dataset = build(*many_sessions(20, rating=5))

    assert dataset.to_report()["bedrock"]["truncated"]["prompt_completion"] == {"train": 0, "validation": 0}
    assert len(dataset.train.bedrock_prompt_completion) + len(dataset.eval.bedrock_prompt_completion) == 20


# Split by session ---------------------------------------------------------------------------------------

def test_no_session_is_in_both_splits_and_a_session_s_turns_stay_together():
    lines = [line(f"s{i}", f"t{j}", 4) for i in range(40) for j in range(3)]

    dataset = build(*lines)

    assert dataset.train.sessions and dataset.eval.sessions
    assert not dataset.train.sessions & dataset.eval.sessions
    assert {row["session_id"] for row in dataset.eval.reward} == dataset.eval.sessions
    assert len(dataset.train.reward) == 3 * len(dataset.train.sessions)
    assert len(dataset.eval.reward) == 3 * len(dataset.eval.sessions)


def test_the_split_is_deterministic_and_independent_of_the_order_of_the_records():
    lines = [line(f"s{i}", f"t{j}", 4) for i in range(50) for j in range(2)]
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)

    assert build(*lines).eval.sessions == build(*shuffled).eval.sessions == build(*lines).eval.sessions


def test_adding_records_moves_no_existing_session():
    before = build(*many_sessions(60))
    after = build(*many_sessions(60), *many_sessions(60, prefix="new"))

    assert before.eval.sessions <= after.eval.sessions
    assert before.train.sessions <= after.train.sessions


def test_the_seed_decides_the_split():
    lines = many_sessions(60)

    assert build(*lines, split_seed="a").eval.sessions != build(*lines, split_seed="b").eval.sessions


def test_about_the_eval_fraction_of_the_sessions_is_held_out():
    train, held_out = split_sessions([f"s{i}" for i in range(2000)], 0.2, "tandem")

    assert 0.17 < len(held_out) / 2000 < 0.23
    assert len(train) + len(held_out) == 2000


def test_two_sessions_and_a_tiny_fraction_still_hold_one_out():
    train, held_out = split_sessions(["a", "b"], 0.0001, "tandem")

    assert len(train) == 1 and len(held_out) == 1


def test_a_fraction_near_one_still_trains_on_one_session():
    train, held_out = split_sessions([f"s{i}" for i in range(5)], 0.9999, "tandem")

    assert len(train) == 1 and len(held_out) == 4


def test_a_zero_fraction_holds_nothing_out_and_a_single_session_is_trained_on():
    assert split_sessions(["a", "b", "c"], 0.0, "tandem") == ({"a", "b", "c"}, set())
    assert split_sessions(["only"], 0.9, "tandem") == ({"only"}, set())


# Bad rows -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, reason", [
    ("{not json", "invalid_json"),
    (b"\xff\xfe{}", "invalid_json"),
    ("[1, 2]", "not_an_object"),
    ('"a string"', "not_an_object"),
    ("42", "not_an_object"),
    *[(line(**{name: None}), "missing_field") for name in REQUIRED],
    (line(rating=0), "invalid_rating"),
    (line(rating=6), "invalid_rating"),
    (line(rating=3.3), "invalid_rating"),
    (line(rating="4"), "invalid_rating"),
    (line(rating=True), "invalid_rating"),
    (line(ratings=[{"worker_id": "w1", "value": 9}]), "invalid_rating"),
    (line(question="   "), "empty_text"),
    (line(answer=""), "empty_text"),
    (line(answer=" \n\t"), "empty_text"),
    (line(schema_version=2), "wrong_schema_version"),
    (line(source="somewhere"), "invalid_record"),
    (line(agreement=1.5), "invalid_record"),
    (line(ratings=[]), "invalid_record"),
    (line(session_id=7), "invalid_record"),
])
def test_a_bad_row_is_counted_by_reason_with_its_location(bad, reason):
    dataset = build(line("s1", "ok"), bad, source="ratings/job-7.jsonl")

    assert dataset.bad_rows.counts == {reason: 1}
    assert dataset.bad_rows.examples == {reason: ["ratings/job-7.jsonl:2"]}
    assert dataset.records == 1
    assert dataset.to_report()["bad_rows"]["by_reason"][reason] == {"count": 1, "examples": ["ratings/job-7.jsonl:2"]}


def test_a_nan_rating_is_an_invalid_rating():
    nan = line().replace('"rating": 4,', '"rating": NaN,')  # Python's json reads NaN; it is not a rating
    assert "NaN" in nan

    assert build(nan).bad_rows.counts == {"invalid_rating": 1}


def test_no_line_is_dropped_silently():
    lines = [line("s1", "a"), "", "nope", line("s2", "b", 3), "[]", "   ", line("s1", "a", 5), line(rating=9)]

    dataset = build(*lines)

    blank = 2
    assert dataset.records + dataset.bad_rows.total + blank == len(lines)
    assert dataset.bad_rows.counts == {"invalid_json": 1, "not_an_object": 1, "duplicate": 1, "invalid_rating": 1}


def test_only_the_first_examples_are_kept_but_every_bad_row_is_counted():
    dataset = build(*["oops"] * (MAX_EXAMPLES + 3), line())

    assert dataset.bad_rows.counts == {"invalid_json": MAX_EXAMPLES + 3}
    assert dataset.bad_rows.examples["invalid_json"] == [f"ratings/a.jsonl:{n}" for n in range(1, MAX_EXAMPLES + 1)]


def test_a_duplicate_turn_in_a_later_file_wins_and_the_earlier_one_is_counted():
    dataset = build_dataset([("ratings/a.jsonl", [line("s1", "t1", 1), line("s1", "t2", 2)]),
                             ("ratings/b.jsonl", [line("s1", "t1", 5, answer="the corrected answer")])],
                            DatasetOptions(eval_fraction=0))

    assert dataset.records == 2
    assert {row["turn_id"]: row["rating"] for row in dataset.train.reward} == {"t1": 5.0, "t2": 2.0}
    assert [row["response"] for row in dataset.train.reward if row["turn_id"] == "t1"] == ["the corrected answer"]
    assert dataset.bad_rows.examples == {"duplicate": ["ratings/a.jsonl:1"]}


def test_a_duplicate_within_one_file_keeps_the_later_line():
    dataset = build(line("s1", "t1", 1), line("s1", "t1", 4), eval_fraction=0)

    assert [row["rating"] for row in dataset.train.reward] == [4.0]
    assert dataset.bad_rows.examples == {"duplicate": ["ratings/a.jsonl:1"]}


def test_the_same_turn_id_in_two_sessions_is_not_a_duplicate():
    assert build(line("s1", "t1"), line("s2", "t1")).records == 2


def test_bytes_lines_with_a_byte_order_mark_are_read():
    dataset = build_dataset([("b.jsonl", [b"\xef\xbb\xbf" + line().encode(), line("s1", "t2").encode()])],
                            DatasetOptions())

    assert dataset.records == 2 and dataset.bad_rows.total == 0


def test_the_report_is_json_and_names_every_part():
    report = build(*many_sessions(10), "bad", system_prompt="secret-ish instructions").to_report()

    assert json.loads(json.dumps(report)) == report
    assert set(report) == {"records", "options", "splits", "bad_rows", "thumbs", "expert_answers", "same_content",
                           "bedrock"}
    assert report["options"]["system_prompt_chars"] == len("secret-ish instructions")
    assert "secret-ish" not in json.dumps(report)
    assert report["splits"]["train"]["sessions"] + report["splits"]["eval"]["sessions"] == 10
    assert report["bedrock"]["limits"] == {"max_records": 10_000, "max_validation_records": 1_000,
                                           "max_record_chars": 16_384}


# Options ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field", [
    ({"good_min_rating": 5.5}, "good_min_rating"),
    ({"bad_max_rating": 0.5}, "bad_max_rating"),
    ({"good_min_rating": 3, "bad_max_rating": 3}, "good_min_rating"),
    ({"good_min_rating": 2, "bad_max_rating": 4}, "good_min_rating"),
    ({"good_min_rating": "4"}, "good_min_rating"),
    ({"bad_max_rating": True}, "bad_max_rating"),
    ({"eval_fraction": 1.0}, "eval_fraction"),
    ({"eval_fraction": -0.1}, "eval_fraction"),
    ({"eval_fraction": float("nan")}, "eval_fraction"),
    ({"split_seed": ""}, "split_seed"),
    ({"weight_by_agreement": "yes"}, "weight_by_agreement"),
    ({"system_prompt": None}, "system_prompt"),
    ({"min_eval_rows": -1}, "min_eval_rows"),
    ({"min_eval_rows": 2.5}, "min_eval_rows"),
    ({"min_eval_rows": True}, "min_eval_rows"),
])
def test_bad_options_are_refused_naming_the_field(changes, field):
    with pytest.raises(DatasetError, match=field) as raised:
        DatasetOptions(**changes)

    assert raised.value.field == field


# Writing and reading rows -------------------------------------------------------------------------------

def test_written_rows_read_back_the_same():
    dataset = build(*many_sessions(10, rating=5), *many_sessions(10, rating=1, prefix="b"), eval_fraction=0)

    assert read_rows(to_jsonl(dataset.train.reward).splitlines(), "reward", REWARD_FILE) == dataset.train.reward
    assert read_rows(to_jsonl(dataset.train.kto).splitlines(keepends=True), "kto", KTO_FILE) == dataset.train.kto


def test_to_jsonl_writes_one_utf8_line_a_row():
    body = to_jsonl([{"prompt": "caf\u00e9 \u6ce8\u6587", "n": 1}, {"prompt": "line\nbreak"}])

    assert body.decode("utf-8").count("\n") == 2
    assert "caf\u00e9 \u6ce8\u6587".encode() in body
    assert to_jsonl([]) == b""


def test_read_rows_skips_blank_lines_and_a_byte_order_mark():
    row = {"prompt": "p", "completion": "c", "label": True, "session_id": "s", "turn_id": "t"}

    rows = read_rows([b"\xef\xbb\xbf" + json.dumps(row).encode(), b"", "  "], "kto", "kto.jsonl")

    assert rows == [row]


REWARD_ROW = {"prompt": "p", "response": "r", "reward": 0.5, "rating": 4.0, "session_id": "s", "turn_id": "t"}
KTO_ROW = {"prompt": "p", "completion": "c", "label": False, "session_id": "s", "turn_id": "t"}


@pytest.mark.parametrize("kind, bad, field", [
    ("reward", "{oops", "line"),
    ("reward", "[1]", "row"),
    ("reward", {**REWARD_ROW, "prompt": ""}, "prompt"),
    ("reward", {k: v for k, v in REWARD_ROW.items() if k != "response"}, "response"),
    ("reward", {**REWARD_ROW, "reward": 1.5}, "reward"),
    ("reward", {**REWARD_ROW, "reward": "0.5"}, "reward"),
    ("reward", {**REWARD_ROW, "rating": 0}, "rating"),
    ("reward", {**REWARD_ROW, "session_id": None}, "session_id"),
    ("kto", {**KTO_ROW, "label": "yes"}, "label"),
    ("kto", {**KTO_ROW, "label": 1}, "label"),
    ("kto", {k: v for k, v in KTO_ROW.items() if k != "completion"}, "completion"),
    ("kto", REWARD_ROW, "completion"),
    ("kto", {**KTO_ROW, "turn_id": 3}, "turn_id"),
    ("kto", {**KTO_ROW, "system": ""}, "system"),
    ("reward", {**REWARD_ROW, "system": ["be nice"]}, "system"),
])
def test_read_rows_names_the_file_line_and_field_of_a_bad_row(kind, bad, field):
    good = json.dumps(REWARD_ROW if kind == "reward" else KTO_ROW)
    lines = [good, bad if isinstance(bad, str) else json.dumps(bad)]

    with pytest.raises(DatasetError, match=f"^train/{kind}.jsonl:2: {field}" if field not in ("line", "row")
                       else f"^train/{kind}.jsonl:2: ") as raised:
        read_rows(lines, kind, f"train/{kind}.jsonl")

    assert raised.value.field == field
    assert raised.value.location == f"train/{kind}.jsonl:2"


def test_read_rows_refuses_an_unknown_kind():
    with pytest.raises(DatasetError, match="kind"):
        read_rows([], "dpo", "x.jsonl")  # type: ignore[arg-type]


def test_held_out_questions_are_the_first_distinct_question_and_system_pairs_in_order():
    rows = [{"prompt": "a"}, {"prompt": "a"}, {"prompt": "b", "system": "s"}, {"prompt": "b"}, {"prompt": "c"}]
    assert training_data.held_out_questions(rows, 10) == [("a", None), ("b", "s"), ("b", None), ("c", None)]
    assert training_data.held_out_questions(rows, 2) == [("a", None), ("b", "s")]
    assert training_data.held_out_questions(rows, 0) == []  # gate_questions 0: no answers written
