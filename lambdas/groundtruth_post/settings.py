"""The post-annotation Lambda's settings: the environment stacks/feedback_stack.py gives the function.

Both variables are required: a missing or bad one fails the invocation with an error naming it, before
any rating is written (Ground Truth retries the batch), instead of writing ratings to the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import RATINGS_BUCKET, RATINGS_PREFIX, EnvSettings


@dataclass(frozen=True)
class PostSettings(EnvSettings):
    ratings_bucket: str = field(metadata=RATINGS_BUCKET)
    # "" or folders ending with "/": the file is <prefix><job-name>.jsonl
    ratings_prefix: str = field(metadata=RATINGS_PREFIX)
