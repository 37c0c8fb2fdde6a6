"""The seam between the chatbot and the human-escalation workflow (stacks/escalation_stack.py).

The chatbot decides that a human is needed and records the escalation (status `pending`) with the turn
that caused it, in the same transaction; an EscalationStarter then gets the human workflow going.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol

from botocore.exceptions import ClientError

from lambdas.common.transcript import EscalationRecord


class EscalationStarter(Protocol):
    def start(self, escalation: EscalationRecord) -> None:
        """Starts the human workflow for a recorded escalation; must be safe to call twice for one id."""


class StepFunctionsStarter:
    """Starts the human-escalation state machine, one execution per escalation.

    The execution is named after the escalation, so a second start for the same escalation (a retried
    request, a redelivered event) is refused by Step Functions with ExecutionAlreadyExists: nothing new starts.
    """

    def __init__(self, state_machine_arn: str, client: Callable[[], Any], logger: Any) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client
        self.logger = logger

    def start(self, escalation: EscalationRecord) -> None:
        request = {"session_id": escalation.session_id, "escalation_id": escalation.escalation_id,
                   "reason": escalation.reason, "requested_at": escalation.requested_at}
        try:
            self.client().start_execution(stateMachineArn=self.state_machine_arn, name=escalation.escalation_id,
                                          input=json.dumps(request))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            self.logger.info("escalation workflow already running", extra={"escalation_id": escalation.escalation_id})


class LogOnlyStarter:
    """For a chatbot deployed without the escalation stack: the escalation is recorded and logged only."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger

    def start(self, escalation: EscalationRecord) -> None:
        self.logger.warning("escalation recorded; no human workflow is connected",
                            extra={"escalation_id": escalation.escalation_id, "reason": escalation.reason})
