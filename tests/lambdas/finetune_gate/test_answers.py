"""The answers file the training job writes: what a question line must hold, and what becomes of one that
does not (kept as unreadable, named by line and field, never by its text)."""

from __future__ import annotations

import json

import pytest

from lambdas.finetune_gate.answers import Question, Unreadable, read_questions
from lambdas.finetune_gate.gate import select
from tests.lambdas.finetune_gate.conftest import answer_line


def test_a_line_is_a_question_with_its_two_answers_and_system_prompt():
    (question,) = read_questions([answer_line("s1/t1", extra="the job's own field")])

    assert question == Question(question_id="s1/t1", question="How do I reset my password? (s1/t1)",
                                base_answer="Try turning it off and on. (s1/t1)",
                                tuned_answer="Open Settings, then Security, then Reset password. (s1/t1)",
                                system="You are Tandem's support assistant.")


def test_the_schema_version_and_system_prompt_may_be_left_out_and_an_answer_may_be_empty():
    line = json.dumps({"question_id": "q", "question": "Why?", "base_answer": "", "tuned_answer": "Because."})

    assert read_questions([line]) == [Question("q", "Why?", "", "Because.", "")]


BAD_LINES = {
    "not JSON": ("{oops", "the line is not JSON"),
    "not an object": ("[1, 2]", "the line is not a JSON object"),
    "another schema version": (answer_line("q", schema_version=2), "schema_version must be 1"),
    "no question_id": (answer_line("q", question_id=None), "question_id must be a string"),
    "a blank question": (answer_line("q", question="  "), "question must not be blank"),
    "a number for an answer": (answer_line("q", tuned_answer=3), "tuned_answer must be a string"),
    "no base answer": (answer_line("q", base_answer=None), "base_answer must be a string"),
    "a system prompt that is not text": (answer_line("q", system=["x"]), "system must be a string"),
    "a lone surrogate": (answer_line("q").replace("Try", "\\ud800Try"), "base_answer is not valid Unicode"),
}


@pytest.mark.parametrize("line, problem", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_line_is_unreadable_named_by_its_number_and_field(line, problem):
    found = read_questions([answer_line("first"), "", line])

    assert found[1] == Unreadable(line=3, problem=problem)
    assert "password" not in problem and "Try" not in problem


def test_a_repeated_question_id_keeps_the_first_line():
    found = read_questions([answer_line("q1"), answer_line("q1", tuned_answer="other")])

    assert isinstance(found[0], Question) and found[0].tuned_answer.startswith("Open Settings")
    assert found[1] == Unreadable(line=2, problem="question_id repeats an earlier line's")


def test_more_questions_than_the_limit_are_a_fixed_sample_in_file_order():
    items = read_questions([answer_line(f"q{i}") for i in range(50)])

    chosen = select(items, 20)

    assert len(chosen) == 20 and chosen == select(list(reversed(items)), 20)[::-1]
    assert [items.index(item) for item in chosen] == sorted(items.index(item) for item in chosen)
    assert chosen != items[:20]  # not simply the first lines
    assert select(items, 50) == items
