"""The worker's settings, from the environment stacks/escalation_stack.py gives the function.

Every variable is required: a missing or bad one fails the invocation with an error naming it (the batch
is retried, nothing is half-done), instead of mailing broken links or writing turns with a wrong TTL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import SettingsError, integer_setting, text_setting

MAX_EMAIL_TURNS = 20


@dataclass(frozen=True)
class WorkerSettings:
    sessions_table: str
    experts_topic_arn: str
    signing_secret_arn: str
    expert_api_url: str  # ends with "/"; links are {expert_api_url}escalations/{id}?...
    accept_timeout_seconds: int  # how long the emailed link stays valid (the workflow's accept time-out)
    email_turns: int
    busy_message: str
    handback_message: str
    session_ttl_days: int  # the turns the worker writes expire with the session (same TTL as the chatbot's)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "WorkerSettings":
        def text(name: str) -> str:
            return text_setting(environ, name)

        def integer(name: str, low: int, high: int) -> int:
            return integer_setting(environ, name, low, high)

        url = text("EXPERT_API_URL")
        if not url.startswith("https://") or not url.endswith("/"):
            raise SettingsError("EXPERT_API_URL", "must be an https:// URL ending with '/'")
        return cls(
            sessions_table=text("SESSIONS_TABLE"),
            experts_topic_arn=text("EXPERTS_TOPIC_ARN"), signing_secret_arn=text("SIGNING_SECRET_ARN"),
            expert_api_url=url, accept_timeout_seconds=integer("ACCEPT_TIMEOUT_SECONDS", 60, 86400),
            email_turns=integer("EMAIL_TURNS", 1, MAX_EMAIL_TURNS), busy_message=text("BUSY_MESSAGE"),
            handback_message=text("HANDBACK_MESSAGE"), session_ttl_days=integer("SESSION_TTL_DAYS", 1, 3650),
        )
