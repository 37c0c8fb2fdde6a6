"""EscalationStore: the task tokens it keeps, and the conditional steps pending -> accepted -> resolved that
happen once however many people click."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import pytest

from lambdas.common.escalations import EscalationConflict, EscalationNotFound, EscalationStore
from lambdas.common.transcript import EscalationRecord, Turn, new_id
from tests.lambdas.common.conftest import TABLE

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAaccept+TOKEN/x=="
RESOLVE_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAresolve+TOKEN/y=="


def item(ddb: Any, session_id: str, sk: str) -> dict[str, Any]:
    found = ddb.get_item(TableName=TABLE, ConsistentRead=True,
                         Key={"session_id": {"S": session_id}, "sk": {"S": sk}}).get("Item", {})
    return {k: next(iter(v.values())) for k, v in found.items()}


def all_items(ddb: Any) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"],
                  key=lambda i: (i["session_id"]["S"], i["sk"]["S"]))


@pytest.fixture
def escalations() -> EscalationStore:
    return EscalationStore(table_name=TABLE)


@pytest.fixture
def pending(aws, store, escalations) -> SimpleNamespace:
    """A session with a pending escalation, as the chatbot records it."""
    session = store.new_session(new_id(), "customer-sub-1")
    turn = Turn(role="customer", text="I want a human")
    record = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=turn.turn_id)
    store.record(session, [turn, Turn(role="system", text="Bringing in an expert")], record)
    return SimpleNamespace(session_id=session.session_id, escalation_id=record.escalation_id, record=record,
                           esc_sk=f"ESCALATION#{record.escalation_id}", ddb=aws.ddb)


@pytest.fixture
def ready(pending, escalations) -> SimpleNamespace:
    escalations.store_token(pending.session_id, pending.escalation_id, "accept", TOKEN)
    return pending


def accepted_by(esc: SimpleNamespace, escalations: EscalationStore, expert: str = "Ann") -> EscalationRecord:
    return escalations.accept(esc.session_id, esc.escalation_id, expert).record


# Tokens --------------------------------------------------------------------------------------------------------

def test_store_token_keeps_each_kind_for_the_api(ready, escalations):
    escalations.store_token(ready.session_id, ready.escalation_id, "resolve", RESOLVE_TOKEN)

    state = escalations.get(ready.session_id, ready.escalation_id)

    assert (state.accept_token, state.resolve_token) == (TOKEN, RESOLVE_TOKEN)
    assert state.record == ready.record  # the created record (the body) is untouched


def test_store_token_for_a_missing_escalation_raises_and_creates_nothing(pending, escalations):
    before = all_items(pending.ddb)

    with pytest.raises(EscalationNotFound):
        escalations.store_token(pending.session_id, new_id(), "accept", TOKEN)
    assert all_items(pending.ddb) == before


def test_get_of_a_missing_escalation_raises(pending, escalations):
    with pytest.raises(EscalationNotFound):
        escalations.get(pending.session_id, new_id())


def test_mark_notified_is_true_once(pending, escalations):
    assert escalations.mark_notified(pending.session_id, pending.escalation_id) is True
    assert escalations.mark_notified(pending.session_id, pending.escalation_id) is False
    assert escalations.get(pending.session_id, pending.escalation_id).notified is True


def test_mark_notified_of_a_missing_escalation_is_false_and_creates_nothing(pending, escalations):
    before = all_items(pending.ddb)

    assert escalations.mark_notified(pending.session_id, new_id()) is False
    assert all_items(pending.ddb) == before


def test_tokens_never_show_in_repr_or_str(ready, escalations):
    escalations.store_token(ready.session_id, ready.escalation_id, "resolve", RESOLVE_TOKEN)
    state = escalations.get(ready.session_id, ready.escalation_id)

    claim = escalations.accept(ready.session_id, ready.escalation_id, "Ann")

    for text in (repr(state), str(state), f"{state}", repr([state]), repr(claim), str(claim), repr([claim])):
        assert TOKEN not in text and RESOLVE_TOKEN not in text and "hidden" in text


# Accept ----------------------------------------------------------------------------------------------------------

def test_accept_moves_pending_to_accepted_and_gives_the_session_to_the_expert(ready, escalations):
    record, token, accept_round = escalations.accept(ready.session_id, ready.escalation_id, "Ann")

    assert (token, accept_round) == (TOKEN, 0)
    assert (record.status, record.accepted_by) == ("accepted", "Ann") and record.accepted_at
    stored = item(ready.ddb, ready.session_id, ready.esc_sk)
    assert (stored["status"], stored["accepted_by"], stored["accepted_at"]) == ("accepted", "Ann", record.accepted_at)
    session = item(ready.ddb, ready.session_id, "SESSION")
    assert (session["owner"], session["open_escalation_id"]) == ("Ann", ready.escalation_id)


def test_a_second_accept_is_a_conflict_and_changes_nothing(ready, escalations):
    accepted_by(ready, escalations, "Ann")
    before = all_items(ready.ddb)

    with pytest.raises(EscalationConflict) as conflict:
        escalations.accept(ready.session_id, ready.escalation_id, "Bob")

    assert conflict.value.status == "accepted"
    assert all_items(ready.ddb) == before


def test_accept_before_the_token_is_stored_is_not_ready(pending, escalations):
    before = all_items(pending.ddb)

    with pytest.raises(EscalationConflict, match="not ready"):
        escalations.accept(pending.session_id, pending.escalation_id, "Ann")
    assert all_items(pending.ddb) == before


def test_accept_of_an_escalation_no_longer_open_on_the_session_is_a_conflict(ready, escalations):
    # The session's open escalation was released (e.g. by a time-out path) while the item still says pending.
    ready.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": ready.session_id}, "sk": {"S": "SESSION"}},
                          UpdateExpression="REMOVE open_escalation_id")
    before = all_items(ready.ddb)

    with pytest.raises(EscalationConflict):
        escalations.accept(ready.session_id, ready.escalation_id, "Ann")
    assert all_items(ready.ddb) == before


def test_undo_accept_puts_everything_back_as_it_was(ready, escalations):
    before = all_items(ready.ddb)
    record = accepted_by(ready, escalations, "Ann")

    assert escalations.undo_accept(ready.session_id, ready.escalation_id, expert="Ann",
                                   accepted_at=record.accepted_at, token=TOKEN) is True
    assert all_items(ready.ddb) == before


def test_undo_accept_leaves_a_later_change_alone(ready, escalations):
    record = accepted_by(ready, escalations, "Ann")
    ready.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": ready.session_id}, "sk": {"S": ready.esc_sk}},
                          UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                          ExpressionAttributeValues={":s": {"S": "timed_out"}})  # the state machine's time-out
    before = all_items(ready.ddb)

    assert escalations.undo_accept(ready.session_id, ready.escalation_id, expert="Ann",
                                   accepted_at=record.accepted_at, token=TOKEN) is False
    assert all_items(ready.ddb) == before


# Rounds of the wait: each brings a new accept token ---------------------------------------------------------------

ROUND_1 = "AQCEAAAAKgAAAAMAAAAAAAAAAround+ONE/z=="
DEADLINE = "2026-11-25T01:35:00Z"


def keep(esc: SimpleNamespace, escalations: EscalationStore, token: str, accept_round: int):
    return escalations.keep_accept_token(esc.session_id, esc.escalation_id, token, round=accept_round,
                                         deadline=DEADLINE)


def test_each_round_keeps_its_token_and_the_deadline(pending, escalations):
    first = keep(pending, escalations, TOKEN, 0)
    second = keep(pending, escalations, ROUND_1, 1)

    assert (first.accept_token, first.accept_round, first.accept_deadline) == (TOKEN, 0, DEADLINE)
    assert (second.accept_token, second.accept_round) == (ROUND_1, 1)
    assert second == escalations.get(pending.session_id, pending.escalation_id)
    assert item(pending.ddb, pending.session_id, pending.esc_sk)["accept_deadline"] == DEADLINE


def test_a_late_token_of_an_earlier_round_is_not_kept(pending, escalations):
    keep(pending, escalations, ROUND_1, 1)
    before = all_items(pending.ddb)

    assert keep(pending, escalations, TOKEN, 0) is None
    assert all_items(pending.ddb) == before
    assert keep(pending, escalations, ROUND_1, 1) is not None  # a redelivery of the kept round is fine


def test_no_token_replaces_the_one_an_expert_claimed(ready, escalations):
    accepted_by(ready, escalations)
    before = all_items(ready.ddb)

    assert keep(ready, escalations, ROUND_1, 1) is None
    assert all_items(ready.ddb) == before


def test_keeping_a_token_for_a_missing_escalation_raises_and_creates_nothing(pending, escalations):
    before = all_items(pending.ddb)

    with pytest.raises(EscalationNotFound):
        escalations.keep_accept_token(pending.session_id, new_id(), TOKEN, round=0, deadline=DEADLINE)
    assert all_items(pending.ddb) == before


def test_an_accept_is_made_again_on_the_token_of_a_round_that_began_as_it_was_made(pending, escalations):
    keep(pending, escalations, TOKEN, 0)
    transact = escalations._ddb().transact_write_items
    calls = []

    class RoundBeginsFirst:  # the worker keeps round 1's token between the accept's read and its write
        def __getattr__(self, name):
            return getattr(escalations_ddb, name)

        def transact_write_items(self, **kwargs):
            if not calls:
                keep(pending, escalations, ROUND_1, 1)
            calls.append(kwargs)
            return transact(**kwargs)

    escalations_ddb = escalations._ddb()
    escalations._ddb = lambda: RoundBeginsFirst()

    claim = escalations.accept(pending.session_id, pending.escalation_id, "Ann")

    assert (claim.token, claim.round, len(calls)) == (ROUND_1, 1, 2)
    assert item(pending.ddb, pending.session_id, pending.esc_sk)["status"] == "accepted"


def test_the_worker_hands_a_new_rounds_token_to_a_claim_and_then_the_claim_cannot_be_undone(pending, escalations):
    keep(pending, escalations, TOKEN, 0)
    claim = escalations.accept(pending.session_id, pending.escalation_id, "Ann")
    claimed = escalations.get(pending.session_id, pending.escalation_id)

    assert escalations.hand_accept_token(pending.session_id, pending.escalation_id, ROUND_1, round=1, claim=claimed)

    state = escalations.get(pending.session_id, pending.escalation_id)
    assert (state.accept_token, state.accept_round, state.accept_handed) == (ROUND_1, 1, True)
    assert escalations.undo_accept(pending.session_id, pending.escalation_id, expert="Ann",
                                   accepted_at=claim.record.accepted_at, token=claim.token) is False
    assert escalations.get(pending.session_id, pending.escalation_id).record.status == "accepted"


def test_an_undone_claim_gets_no_token_handed_to_it(pending, escalations):
    keep(pending, escalations, TOKEN, 0)
    claim = escalations.accept(pending.session_id, pending.escalation_id, "Ann")
    claimed = escalations.get(pending.session_id, pending.escalation_id)
    assert escalations.undo_accept(pending.session_id, pending.escalation_id, expert="Ann",
                                   accepted_at=claim.record.accepted_at, token=claim.token) is True
    before = all_items(pending.ddb)

    assert not escalations.hand_accept_token(pending.session_id, pending.escalation_id, ROUND_1, round=1,
                                             claim=claimed)
    assert all_items(pending.ddb) == before
    assert keep(pending, escalations, ROUND_1, 1).accept_handed is False  # kept as any round's token


def test_reminders_are_counted_once_each_and_a_failed_one_is_undone(pending, escalations):
    assert escalations.mark_reminded(pending.session_id, pending.escalation_id, 1) is True
    assert escalations.mark_reminded(pending.session_id, pending.escalation_id, 1) is False
    after_one = escalations.get(pending.session_id, pending.escalation_id)
    assert after_one.reminders == 1 and after_one.reminded_at

    assert escalations.mark_reminded(pending.session_id, pending.escalation_id, 2) is True
    escalations.clear_reminded(pending.session_id, pending.escalation_id, 2, before=after_one)
    assert escalations.get(pending.session_id, pending.escalation_id) == after_one

    escalations.clear_reminded(pending.session_id, pending.escalation_id, 1,
                               before=replace(after_one, reminders=0, reminded_at=None))
    stored = item(pending.ddb, pending.session_id, pending.esc_sk)
    assert "reminders" not in stored and "reminded_at" not in stored


def test_the_customer_view_says_the_status_and_the_times_and_nothing_else(pending, escalations):
    assert escalations.customer_view(pending.session_id, pending.escalation_id) == {
        "status": "pending", "requested_at": pending.record.requested_at}
    keep(pending, escalations, TOKEN, 0)

    view = escalations.customer_view(pending.session_id, pending.escalation_id)

    assert view == {"status": "pending", "requested_at": pending.record.requested_at, "accept_deadline": DEADLINE}
    assert escalations.customer_view(pending.session_id, new_id()) is None


# Resolve ---------------------------------------------------------------------------------------------------------

def test_resolve_hands_the_session_back_to_the_bot(ready, escalations):
    accepted_by(ready, escalations, "Ann")
    escalations.store_token(ready.session_id, ready.escalation_id, "resolve", RESOLVE_TOKEN)

    record, token = escalations.resolve(ready.session_id, ready.escalation_id, expert="Ann", note="fixed",
                                        close=False)

    assert token == RESOLVE_TOKEN
    assert (record.status, record.note, record.accepted_by) == ("resolved", "fixed", "Ann") and record.resolved_at
    stored = item(ready.ddb, ready.session_id, ready.esc_sk)
    assert (stored["status"], stored["note"], stored["resolved_at"]) == ("resolved", "fixed", record.resolved_at)
    session = item(ready.ddb, ready.session_id, "SESSION")
    assert not {"owner", "open_escalation_id", "closed_at"} & set(session)


def test_resolve_without_a_resolve_token_yet_returns_none(ready, escalations):
    accepted_by(ready, escalations, "Ann")

    _, token = escalations.resolve(ready.session_id, ready.escalation_id, expert="Ann", note="", close=False)

    assert token is None


def test_resolve_with_close_closes_the_session(ready, escalations):
    accepted_by(ready, escalations, "Ann")

    record, _ = escalations.resolve(ready.session_id, ready.escalation_id, expert="Ann", note="bye", close=True)

    session = item(ready.ddb, ready.session_id, "SESSION")
    assert session["closed_at"] == record.resolved_at
    assert "owner" not in session and "open_escalation_id" not in session


def test_resolve_by_another_expert_is_a_conflict_and_changes_nothing(ready, escalations):
    accepted_by(ready, escalations, "Ann")
    before = all_items(ready.ddb)

    with pytest.raises(EscalationConflict):
        escalations.resolve(ready.session_id, ready.escalation_id, expert="Bob", note="mine now", close=False)
    assert all_items(ready.ddb) == before


@pytest.mark.parametrize("accept_first", [False, True], ids=["pending", "resolved"])
def test_resolve_in_the_wrong_status_is_a_conflict_and_changes_nothing(ready, escalations, accept_first):
    if accept_first:
        accepted_by(ready, escalations, "Ann")
        escalations.resolve(ready.session_id, ready.escalation_id, expert="Ann", note="done", close=False)
    before = all_items(ready.ddb)

    with pytest.raises(EscalationConflict) as conflict:
        escalations.resolve(ready.session_id, ready.escalation_id, expert="Ann", note="again", close=False)

    assert conflict.value.status == ("resolved" if accept_first else "pending")
    assert all_items(ready.ddb) == before


# The open escalations of every session (the experts' inbox) -----------------------------------------------------

def set_status(esc: SimpleNamespace, status: str) -> None:
    """What the workflow's Mark* states write (statemachines/human_escalation.asl.json): the status alone."""
    esc.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": esc.session_id}, "sk": {"S": esc.esc_sk}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": status}})


def opened(escalations: EscalationStore, limit: int = 10) -> list[tuple[str, str]]:
    return [(s.record.escalation_id, s.record.status) for s in escalations.open_escalations(limit=limit)]


def test_open_escalations_follow_every_writer_of_the_status(aws, store, ready, escalations):
    assert opened(escalations) == [(ready.escalation_id, "pending")]
    accepted_by(ready, escalations)
    assert opened(escalations) == [(ready.escalation_id, "accepted")]
    set_status(ready, "timed_out")  # the workflow gave up: no writer of ours had to know of the index
    assert opened(escalations) == []


def test_open_escalations_are_pending_then_accepted_each_oldest_first_up_to_the_limit(aws, store, escalations):
    made = []
    for _ in range(4):
        session = store.new_session(new_id(), "customer-sub-1")
        turn = Turn(role="customer", text="A person, please")
        record = EscalationRecord(session_id=session.session_id, reason="human_requested", turn_id=turn.turn_id)
        store.record(session, [turn], record)
        escalations.store_token(session.session_id, record.escalation_id, "accept", TOKEN)
        made.append(SimpleNamespace(session_id=session.session_id, escalation_id=record.escalation_id))
    accepted_by(made[1], escalations)

    found = opened(escalations)

    assert found == [(made[0].escalation_id, "pending"), (made[2].escalation_id, "pending"),
                     (made[3].escalation_id, "pending"), (made[1].escalation_id, "accepted")]
    assert opened(escalations, limit=2) == [found[0], found[1], found[3]]


def test_the_index_holds_no_task_token(aws, store, ready, escalations):
    escalations.store_token(ready.session_id, ready.escalation_id, "resolve", RESOLVE_TOKEN)

    (state,) = escalations.open_escalations(limit=10)

    assert (state.accept_token, state.resolve_token) == (None, None)
    items = ready.ddb.scan(TableName=TABLE, IndexName="escalations_by_status")["Items"]
    assert items and all("accept_token" not in i and "resolve_token" not in i for i in items)
    assert {i["sk"]["S"] for i in items} == {ready.esc_sk}  # turns and the session are not in it
