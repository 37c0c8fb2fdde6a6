"""The expert API's seam to the human-escalation workflow (Step Functions): `WorkflowTasks` completes the
tasks that wait for an expert (SendTaskSuccess with a stored task token), `WorkflowProbe` reads what the
workflow really did with an accept from its execution history.

SendTaskSuccess can fail after Step Functions took it: the response is lost, botocore sends it again, and
the second call is refused (InvalidToken, TaskTimedOut) because the first one succeeded. The answer of the
call alone cannot tell "too late" from "already done", so the expert API asks the execution
(GetExecutionHistory) before it answers, and the table and the workflow always agree.

While nobody accepts, the workflow waits in rounds, one per reminder interval, each with its own accept token
(the states of ACCEPT_LOOP). So "the accept task ended" is not "the workflow gave up": the token the expert
API used may belong to a round that timed out just as a reminder started the next one.

The state names are those of statemachines/human_escalation.asl.json (a test checks them against it).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Literal

from botocore.exceptions import BotoCoreError, ClientError

ACCEPT_STATE = "NotifyExpertsAndWaitForAccept"  # one round of the wait: entered once per round
# The states of the wait for an accept, between and around its rounds.
ACCEPT_LOOP = ("StartAcceptWait", "PlanAcceptRound", "RoundUntilReminder", "RoundUntilTimeout", ACCEPT_STATE,
               "AcceptRoundEnded", "NextReminder")
AFTER_ACCEPT_STATE = "WaitForResolve"  # entered only when an accept task succeeded

# taken: the workflow moved on with the accept; refused: the wait for an accept ended otherwise (timed out,
# failed, stopped); next_round: the round of the token used had ended and a later round waits (the worker hands
# its token to the claim); waiting: the accept wait goes on in the same round (the call was not applied, or it
# is between rounds); unknown: the history is unreadable.
AcceptOutcome = Literal["taken", "refused", "next_round", "waiting", "unknown"]
# Step Functions' answers meaning "this task no longer waits" (AWS-CONTRACTS.md, Step Functions callbacks).
WORKFLOW_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken")


class WorkflowGone(RuntimeError):
    """The workflow no longer waits for this step (410). Carries the Step Functions error code only."""


class WorkflowUnavailable(RuntimeError):
    """Step Functions could not be told (503); nothing was changed. Carries the error code only."""


class WorkflowTasks:
    def __init__(self, client: Callable[[], Any]):
        self.client = client

    def complete(self, token: str, output: dict[str, object]) -> None:
        """SendTaskSuccess. A failure surfaces as WorkflowGone / WorkflowUnavailable carrying the error code
        alone: botocore's messages for these calls may quote the token."""
        try:
            self.client().send_task_success(taskToken=token, output=json.dumps(output))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "ClientError")
            raise (WorkflowGone if code in WORKFLOW_GONE else WorkflowUnavailable)(code) from None
        except BotoCoreError as error:
            raise WorkflowUnavailable(type(error).__name__) from None


class WorkflowProbe:
    def __init__(self, client: Callable[[], Any]):
        self.client = client

    def accept_outcome(self, execution_arn: str | None, accept_round: int = 0) -> AcceptOutcome:
        """What the workflow did with an accept that completed the token of round `accept_round`."""
        if not execution_arn:
            return "unknown"
        try:
            events = self._events(execution_arn)
            status = self.client().describe_execution(executionArn=execution_arn)["status"]
        except (ClientError, BotoCoreError):
            return "unknown"
        return accept_outcome(events, running=status == "RUNNING", accept_round=accept_round)

    def _events(self, execution_arn: str) -> list[dict[str, Any]]:
        request = {"executionArn": execution_arn, "maxResults": 1000, "includeExecutionData": False}
        page = self.client().get_execution_history(**request)
        events = list(page["events"])
        while page.get("nextToken"):
            page = self.client().get_execution_history(**request, nextToken=page["nextToken"])
            events += page["events"]
        return events


def accept_outcome(events: list[dict[str, Any]], *, running: bool, accept_round: int = 0) -> AcceptOutcome:
    """Pure: the outcome of an accept of round `accept_round` (0: the first) from the execution's history
    events and whether it still runs."""
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]
    if AFTER_ACCEPT_STATE in entered:
        return "taken"
    if not running or (entered and entered[-1] not in ACCEPT_LOOP):
        return "refused"
    if ACCEPT_STATE not in entered:
        return "unknown"
    return "next_round" if entered.count(ACCEPT_STATE) > accept_round + 1 else "waiting"
