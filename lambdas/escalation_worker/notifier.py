"""The seam between the escalation worker and the experts: their SNS topic (stacks/escalation_stack.py),
whose subscribers get each notification as an email with its subject.

It sends what it is given and nothing else; a failure is raised as botocore raised it, so the worker
decides what a failed mail means (worker.py: the claim is undone and the message retried).
"""

from __future__ import annotations

from typing import Any, Callable

from lambdas.escalation_worker.expert_email import ExpertEmail


class ExpertNotifier:
    def __init__(self, topic_arn: str, client: Callable[[], Any]) -> None:
        self.topic_arn = topic_arn
        self.client = client

    def notify(self, email: ExpertEmail) -> None:
        """Publishes `email` to the experts' topic."""
        self.client().publish(TopicArn=self.topic_arn, Subject=email.subject, Message=email.message)
