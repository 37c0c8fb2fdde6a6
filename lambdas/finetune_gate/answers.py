"""The gate's input: the base and the tuned model's answers to the held-out questions, as the training job
writes them (JSON Lines, UTF-8, one object per question):

    {"schema_version": 1, "question_id": "s12/t3", "question": "How do I reset my password?",
     "base_answer": "...", "tuned_answer": "...", "system": "You are Tandem's support assistant."}

    schema_version  optional, 1 (the only version so far; absent means 1)
    question_id     required, a non-blank string, unique in the file (the held-out row's session/turn, say)
    question        required, a non-blank string: the prompt both models answered
    base_answer     required, a string (may be empty: an empty answer is a bad answer, not a bad line)
    tuned_answer    required, a string (likewise)
    system          optional, a string: the system prompt both models were given, shown to the judge

Other fields are ignored, so the job may add its own (generation settings, timings). A line that breaks
these rules is not a question the judge can read: `read_questions` keeps it as an `Unreadable` (its line
number and the field at fault, never its text), and the gate counts it as a judge failure, never a win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from lambdas.common.feedback import is_unicode

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Question:
    question_id: str
    question: str
    base_answer: str
    tuned_answer: str
    system: str = ""


@dataclass(frozen=True)
class Unreadable:
    """A line that holds no question: where it is and why (the field at fault), for the report."""

    line: int
    problem: str

    @property
    def question_id(self) -> str:
        return f"line {self.line}"


def _text(data: dict, name: str, *, required: bool = True, allow_empty: bool = False) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if not allow_empty and not value.strip():
        raise ValueError(f"{name} must not be blank")
    if not is_unicode(value):
        raise ValueError(f"{name} is not valid Unicode")
    return value


def parse_line(line: bytes | str) -> Question:
    """One line as a Question; ValueError naming the field at fault."""
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        raise ValueError("the line is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the line is not a JSON object")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(f"schema_version must be {SCHEMA_VERSION}")
    return Question(question_id=_text(data, "question_id"), question=_text(data, "question"),
                    base_answer=_text(data, "base_answer", allow_empty=True),
                    tuned_answer=_text(data, "tuned_answer", allow_empty=True),
                    system=_text(data, "system", required=False, allow_empty=True))


def read_questions(lines: Iterable[bytes | str]) -> list[Question | Unreadable]:
    """Every non-blank line, in order: a Question, or an Unreadable for a bad line or a repeated question_id
    (the first one counts)."""
    found: list[Question | Unreadable] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = parse_line(line)
        except ValueError as error:
            found.append(Unreadable(number, str(error)))
            continue
        if question.question_id in seen:
            found.append(Unreadable(number, "question_id repeats an earlier line's"))
            continue
        seen.add(question.question_id)
        found.append(question)
    return found
