"""The fields the fine-tuning pipeline's steps read from the events its state machine sends them, checked one
way. Each step raises its own InvalidRequest (passed in as `error`), whose message names the field.

The execution's name names each step's files (<prefix><name>/...), so it takes letters, digits and hyphens
only: nothing that could climb out of the prefix. It also names the training job, the Bedrock customization
job, the custom model and its deployment (tandem-ft-<name>), and Bedrock's custom model names allow no two
hyphens in a row, so neither does the pipeline: a name Bedrock would refuse hours into a run is refused by the
first step."""

from __future__ import annotations

import re
from typing import Any

from lambdas.common.env_settings import S3_URI, Rejected

EXECUTION_NAME = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*")


def execution_name(event: dict[str, Any], name: str, error: type[Exception], *, max_length: int = 80,
                   why: str = "") -> str:
    value = event.get(name)
    if not isinstance(value, str) or len(value) > max_length or not EXECUTION_NAME.fullmatch(value):
        raise error(f"{name} (the pipeline's execution name) must be 1 to {max_length} letters, digits and single "
                    f"hyphens, starting and ending with a letter or digit{why}")
    return value


def s3_uri(event: dict[str, Any], name: str, error: type[Exception]) -> str:
    value = event.get(name)
    try:
        return S3_URI.parse(value if isinstance(value, str) else "")  # not a string: refused as a blank one
    except Rejected as rejected:
        raise error(f"{name} must be {rejected.accepted}") from None
