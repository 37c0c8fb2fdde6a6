"""The stream consumer's settings: the environment stacks/outbox_stack.py gives the function.

Every variable is required: a missing or bad one fails the invocation with an error naming it, and the
stream records wait (they are retried) instead of being handled with half a configuration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import (
    BUSY_MESSAGE,
    CONNECTIONS_TABLE,
    SESSION_TTL_DAYS,
    SESSIONS_TABLE,
    TRANSCRIPTS_BUCKET,
    EnvSettings,
    Variable,
    arn,
    integer,
    matching,
)

# stacks/config.py bounds escalation_start_timeout_seconds the same way.
START_TIMEOUT_RANGE = (30, 3600)
# A WebSocket API stage's @connections endpoint (http only for the local demo's own, on this machine).
_LIVE_ENDPOINT = matching(r"(https://[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?|http://127\.0\.0\.1:[0-9]+)/[A-Za-z0-9_/-]+",
                          "a WebSocket API stage URL (https://<api id>.execute-api.<region>.amazonaws.com/<stage>)")
_STATE_MACHINE_ARN = arn("states", "stateMachine:.+", "a Step Functions state machine ARN")


@dataclass(frozen=True)
class ConsumerSettings(EnvSettings):
    sessions_table: str = field(metadata=SESSIONS_TABLE)
    transcripts_bucket: str = field(metadata=TRANSCRIPTS_BUCKET)
    # The human-escalation workflow.
    state_machine_arn: str = field(metadata=Variable("ESCALATION_STATE_MACHINE_ARN", _STATE_MACHINE_ARN))
    # An escalation whose workflow cannot start by then is withdrawn, and the customer told busy_message.
    start_timeout_seconds: int = field(metadata=Variable("ESCALATION_START_TIMEOUT_SECONDS",
                                                         integer(*START_TIMEOUT_RANGE)))
    busy_message: str = field(metadata=BUSY_MESSAGE)
    session_ttl_days: int = field(metadata=SESSION_TTL_DAYS)  # the notice turn expires with the session
    # The live channel (stacks/live_stack.py): where events are posted and who is connected. Both blank: no
    # push (the browsers poll).
    live_endpoint: str = field(default="", metadata=Variable("LIVE_ENDPOINT", _LIVE_ENDPOINT))
    connections_table: str = field(default="", metadata=CONNECTIONS_TABLE)
