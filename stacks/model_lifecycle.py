"""Bedrock models the project knows to be Legacy or end-of-life, so that `cdk synth` warns before a deploy
answers nothing.

A warning, never an error: the table ages, lifecycle state differs by Region (a model can live on in a few
Regions after its end-of-life date elsewhere), and an account may have a private arrangement. The model's
live state is what `aws bedrock get-foundation-model --model-identifier <id> --query
modelDetails.modelLifecycle` says; `make smoke` checks it after a deploy.

Each row was read from AWS's lifecycle pages on CHECKED (docs/external-defaults.md lists every
external default, where it was checked and when). Update the rows and CHECKED together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lambdas.chatbot.model_ids import base_model_id

CHECKED = "2026-11-30"
SOURCE = "https://docs.aws.amazon.com/bedrock/latest/userguide/model-lifecycle-legacy.html"
# What the warning proposes: Tandem's default answer model (stacks/config.py), Active when CHECKED.
REPLACEMENT = "global.anthropic.claude-haiku-4-5-20251001-v1:0"


@dataclass(frozen=True)
class Retirement:
    legacy_since: str
    end_of_life: str  # the date for most Regions; some Regions differ (see SOURCE)

    def state_on(self, day: date) -> str:
        return "end-of-life" if day >= date.fromisoformat(self.end_of_life) else "Legacy"


RETIRED: dict[str, Retirement] = {
    "anthropic.claude-3-haiku-20240307-v1:0": Retirement("2026-03-10", "2026-09-10"),
    "anthropic.claude-3-sonnet-20240229-v1:0": Retirement("2026-01-30", "2026-07-30"),
    "anthropic.claude-3-5-haiku-20241022-v1:0": Retirement("2025-12-19", "2026-06-19"),
    "anthropic.claude-3-5-sonnet-20240620-v1:0": Retirement("2026-01-30", "2026-07-30"),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": Retirement("2026-01-30", "2026-07-30"),
    "anthropic.claude-3-7-sonnet-20250219-v1:0": Retirement("2026-01-30", "2026-07-30"),
    "anthropic.claude-sonnet-4-20250514-v1:0": Retirement("2026-04-14", "2026-10-14"),
    "anthropic.claude-opus-4-20250514-v1:0": Retirement("2025-10-01", "2026-05-31"),
    "anthropic.claude-opus-4-1-20250805-v1:0": Retirement("2026-07-08", "2027-01-08"),
    "anthropic.claude-sonnet-4-5-20250929-v1:0": Retirement("2026-10-08", "2027-04-08"),
    "meta.llama3-1-405b-instruct-v1:0": Retirement("2026-01-07", "2026-07-07"),
    "meta.llama3-2-1b-instruct-v1:0": Retirement("2026-01-07", "2026-07-07"),
    "meta.llama3-2-3b-instruct-v1:0": Retirement("2026-01-07", "2026-07-07"),
    "meta.llama3-2-11b-instruct-v1:0": Retirement("2026-01-07", "2026-07-07"),
    "meta.llama3-2-90b-instruct-v1:0": Retirement("2026-01-07", "2026-07-07"),
    "cohere.command-r-v1:0": Retirement("2026-02-19", "2026-08-19"),
    "cohere.command-r-plus-v1:0": Retirement("2026-02-19", "2026-08-19"),
    "amazon.nova-premier-v1:0": Retirement("2026-03-13", "2026-09-14"),
}


def lifecycle_warning(key: str, model_id: str, today: date) -> str | None:
    """The synth warning for cdk.json `key` = `model_id`, or None when the table knows nothing against it."""
    retirement = RETIRED.get(base_model_id(model_id))
    if retirement is None:
        return None
    state = retirement.state_on(today)
    consequence = (f"has been end-of-life on Amazon Bedrock since {retirement.end_of_life}: requests to it fail"
                   if state == "end-of-life" else
                   f"is Legacy on Amazon Bedrock (end-of-life {retirement.end_of_life}): accounts that have not "
                   "used it recently cannot call it, and it stops answering at end-of-life")
    return (f"cdk.json '{key}' = '{model_id}' {consequence}. Replace it with '{REPLACEMENT}' (Tandem's default) "
            f"or another Active model; check a model with `aws bedrock get-foundation-model --model-identifier "
            f"<id> --query modelDetails.modelLifecycle`. (Tandem's lifecycle table, checked {CHECKED}: {SOURCE})")
