"""The seam between the stream consumer and the human-escalation workflow (stacks/escalation_stack.py).

The chatbot records an escalation (status `pending`) with the turn that raised it, in one transaction; the
stream consumer then starts the workflow, one execution per escalation, named after it. So a second start
for the same escalation (a replayed stream record) is refused by Step Functions with
ExecutionAlreadyExists, or returns the running execution: nothing new starts.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from botocore.exceptions import ClientError

from lambdas.common.transcript import EscalationRecord


class StepFunctionsStarter:
    def __init__(self, state_machine_arn: str, client: Callable[[], Any]) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client

    def start(self, escalation: EscalationRecord) -> str:
        """Starts the workflow; returns "started" or "already_started"."""
        request = {"session_id": escalation.session_id, "escalation_id": escalation.escalation_id,
                   "reason": escalation.reason, "requested_at": escalation.requested_at}
        try:
            self.client().start_execution(stateMachineArn=self.state_machine_arn, name=escalation.escalation_id,
                                          input=json.dumps(request))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
            return "already_started"
        return "started"
