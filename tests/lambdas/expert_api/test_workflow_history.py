"""What the execution's history says about an accept whose SendTaskSuccess failed (workflow.accept_outcome),
now that the workflow waits for an accept in rounds, one per reminder interval, each with its own token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.expert_api.workflow import ACCEPT_LOOP, ACCEPT_STATE, AFTER_ACCEPT_STATE, accept_outcome

DEFINITION = Path(__file__).resolve().parents[3] / "statemachines" / "human_escalation.asl.json"
START = ["Configure", "RecordPending", "StartAcceptWait", "PlanAcceptRound", "RoundUntilReminder", ACCEPT_STATE]
NEXT_ROUND = ["AcceptRoundEnded", "NextReminder", "PlanAcceptRound", "RoundUntilReminder", ACCEPT_STATE]


def history(*entered: str) -> list[dict[str, Any]]:
    """GetExecutionHistory's events for these states entered, in order (each exited but the last)."""
    events: list[dict[str, Any]] = []
    for i, name in enumerate(entered):
        events.append({"id": len(events) + 1, "type": "TaskStateEntered", "stateEnteredEventDetails": {"name": name}})
        if i < len(entered) - 1:
            events.append({"id": len(events) + 1, "type": "TaskStateExited", "stateExitedEventDetails": {"name": name}})
    return events


def test_the_state_names_are_the_definitions():
    states = json.loads(DEFINITION.read_text())["States"]
    assert set(ACCEPT_LOOP) <= set(states) and AFTER_ACCEPT_STATE in states
    # The loop is closed: from its states the workflow leaves it only to these.
    leaving = {target for name in ACCEPT_LOOP for target in _targets(states[name]) if target not in ACCEPT_LOOP}
    assert leaving == {AFTER_ACCEPT_STATE, "MarkTimedOut", "MarkFailed"}


def _targets(state: dict[str, Any]) -> set[str]:
    found = {state.get("Next"), state.get("Default"), *(c["Next"] for c in state.get("Choices", [])),
             *(c["Next"] for c in state.get("Catch", []))}
    return {name for name in found if name}


@pytest.mark.parametrize("entered, running, accept_round, outcome", [
    # The first round.
    (START, True, 0, "waiting"),  # the call was not applied: the same task still waits
    ([*START, AFTER_ACCEPT_STATE], True, 0, "taken"),
    ([*START, "AcceptRoundEnded", "MarkTimedOut"], True, 0, "refused"),
    ([*START, "MarkFailed"], True, 0, "refused"),
    (START, False, 0, "refused"),  # stopped
    # A reminder began round 1 as the accept of round 0 was sent: the worker hands round 1's token to the claim.
    ([*START, *NEXT_ROUND], True, 0, "next_round"),
    ([*START, *NEXT_ROUND], True, 1, "waiting"),  # the accept was made with round 1's token itself
    ([*START, "AcceptRoundEnded", "NextReminder"], True, 0, "waiting"),  # between rounds: not decided yet
    ([*START, *NEXT_ROUND, AFTER_ACCEPT_STATE], True, 0, "taken"),
    ([*START, *NEXT_ROUND, "AcceptRoundEnded", "MarkTimedOut"], True, 0, "refused"),
    ([], True, 0, "unknown"),
])
def test_the_outcome_of_an_accept_by_the_round_of_its_token(entered, running, accept_round, outcome):
    assert accept_outcome(history(*entered), running=running, accept_round=accept_round) == outcome
