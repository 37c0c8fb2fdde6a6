"""The stream consumer's settings, from the environment stacks/outbox_stack.py gives the function.

Every variable is required: a missing or bad one fails the invocation with an error naming it, and the
stream records wait (they are retried) instead of being handled with half a configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import SettingsError, integer_setting, text_setting

# stacks/config.py bounds escalation_start_timeout_seconds the same way.
START_TIMEOUT_RANGE = (30, 3600)


@dataclass(frozen=True)
class ConsumerSettings:
    sessions_table: str
    transcripts_bucket: str
    state_machine_arn: str  # the human-escalation workflow
    start_timeout_seconds: int  # an escalation whose workflow cannot start by then is withdrawn
    busy_message: str  # what the customer is told then
    session_ttl_days: int  # the notice turn expires with the session

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ConsumerSettings":
        def text(name: str) -> str:
            return text_setting(environ, name)

        arn = text("ESCALATION_STATE_MACHINE_ARN")
        if ":stateMachine:" not in arn:
            raise SettingsError("ESCALATION_STATE_MACHINE_ARN", "must be a Step Functions state machine ARN")
        return cls(sessions_table=text("SESSIONS_TABLE"), transcripts_bucket=text("TRANSCRIPTS_BUCKET"),
                   state_machine_arn=arn,
                   start_timeout_seconds=integer_setting(environ, "ESCALATION_START_TIMEOUT_SECONDS",
                                                         *START_TIMEOUT_RANGE),
                   busy_message=text("BUSY_MESSAGE"),
                   session_ttl_days=integer_setting(environ, "SESSION_TTL_DAYS", 1, 3650))
