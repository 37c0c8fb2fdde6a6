"""The chatbot's runtime settings, handed over by ChatbotStack as one JSON environment variable.

The field names are the cdk.json context keys they come from (stacks/config.py validates them at synth);
the stack serializes exactly `ChatbotSettings.context_keys()`, so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Mapping

ENV_VAR = "CHATBOT_SETTINGS"
# Knowledge-base retrieval is a fast vector search: few attempts, short time-outs (stacks/config.py counts
# them in the API's time budget).
RETRIEVAL_MAX_ATTEMPTS = 2
RETRIEVAL_READ_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class ChatbotSettings:
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
    negative_threshold: float
    consecutive_negative_turns: int
    human_request_phrases: tuple[str, ...]
    escalate_on_model_error: bool
    handoff_message: str
    model_error_message: str
    max_message_chars: int
    session_ttl_days: int

    @classmethod
    def context_keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> "ChatbotSettings":
        missing = [k for k in cls.context_keys() if k not in values]
        if missing:
            raise ValueError(f"{ENV_VAR} lacks {', '.join(missing)}")
        data = {k: values[k] for k in cls.context_keys()}
        data["human_request_phrases"] = tuple(data["human_request_phrases"])  # type: ignore[arg-type]
        return cls(**data)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "ChatbotSettings":
        return cls.from_mapping(json.loads(environ[ENV_VAR]))

    @property
    def effective_gate_model_id(self) -> str:
        return self.gate_model_id or self.model_id
