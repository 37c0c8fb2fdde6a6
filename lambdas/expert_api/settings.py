"""The expert API's runtime settings, one environment variable each (set by stacks/escalation_stack.py).

A missing or malformed variable stops the function at init with a message naming it, instead of
answering experts with half a configuration.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

DEFAULT_MAX_REPLY_CHARS = 4000


class SettingsError(ValueError):
    pass


def _required(environ: Mapping[str, str], name: str, *, allow_empty: bool = False) -> str:
    value = environ.get(name)
    if value is None or (not allow_empty and not value.strip()):
        raise SettingsError(f"environment variable {name} is required")
    return value


def _positive_int(environ: Mapping[str, str], name: str, default: int | None = None) -> int:
    raw = environ.get(name)
    if raw is None and default is not None:
        return default
    raw = _required(environ, name)
    if not raw.strip().isdigit() or int(raw) < 1:
        raise SettingsError(f"environment variable {name} must be a positive whole number, not {raw!r}")
    return int(raw)


def _flag(environ: Mapping[str, str], name: str) -> bool:
    """Exactly "true" or "false" (what the stack writes): a typo must not silently mean either."""
    raw = environ.get(name)
    if raw is None:
        raise SettingsError(f"environment variable {name} is required")
    if raw not in ("true", "false"):
        raise SettingsError(f"environment variable {name} must be true or false, not {raw!r}")
    return raw == "true"


@dataclass(frozen=True)
class ExpertApiSettings:
    sessions_table: str
    signing_secret_arn: str
    knowledge_bucket: str
    knowledge_prefix: str  # e.g. "escalations/"; may be empty
    handback_message: str  # what the customer reads when the expert hands the conversation back
    resolve_timeout_seconds: int  # validity of the work link issued on accept (= the workflow's resolve wait)
    session_ttl_days: int  # the sessions table TTL each write renews (the chatbot's session_ttl_days)
    # Mask personal data (Comprehend DetectPiiEntities) before a conversation becomes a knowledge document;
    # false exports it as written (the operator's choice: see redaction.py).
    redact_pii: bool
    language_code: str | None  # the conversations' language for Comprehend (en or es); required to redact
    max_reply_chars: int = DEFAULT_MAX_REPLY_CHARS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ExpertApiSettings":
        redact_pii = _flag(environ, "REDACT_PII")
        language_code = environ.get("LANGUAGE_CODE", "").strip() or None
        if redact_pii and language_code is None:
            raise SettingsError("environment variable LANGUAGE_CODE is required when REDACT_PII is true")
        return cls(
            sessions_table=_required(environ, "SESSIONS_TABLE"),
            signing_secret_arn=_required(environ, "SIGNING_SECRET_ARN"),
            knowledge_bucket=_required(environ, "KNOWLEDGE_BUCKET"),
            knowledge_prefix=_required(environ, "KNOWLEDGE_PREFIX", allow_empty=True),
            handback_message=_required(environ, "HANDBACK_MESSAGE"),
            resolve_timeout_seconds=_positive_int(environ, "RESOLVE_TIMEOUT_SECONDS"),
            session_ttl_days=_positive_int(environ, "SESSION_TTL_DAYS"),
            redact_pii=redact_pii, language_code=language_code,
            max_reply_chars=_positive_int(environ, "MAX_REPLY_CHARS", DEFAULT_MAX_REPLY_CHARS),
        )
