"""What a Bedrock model id says about itself: whether it names a cross-Region inference profile, which
foundation model is behind it, and who provides that model.

Shared by the chatbot (langchain-aws needs the provider) and ChatbotStack (IAM needs the profile and the
model behind it), so both read an id the same way.
"""

from __future__ import annotations

# System-defined cross-Region inference profiles put a geography (or "global") before the model id:
# "eu.anthropic.claude-haiku-4-5-20251001-v1:0" is the EU profile of "anthropic.claude-haiku-4-5-...".
GEOGRAPHIC_PREFIXES = ("us", "us-gov", "eu", "apac", "jp", "au", "in", "ca")
GLOBAL_PREFIX = "global"
PROFILE_PREFIXES = (*GEOGRAPHIC_PREFIXES, GLOBAL_PREFIX)


def profile_prefix(model_id: str) -> str | None:
    """The geography of a system-defined inference profile id ("eu", "global"), or None for anything else
    (a foundation model id, an ARN)."""
    head, dot, _ = model_id.partition(".")
    return head if dot and head in PROFILE_PREFIXES else None


def base_model_id(model_id: str) -> str:
    """The foundation model an id invokes: the id itself, or the part after an inference profile's prefix.
    A foundation-model or system inference-profile ARN gives its model id; other ARNs (imported models,
    application inference profiles) are returned whole because they name no public model."""
    if model_id.startswith("arn:") and ":foundation-model/" in model_id:
        return model_id.split(":foundation-model/", 1)[1]
    if model_id.startswith("arn:") and ":inference-profile/" in model_id:
        return base_model_id(model_id.split(":inference-profile/", 1)[1])
    prefix = profile_prefix(model_id)
    return model_id.split(".", 1)[1] if prefix else model_id


def provider(model_id: str) -> str | None:
    """The model's provider as langchain-aws names it ("anthropic", "amazon", "meta"), or None when the id
    is an ARN that does not say (the configuration must then give it)."""
    base = base_model_id(model_id)
    return None if base.startswith("arn:") else base.split(".", 1)[0]
