"""stacks/config.py: cdk.json context -> one validated config; every bad value names its key."""

from __future__ import annotations

import pytest

from stacks.config import ConfigError, TandemConfig, config_keys, defaults_as_context, load_config
from tests.stacks.conftest import CDK_CONTEXT, ROOT


def test_cdk_json_context_holds_every_default():
    assert {k: CDK_CONTEXT[k] for k in config_keys()} == defaults_as_context()


def test_defaults_load():
    assert load_config(CDK_CONTEXT) == TandemConfig()


def test_unknown_context_keys_are_left_to_cdk():
    assert load_config({"@aws-cdk/core:newStyleStackSynthesis": True}) == TandemConfig()


def test_command_line_strings_are_coerced():
    config = load_config({"temperature": "0.5", "max_tokens": "256", "snapstart": "false",
                          "human_request_phrases": '["agent", "Human Please"]'})
    assert config.temperature == 0.5
    assert config.max_tokens == 256
    assert config.snapstart is False
    assert config.human_request_phrases == ("agent", "human please")


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TandemConfig().model_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("key, value, accepted", [
    ("alarm_email", "ops@@example", "an email address"),
    ("alarm_email", "ops example.com", "an email address"),
    ("negative_threshold", 1.5, "from 0.0 to 1.0"),
    ("negative_threshold", -0.1, "from 0.0 to 1.0"),
    ("temperature", "hot", "a number"),
    ("model_id", "", "a Bedrock model id"),
    ("model_id", "has spaces in it", "a Bedrock model id"),
    ("sentiment_detector", "textblob", "one of llm, comprehend, vader"),
    ("max_tokens", 0, "from 1 to 8192"),
    ("max_tokens", True, "an integer"),
    ("max_tokens", "12.5", "an integer"),
    ("snapstart", "yes", "true or false"),
    ("human_request_phrases", [], "a non-empty list"),
    ("human_request_phrases", ["agent", " "], "a non-empty list"),
    ("human_request_phrases", "agent", "a JSON list"),
    ("knowledge_base_id", "kb-1", "a 10-character Bedrock Knowledge Base id"),
    ("guardrail_version", "latest", "DRAFT or a version number"),
    ("log_retention_days", 10, "one of 1, 3, 5"),
    ("mfa", "sometimes", "one of off, optional, required"),
    ("consecutive_negative_turns", 21, "from 0 to 20"),
    ("handoff_message", "", "a non-empty message"),
    ("system_prompt", 42, "a string"),
    ("language_code", "english", "a language code"),
])
def test_bad_values_stop_synth_naming_the_key(key, value, accepted):
    with pytest.raises(ConfigError) as error:
        load_config({key: value})
    assert error.value.key == key
    assert f"'{key}'" in str(error.value)
    assert accepted in str(error.value)


def test_retry_budget_must_fit_the_api_timeout():
    load_config({"bedrock_max_attempts": 3, "bedrock_read_timeout_seconds": 8})
    with pytest.raises(ConfigError) as error:
        load_config({"bedrock_max_attempts": 4, "bedrock_read_timeout_seconds": 8})
    assert error.value.key == "bedrock_read_timeout_seconds"
    assert "29 s timeout" in str(error.value)


def test_readme_documents_every_key():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [key for key in config_keys() if f"`{key}`" not in readme]
    assert not missing, f"README.md does not document {missing}"
