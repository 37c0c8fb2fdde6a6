"""The seam between the chatbot and the human-escalation workflow.

The chatbot decides that a human is needed and records the escalation (status `pending`) with the turn
that caused it; an EscalationStarter then gets the human workflow going. Today's starter only logs the
request: starting the Step Functions workflow that notifies experts is the escalation module's job, and
it plugs in here by implementing `start`.
"""

from __future__ import annotations

from typing import Protocol

from lambdas.common.transcript import EscalationRecord


class EscalationStarter(Protocol):
    def start(self, escalation: EscalationRecord) -> None:
        """Starts the human workflow for a recorded escalation; must be safe to call twice for one id."""


class LogOnlyStarter:
    """Records that a human was requested in the function's log; nobody is notified yet."""

    def __init__(self, logger) -> None:  # noqa: ANN001 (a Powertools or standard logger)
        self.logger = logger

    def start(self, escalation: EscalationRecord) -> None:
        self.logger.warning("escalation recorded; no human workflow is connected yet",
                            extra={"escalation_id": escalation.escalation_id, "reason": escalation.reason})
