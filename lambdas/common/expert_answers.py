"""Experts' answers as training examples: what an expert answered in a resolved escalation becomes a candidate
"gold" answer, a rating admin reviews it in the rating console (accept, edit, discard), and an accepted one is
an ExpertAnswerRecord the dataset builder trains on (lambdas/common/training_data.py).

Candidates (`candidates_of`, pure). In an escalation resolved inside the window, from the customer turn that
escalated to the moment it was resolved: each run of expert turns that follows one or more customer turns is
one candidate. Its question is those customer turns (joined by a line break), its answer the run of expert
turns, and `replaced` what the bot had answered to those questions: the model's answer withheld on the hand-off
turn (transcript.Withheld), or a bot answer given while the escalation waited. An expert turn with no customer
turn before it since the last answer joins that answer (a second message of the same reply). Greetings come out
as candidates too ("Hi, I'm Anna"): the review is where a person discards them.

The review queue is lambdas/common/expert_answer_queue.py. This module is pure (no boto3): the training job
reads the records with it (stacks/constructs/training_code.py ships it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdas.common.feedback import FeedbackFormatError, text_field
from lambdas.common.transcript import IDENTIFIER, Transcript, Turn

EXPERT_ANSWER_SOURCE = "expert_answer"  # an ExpertAnswerRecord's `source`, and its training rows'
EXPERT_ANSWERS_PREFIX = "expert-answers/"  # where accepted answers go in the ratings bucket
EXPERT_ANSWER_SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 20_000  # as a labeling item's attribute (Ground Truth's limit): what raters are shown


@dataclass(frozen=True)
class ExpertAnswer:
    """A candidate: an expert's answer to a customer's question, and what the bot had answered instead."""

    escalation_id: str
    session_id: str
    turn_id: str  # the expert's first turn of the answer
    question: str
    answer: str
    resolved_at: str
    answered_at: str = ""  # when the expert's first turn of the answer was written (orders one escalation's answers)
    replaced: str = ""  # the bot's answer it replaced; empty when the bot gave none
    replaced_model_id: str = ""

    @property
    def candidate_id(self) -> str:
        return f"{self.escalation_id}.{self.turn_id}"

    def to_dict(self) -> dict[str, Any]:
        return {"escalation_id": self.escalation_id, "session_id": self.session_id, "turn_id": self.turn_id,
                "question": self.question, "answer": self.answer, "resolved_at": self.resolved_at,
                "answered_at": self.answered_at,
                "replaced": self.replaced, "replaced_model_id": self.replaced_model_id}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ExpertAnswer":
        return cls(escalation_id=data["escalation_id"], session_id=data["session_id"], turn_id=data["turn_id"],
                   question=data["question"], answer=data["answer"], resolved_at=data["resolved_at"],
                   answered_at=data.get("answered_at", ""),
                   replaced=data.get("replaced", ""), replaced_model_id=data.get("replaced_model_id", ""))


def checked_text(data: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    """text_field's rule, bounded as a labeling item's texts; an optional text may be missing (empty)."""
    given = {name: data.get(name, "")} if allow_empty else data
    return text_field(given, name, allow_empty=allow_empty, max_chars=MAX_TEXT_CHARS)


@dataclass(frozen=True)
class ExpertAnswerRecord:
    """An accepted expert answer (one JSON line of expert-answers/...): a question and an answer a person chose
    as right, for the supervised rows and as a desirable answer for preference training."""

    session_id: str
    turn_id: str
    escalation_id: str
    question: str
    answer: str  # as accepted: the expert's words, or the reviewer's edit of them
    reviewer: str
    reviewed_at: str
    expert_answer: str = ""  # the expert's own words, when the reviewer edited them (else `answer` is)
    replaced: str = ""
    replaced_model_id: str = ""
    source: str = EXPERT_ANSWER_SOURCE
    schema_version: int = EXPERT_ANSWER_SCHEMA_VERSION

    @property
    def edited(self) -> bool:
        return bool(self.expert_answer)

    def to_dict(self) -> dict[str, Any]:
        data = {"schema_version": self.schema_version, "source": self.source, "session_id": self.session_id,
                "turn_id": self.turn_id, "escalation_id": self.escalation_id, "question": self.question,
                "answer": self.answer, "reviewer": self.reviewer, "reviewed_at": self.reviewed_at}
        for name in ("expert_answer", "replaced", "replaced_model_id"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> "ExpertAnswerRecord":
        if not isinstance(data, dict):
            raise FeedbackFormatError("record", "must be a JSON object")
        if data.get("schema_version") != EXPERT_ANSWER_SCHEMA_VERSION:
            raise FeedbackFormatError("schema_version", f"must be {EXPERT_ANSWER_SCHEMA_VERSION}")
        if data.get("source") != EXPERT_ANSWER_SOURCE:
            raise FeedbackFormatError("source", f"must be {EXPERT_ANSWER_SOURCE}")
        return cls(session_id=checked_text(data, "session_id"), turn_id=checked_text(data, "turn_id"),
                   escalation_id=checked_text(data, "escalation_id"), question=checked_text(data, "question"), answer=checked_text(data, "answer"),
                   reviewer=checked_text(data, "reviewer"), reviewed_at=checked_text(data, "reviewed_at"),
                   expert_answer=checked_text(data, "expert_answer", allow_empty=True),
                   replaced=checked_text(data, "replaced", allow_empty=True),
                   replaced_model_id=checked_text(data, "replaced_model_id", allow_empty=True))


def record_key(escalation_id: str, turn_id: str) -> str:
    return f"{EXPERT_ANSWERS_PREFIX}{escalation_id}/{turn_id}.jsonl"


# Candidates (pure) --------------------------------------------------------------------------------------

def _answer(escalation_id: str, session_id: str, resolved_at: str, questions: list[Turn], answers: list[Turn],
            replaced: tuple[str, str]) -> ExpertAnswer:
    return ExpertAnswer(escalation_id=escalation_id, session_id=session_id, turn_id=answers[0].turn_id,
                        question="\n".join(t.text.strip() for t in questions),
                        answer="\n".join(t.text.strip() for t in answers), resolved_at=resolved_at,
                        answered_at=answers[0].created_at,
                        replaced=replaced[0], replaced_model_id=replaced[1])


def candidates_of(transcript: Transcript, *, start: str, end: str) -> list[ExpertAnswer]:
    """The candidates of the transcript's escalations resolved in (start, end] (ISO times, compared as text)."""
    found: list[ExpertAnswer] = []
    for escalation in transcript.escalations:
        resolved_at = escalation.resolved_at
        if escalation.status != "resolved" or not resolved_at or not start < resolved_at <= end:
            continue
        if not (IDENTIFIER.fullmatch(escalation.escalation_id) and IDENTIFIER.fullmatch(transcript.session_id)):
            continue
        first = next((i for i, t in enumerate(transcript.turns) if t.turn_id == escalation.turn_id), None)
        if first is None:
            continue
        questions: list[Turn] = []
        answers: list[Turn] = []
        replaced = ("", "")
        for turn in transcript.turns[first:]:
            if turn.created_at > resolved_at:
                break
            if turn.role == "customer" and turn.text.strip():
                if answers:  # a new question: the answer before it is complete
                    found.append(_answer(escalation.escalation_id, transcript.session_id, resolved_at, questions,
                                         answers, replaced))
                    questions, answers, replaced = [], [], ("", "")
                questions.append(turn)
            elif turn.role == "system" and turn.withheld is not None and turn.withheld.text.strip():
                replaced = (turn.withheld.text, turn.withheld.model_id)
            elif turn.role == "bot" and not turn.error and turn.text.strip():
                replaced = (turn.text, turn.model_id or "")
            elif turn.role == "expert" and turn.text.strip() and questions and IDENTIFIER.fullmatch(turn.turn_id):
                answers.append(turn)
        if answers:
            found.append(_answer(escalation.escalation_id, transcript.session_id, resolved_at, questions, answers,
                                 replaced))
    return found
