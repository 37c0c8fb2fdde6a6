"""How a Bedrock model id is read: profile prefix, the model behind it, its provider."""

from __future__ import annotations

import pytest

from lambdas.chatbot.model_ids import base_model_id, profile_prefix, provider

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


@pytest.mark.parametrize("model_id, prefix, base, owner", [
    (HAIKU, None, HAIKU, "anthropic"),
    (f"global.{HAIKU}", "global", HAIKU, "anthropic"),
    (f"eu.{HAIKU}", "eu", HAIKU, "anthropic"),
    (f"in.{HAIKU}", "in", HAIKU, "anthropic"),  # a prefix langchain-aws does not know
    ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "us-gov", "anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
    ("amazon.nova-micro-v1:0", None, "amazon.nova-micro-v1:0", "amazon"),
    (f"arn:aws:bedrock:eu-west-1::foundation-model/{HAIKU}", None, HAIKU, "anthropic"),
    (f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{HAIKU}", None, HAIKU, "anthropic"),
])
def test_ids_are_read_into_prefix_base_model_and_provider(model_id, prefix, base, owner):
    assert (profile_prefix(model_id), base_model_id(model_id), provider(model_id)) == (prefix, base, owner)


@pytest.mark.parametrize("arn", [
    "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcd1234efgh",
    "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
])
def test_an_arn_that_names_no_public_model_has_no_provider(arn):
    assert base_model_id(arn) == arn
    assert provider(arn) is None
