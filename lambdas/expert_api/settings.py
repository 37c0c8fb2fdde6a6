"""The expert API's settings: the environment stacks/escalation_stack.py gives the function.

A missing or malformed variable stops the function at init with a message naming it, instead of
answering experts with half a configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from lambdas.common.env_settings import (
    BUCKET,
    HANDBACK_MESSAGE,
    S3_PREFIX,
    SESSION_TTL_DAYS,
    SESSIONS_TABLE,
    SIGNING_SECRET_ARN,
    SITE_URL,
    EnvSettings,
    Variable,
    integer,
    read,
)
from lambdas.common.env_settings import SettingsError as SettingsError  # raised by from_env: callers catch it here
from lambdas.common.redaction import LANGUAGE_CODE, REDACT_PII, masking_settings

DEFAULT_MAX_REPLY_CHARS = 4000


@dataclass(frozen=True)
class ExpertApiSettings(EnvSettings):
    sessions_table: str = field(metadata=SESSIONS_TABLE)
    signing_secret_arn: str = field(metadata=SIGNING_SECRET_ARN)
    knowledge_bucket: str = field(metadata=Variable("KNOWLEDGE_BUCKET", BUCKET))
    knowledge_prefix: str = field(metadata=Variable("KNOWLEDGE_PREFIX", S3_PREFIX))  # e.g. "escalations/"
    # What the customer reads when the expert hands the conversation back.
    handback_message: str = field(metadata=HANDBACK_MESSAGE)
    # The validity of the work link issued on accept (= the workflow's resolve wait: 1 to 168 hours).
    resolve_timeout_seconds: int = field(metadata=Variable("RESOLVE_TIMEOUT_SECONDS", integer(3600, 168 * 3600)))
    session_ttl_days: int = field(metadata=SESSION_TTL_DAYS)  # the sessions table TTL each write renews
    # Mask personal data (Comprehend DetectPiiEntities) before a conversation becomes a knowledge document;
    # false exports it as written (the operator's choice: see redaction.py).
    redact_pii: bool = field(metadata=REDACT_PII)
    language_code: str | None = field(metadata=LANGUAGE_CODE)  # the conversations' language; None unless redacting
    # The longest reply an expert may send (stacks/config.py max_message_chars: a customer's limit too).
    max_reply_chars: int = field(default=DEFAULT_MAX_REPLY_CHARS,
                                 metadata=Variable("MAX_REPLY_CHARS", integer(1, 20_000)))
    # The web app's address: the console links to the escalation in its inbox; empty leaves the link out.
    site_url: str = field(default="", metadata=SITE_URL)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ExpertApiSettings:
        return read(cls, environ, **masking_settings(environ))
