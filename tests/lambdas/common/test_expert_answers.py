"""Experts' answers: which turns of a resolved escalation become candidates, and the review queue in moto's
ratings table (as FeedbackStack defines it) with its records in the labeling bucket."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.common.expert_answer_queue import ExpertAnswerQueue, ReviewRefused
from lambdas.common.expert_answers import ExpertAnswer, ExpertAnswerRecord, candidates_of, record_key
from lambdas.common.feedback import FeedbackFormatError
from lambdas.common.transcript import EscalationRecord, Transcript, Turn, Withheld

TABLE = "tandem-ratings-gold"
BUCKET = "tandem-labeling-gold"
START, END = "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z"


def at(minute: int) -> str:
    return f"2026-12-01T10:{minute:02d}:00.000000Z"


def turn(role: str, text: str, minute: int, turn_id: str, **extra: Any) -> Turn:
    return Turn(role=role, text=text, created_at=at(minute), turn_id=turn_id, **extra)  # type: ignore[arg-type]


def conversation(*, status: str = "resolved", resolved_at: str | None = at(30)) -> Transcript:
    """A customer escalates (the model's answer withheld), asks again while waiting (the bot answers), the
    expert answers in two messages, the customer asks a follow-up, the expert answers it, resolves; the
    customer writes once more after the hand-back."""
    turns = [
        turn("customer", "Hello", 0, "c0"),
        turn("bot", "Hi! How can I help?", 0, "b0", model_id="m1"),
        turn("customer", "My router keeps dropping the line, this is useless", 1, "c1"),
        turn("system", "A human expert is on the way.", 1, "h1",
             withheld=Withheld(text="Try restarting the router.", model_id="m1")),
        turn("customer", "Which cable is the WAN one?", 2, "c2"),
        turn("bot", "The WAN cable is the blue one.", 2, "b2", model_id="m1"),
        turn("expert", "The WAN port is the yellow one.", 5, "e1"),
        turn("expert", "Then hold reset for 10 seconds.", 6, "e2"),
        turn("customer", "And my bill?", 7, "c3"),
        turn("expert", "Your bill is unchanged.", 8, "e3"),
        turn("system", "You are back with the assistant.", 30, "h2"),
        turn("customer", "Thanks", 31, "c4"),
        turn("bot", "You are welcome.", 31, "b4", model_id="m1"),
    ]
    escalation = EscalationRecord(session_id="session-1", reason="negative_sentiment", turn_id="c1",
                                  escalation_id="esc-1", status=status, requested_at=at(1),  # type: ignore[arg-type]
                                  accepted_by="expert-1", resolved_at=resolved_at)
    return Transcript(session_id="session-1", started_at=at(0), updated_at=at(31), turns=turns,
                      escalations=[escalation])


def test_each_expert_answer_of_a_resolved_escalation_is_a_candidate_with_the_bot_answer_it_replaced():
    first, second = candidates_of(conversation(), start=START, end=END)

    assert first == ExpertAnswer(
        escalation_id="esc-1", session_id="session-1", turn_id="e1",
        question="My router keeps dropping the line, this is useless\nWhich cable is the WAN one?",
        answer="The WAN port is the yellow one.\nThen hold reset for 10 seconds.", resolved_at=at(30),
        answered_at=at(5), replaced="The WAN cable is the blue one.", replaced_model_id="m1")
    assert (second.turn_id, second.question, second.answer, second.replaced) == (
        "e3", "And my bill?", "Your bill is unchanged.", "")
    assert first.candidate_id == "esc-1.e1"


def test_the_withheld_answer_is_the_one_replaced_when_the_bot_said_nothing_else():
    transcript = conversation()
    transcript.turns = [t for t in transcript.turns if t.turn_id not in ("c2", "b2")]
    first, _ = candidates_of(transcript, start=START, end=END)
    assert (first.question, first.replaced) == ("My router keeps dropping the line, this is useless",
                                                 "Try restarting the router.")


@pytest.mark.parametrize("status, resolved_at", [("timed_out", None), ("accepted", None),
                                                 ("resolved", "2026-11-30T10:00:00Z"),  # before the window
                                                 ("resolved", "2026-12-02T00:00:01Z")])  # after it
def test_only_escalations_resolved_in_the_window_give_candidates(status, resolved_at):
    assert candidates_of(conversation(status=status, resolved_at=resolved_at), start=START, end=END) == []


def test_turns_after_the_resolution_are_not_part_of_an_answer():
    transcript = conversation(resolved_at=at(7))  # resolved before the follow-up was answered
    assert [c.turn_id for c in candidates_of(transcript, start=START, end=END)] == ["e1"]


# The queue --------------------------------------------------------------------------------------------

class Clock:
    now = 1_796_100_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def queue(aws) -> ExpertAnswerQueue:
    aws.create("ratings_table", TABLE)
    aws.create("labeling_bucket", BUCKET)
    return ExpertAnswerQueue(table_name=TABLE, ratings_bucket=BUCKET, clock=Clock())


def stored_record(aws, candidate: ExpertAnswer) -> dict[str, Any] | None:
    try:
        body = aws.s3.get_object(Bucket=BUCKET, Key=record_key(candidate.escalation_id, candidate.turn_id))["Body"]
    except ClientError:
        return None
    [line] = body.read().decode().splitlines()
    return json.loads(line)


def test_candidates_are_queued_once_however_often_a_run_sees_them(queue):
    candidates = candidates_of(conversation(), start=START, end=END)
    assert queue.add(candidates) == (2, 0)
    assert queue.add(candidates) == (0, 2)
    pending, rewritten = queue.pending()
    assert [q.candidate for q in pending] == candidates and rewritten == 0


def test_one_escalations_answers_wait_in_the_order_they_were_given_whatever_their_ids(queue):
    transcript = conversation()
    renamed = {"e1": "zz-first", "e3": "aa-second"}  # turn ids are random UUIDs: they need not sort by time
    transcript.turns = [replace(t, turn_id=renamed.get(t.turn_id, t.turn_id)) for t in transcript.turns]
    queue.add(candidates_of(transcript, start=START, end=END))
    assert [q.candidate.turn_id for q in queue.pending()[0]] == ["zz-first", "aa-second"]


def test_an_accepted_answer_is_written_as_a_record_and_leaves_the_queue(aws, queue):
    first, second = candidates_of(conversation(), start=START, end=END)
    queue.add([first, second])
    record = queue.accept(first.candidate_id, "admin-1")

    assert stored_record(aws, first) == record.to_dict()
    assert (record.answer, record.edited, record.replaced, record.source) == (
        first.answer, False, "The WAN cable is the blue one.", "expert_answer")
    assert ExpertAnswerRecord.from_dict(record.to_dict()) == record
    assert [q.candidate.turn_id for q in queue.pending()[0]] == ["e3"]


def test_an_edited_answer_keeps_the_experts_own_words_beside_it(aws, queue):
    first, _ = candidates_of(conversation(), start=START, end=END)
    queue.add([first])
    record = queue.accept(first.candidate_id, "admin-1", question="Which port is WAN?",
                          answer="The WAN port is the yellow one; then hold reset for 10 seconds.")
    stored = stored_record(aws, first)
    assert stored is not None and stored["question"] == "Which port is WAN?"
    assert stored["answer"] == "The WAN port is the yellow one; then hold reset for 10 seconds."
    assert stored["expert_answer"] == first.answer and record.edited


def test_a_retried_accept_answers_as_the_first_and_any_other_second_review_is_refused(queue):
    first, second = candidates_of(conversation(), start=START, end=END)
    queue.add([first, second])
    record = queue.accept(first.candidate_id, "admin-1")
    assert queue.accept(first.candidate_id, "admin-1") == record
    with pytest.raises(ReviewRefused) as other_admin:
        queue.accept(first.candidate_id, "admin-2")
    with pytest.raises(ReviewRefused) as discard:
        queue.discard(first.candidate_id, "admin-1")
    assert other_admin.value.code == discard.value.code == "reviewed"
    queue.discard(second.candidate_id, "admin-2")
    queue.discard(second.candidate_id, "admin-2")  # a retried discard
    with pytest.raises(ReviewRefused) as accept_discarded:
        queue.accept(second.candidate_id, "admin-2")
    assert accept_discarded.value.code == "reviewed"
    assert queue.pending() == ([], 0)


def test_bad_reviews_are_refused_naming_the_field_and_change_nothing(aws, queue):
    first, _ = candidates_of(conversation(), start=START, end=END)
    queue.add([first])
    for kwargs, field in (({"answer": "  "}, "answer"), ({"question": ""}, "question"),
                          ({"answer": "x" * 20_001}, "answer"), ({"answer": "\ud800"}, "answer")):
        with pytest.raises(ReviewRefused) as refused:
            queue.accept(first.candidate_id, "admin-1", **kwargs)
        assert (refused.value.code, refused.value.field) == ("invalid", field)
    for missing in ("esc-1.nope", "not an id", ""):
        with pytest.raises(ReviewRefused) as unknown:
            queue.accept(missing, "admin-1")
        assert unknown.value.code == "not_found"
    assert stored_record(aws, first) is None and len(queue.pending()[0]) == 1


def test_an_accept_whose_record_could_not_be_written_is_written_by_the_next_read_of_the_queue(aws, queue,
                                                                                              monkeypatch):
    first, _ = candidates_of(conversation(), start=START, end=END)
    queue.add([first])
    real = clients.client("s3")

    class Unavailable:
        def put_object(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "PutObject")

    monkeypatch.setattr(queue, "_s3", lambda: Unavailable())
    with pytest.raises(ClientError):
        queue.accept(first.candidate_id, "admin-1")
    assert stored_record(aws, first) is None
    monkeypatch.setattr(queue, "_s3", lambda: real)
    pending, rewritten = queue.pending()
    assert pending == [] and rewritten == 1  # the decision stood; its record is written now
    stored = stored_record(aws, first)
    assert stored is not None and stored["reviewer"] == "admin-1"
    assert queue.pending() == ([], 0)  # written once: it left the index


def test_two_admins_accepting_at_once_get_one_success_and_one_refusal(queue, monkeypatch):
    first, _ = candidates_of(conversation(), start=START, end=END)
    queue.add([first])
    row = queue._row(first.candidate_id)
    # The second admin read the row while it was still pending: their conditional write is what refuses them.
    queue.accept(first.candidate_id, "admin-1")
    monkeypatch.setattr(queue, "_row", lambda candidate_id: row)
    with pytest.raises(ReviewRefused) as late:
        queue.accept(first.candidate_id, "admin-2")
    assert late.value.code == "reviewed"


def test_a_record_reads_back_only_in_its_own_format():
    record = ExpertAnswerRecord(session_id="s", turn_id="t", escalation_id="e", question="q?", answer="a.",
                                reviewer="r", reviewed_at="2026-12-01T00:00:00Z")
    for change, field in (({"source": "console"}, "source"), ({"schema_version": 2}, "schema_version"),
                          ({"answer": ""}, "answer"), ({"question": 3}, "question")):
        with pytest.raises(FeedbackFormatError) as bad:
            ExpertAnswerRecord.from_dict({**record.to_dict(), **change})
        assert bad.value.field == field
