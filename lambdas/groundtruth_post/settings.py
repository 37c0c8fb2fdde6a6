"""The post-annotation Lambda's settings, from the environment its stack gives the function.

Both variables are required: a missing or bad one fails the invocation with an error naming it, before
any rating is written (Ground Truth retries the batch), instead of writing ratings to the wrong place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import ratings_location


@dataclass(frozen=True)
class PostSettings:
    ratings_bucket: str
    ratings_prefix: str  # "" or folders ending with "/": the file is <prefix><job-name>.jsonl

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "PostSettings":
        bucket, prefix = ratings_location(environ)
        return cls(ratings_bucket=bucket, ratings_prefix=prefix)
