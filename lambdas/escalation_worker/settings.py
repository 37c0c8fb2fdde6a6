"""The worker's settings: the environment stacks/escalation_stack.py gives the function.

Every variable is required but SITE_URL (empty: no inbox link in the email): a missing or bad one fails the invocation with an error naming it (the batch
is retried, nothing is half-done), instead of mailing broken links or writing turns with a wrong TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import (
    BUSY_MESSAGE,
    HANDBACK_MESSAGE,
    SESSION_TTL_DAYS,
    SESSIONS_TABLE,
    SIGNING_SECRET_ARN,
    SITE_URL,
    TEXT,
    EnvSettings,
    Variable,
    integer,
    matching,
)

MAX_EMAIL_TURNS = 20
# Links are {EXPERT_API_URL}escalations/{id}?... Plain http only on this machine's loopback address: the local
# runtime's expert pages (local/gateway.py), which nothing outside the machine can open.
_API_URL = matching(r"(https://\S+|http://(127\.0\.0\.1|localhost)(:\d+)?(/\S*)?)/",
                    "an https:// URL ending with '/' (http:// only on 127.0.0.1 or localhost)")


@dataclass(frozen=True)
class WorkerSettings(EnvSettings):
    sessions_table: str = field(metadata=SESSIONS_TABLE)
    experts_topic_arn: str = field(metadata=Variable("EXPERTS_TOPIC_ARN", TEXT))
    signing_secret_arn: str = field(metadata=SIGNING_SECRET_ARN)
    expert_api_url: str = field(metadata=Variable("EXPERT_API_URL", _API_URL))
    email_turns: int = field(metadata=Variable("EMAIL_TURNS", integer(1, MAX_EMAIL_TURNS)))
    busy_message: str = field(metadata=BUSY_MESSAGE)
    handback_message: str = field(metadata=HANDBACK_MESSAGE)
    # The turns the worker writes expire with the session (the same TTL as the chatbot's).
    session_ttl_days: int = field(metadata=SESSION_TTL_DAYS)
    # The web app's address: the email links to the escalation in its inbox; empty leaves that line out.
    site_url: str = field(default="", metadata=SITE_URL)
