"""Accepted experts' answers in the dataset builder: each is a well-rated example (reward 1, a desirable KTO row
with its own source, the Bedrock supervised rows), split with its session, reported apart, and a bad line is
counted by reason without failing the build."""

from __future__ import annotations

import json

from lambdas.common.training_data import DatasetOptions, build_dataset
from tests.lambdas.common.test_training_data import line


def expert_answer(session: str = "s1", turn: str = "e1", **changes) -> dict:
    """An ExpertAnswerRecord line as the rating API writes it (lambdas/common/expert_answers.py)."""
    data = {"schema_version": 1, "source": "expert_answer", "session_id": session, "turn_id": turn,
            "escalation_id": f"x-{session}", "question": f"question {session}?", "answer": f"expert answer {session}.",
            "reviewer": "admin-1", "reviewed_at": "2026-12-01T10:00:00Z", "replaced": "the bot's answer"}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def build(ratings: list[str], answers: list[str], **options):
    return build_dataset([("ratings/a.jsonl", ratings)], DatasetOptions(**options),
                         expert_answers=[("expert-answers/x/e.jsonl", answers)])


def test_an_accepted_expert_answer_is_a_well_rated_example_in_every_format():
    dataset = build([line("s1", "t1", 2)], [json.dumps(expert_answer("s1"))], eval_fraction=0.0,
                    system_prompt="Be brief.")
    train = dataset.train

    reward = [row for row in train.reward if row["turn_id"] == "e1"]
    assert reward == [{"prompt": "question s1?", "response": "expert answer s1.", "reward": 1.0, "rating": 5,
                       "session_id": "s1", "turn_id": "e1", "system": "Be brief."}]
    assert [(row["completion"], row["label"], row["source"], row["weight"]) for row in train.kto] == [
        ("answer s1/t1", False, "groundtruth", 1.0), ("expert answer s1.", True, "expert_answer", 1.0)]
    assert train.bedrock_prompt_completion == [{"prompt": "question s1?", "completion": "expert answer s1."}]
    assert train.bedrock_conversation[0]["messages"][1] == {"role": "assistant",
                                                           "content": [{"text": "expert answer s1."}]}
    assert train.counts()["kto_by_source"]["expert_answer"] == {"kto_true": 1, "kto_false": 0}
    assert dataset.to_report()["expert_answers"] == {"records": 1, "bad_rows": {"total": 0, "by_reason": {}}}
    assert dataset.records == 1  # the rating records; the experts' answers are counted apart


def test_an_expert_answer_goes_to_the_same_side_of_the_split_as_its_session():
    ratings = [line(f"s{i}", "t1", 4) for i in range(40)]
    answers = [json.dumps(expert_answer(f"s{i}")) for i in range(40)]
    dataset = build(ratings, answers, eval_fraction=0.3)
    for split in (dataset.train, dataset.eval):
        sessions = {row["session_id"] for row in split.kto if row["source"] == "expert_answer"}
        assert sessions == {row["session_id"] for row in split.kto if row["source"] == "groundtruth"}
    assert dataset.eval.kto  # both sides hold some


def test_bad_expert_answer_lines_are_counted_by_reason_and_the_good_ones_used():
    lines = ["not json", json.dumps(expert_answer("s1", source="console")), json.dumps(expert_answer("s2", answer=" ")),
             json.dumps(expert_answer("s3", reviewer=None)), json.dumps(expert_answer("s4", schema_version=2)),
             json.dumps(expert_answer("s5")), json.dumps(expert_answer("s5", answer="a later edit."))]
    dataset = build([], lines, eval_fraction=0.0)

    bad = dataset.to_report()["expert_answers"]["bad_rows"]["by_reason"]
    assert {reason: found["count"] for reason, found in bad.items()} == {
        "invalid_json": 1, "invalid_source": 1, "empty_text": 1, "missing_field": 1, "wrong_schema_version": 1,
        "duplicate": 1}
    assert [row["completion"] for row in dataset.train.kto] == ["a later edit."]
    assert dataset.bad_rows.total == 0  # the rating records' own count is untouched
