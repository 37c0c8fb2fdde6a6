"""The chatbot's runtime settings, handed over by ChatbotStack: the cdk.json values as one JSON environment
variable, and the sessions table's name beside it.

The JSON's keys are the fields' names, which are the cdk.json context keys they come from (stacks/config.py
validates them at synth): the stack writes `ChatbotSettings.from_config(...).to_env()` and the function
reads `ChatbotSettings.from_env()`, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from lambdas.common.env_settings import (
    SESSIONS_TABLE,
    SITE_URL,
    EnvSettings,
    Parser,
    SettingsError,
    Variable,
    declared,
    read,
)

ENV_VAR = "CHATBOT_SETTINGS"
# Knowledge-base retrieval is a fast vector search: few attempts, short time-outs (stacks/config.py counts
# them in the API's time budget).
RETRIEVAL_MAX_ATTEMPTS = 2
RETRIEVAL_READ_TIMEOUT_SECONDS = 3


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(text)
    return value


_CONTEXT = Variable(ENV_VAR, Parser("a JSON object of the context keys", _json_object))


@dataclass(frozen=True)
class ChatbotSettings(EnvSettings):
    model_id: str
    # langchain-aws cannot tell the provider from an ARN (an imported or provisioned model): it is given here.
    model_provider: str
    temperature: float
    max_tokens: int
    system_prompt: str
    history_turns: int
    knowledge_base_id: str
    knowledge_base_results: int
    guardrail_id: str
    guardrail_version: str
    bedrock_max_attempts: int
    bedrock_read_timeout_seconds: int
    sentiment_detector: str
    gate_model_id: str
    language_code: str
    vader_negative_threshold: float
    comprehend_negative_threshold: float
    llm_negative_threshold: float
    consecutive_negative_turns: int
    human_request_languages: tuple[str, ...]
    human_request_patterns: tuple[str, ...]
    escalate_on_model_error: bool
    escalate_on_frustration_cues: bool
    handoff_message: str
    model_error_message: str
    max_message_chars: int
    session_ttl_days: int
    # Not context keys: what the stacks create, variables of their own.
    sessions_table: str = field(metadata=SESSIONS_TABLE)
    site_url: str = field(default="", metadata=SITE_URL)  # the web app, whose pages call this API

    @classmethod
    def context_keys(cls) -> list[str]:
        """The fields CHATBOT_SETTINGS carries: every field that is not a variable of its own."""
        return [f.name for f in dataclasses.fields(cls) if declared(f) is None]

    @classmethod
    def from_config(cls, config: object, *, sessions_table: str, site_url: str = "") -> ChatbotSettings:
        """The settings a stack gives the function: `config` (stacks/config.py's TandemConfig) has an
        attribute for every context key."""
        return cls(sessions_table=sessions_table, site_url=site_url,
                   **{k: getattr(config, k) for k in cls.context_keys()})

    @classmethod
    def context_json(cls, values: object) -> str:
        """CHATBOT_SETTINGS for the context keys' values, attributes of `values` (settings or a config)."""
        return json.dumps({k: getattr(values, k) for k in cls.context_keys()}, separators=(",", ":"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ChatbotSettings:
        values = _CONTEXT.read(environ)
        missing = [k for k in cls.context_keys() if k not in values]
        if missing:
            raise SettingsError(ENV_VAR, f"lacks {', '.join(missing)}")
        data = {k: values[k] for k in cls.context_keys()}
        for key in ("human_request_languages", "human_request_patterns"):
            data[key] = tuple(data[key])
        return read(cls, environ, **data)

    def to_env(self) -> dict[str, str]:
        return {ENV_VAR: self.context_json(self), **super().to_env()}

    @property
    def negative_threshold(self) -> float:
        """The configured detector's own threshold."""
        return float(getattr(self, f"{self.sentiment_detector}_negative_threshold"))

    @property
    def effective_gate_model_id(self) -> str:
        return self.gate_model_id or self.model_id
