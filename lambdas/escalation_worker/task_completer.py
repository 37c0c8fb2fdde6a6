"""The seam between the escalation worker and the human-escalation workflow
(statemachines/human_escalation.asl.json): completing a task the workflow waits on.

A failure is raised as botocore raised it, so the worker decides what each answer means (worker.py: a task
that no longer waits is done, anything else is retried). Its message may quote the task token: it must not
be logged as it is.
"""

from __future__ import annotations

from typing import Any, Callable


class TaskCompleter:
    def __init__(self, client: Callable[[], Any]) -> None:
        self.client = client

    def complete(self, task_token: str) -> None:
        """SendTaskSuccess with an empty output: the workflow goes on from the task `task_token` names."""
        self.client().send_task_success(taskToken=task_token, output="{}")
