"""The post-annotation Lambda's settings, from the environment its stack gives the function.

Both variables are required: a missing or bad one fails the invocation with an error naming it, before
any rating is written (Ground Truth retries the batch), instead of writing ratings to the wrong place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import BUCKET_NAME, S3_PREFIX, SettingsError


@dataclass(frozen=True)
class PostSettings:
    ratings_bucket: str
    ratings_prefix: str  # "" or folders ending with "/": the file is <prefix><job-name>.jsonl

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "PostSettings":
        bucket = environ.get("RATINGS_BUCKET", "").strip()
        if not bucket:
            raise SettingsError("RATINGS_BUCKET", "is required")
        if not BUCKET_NAME.fullmatch(bucket):
            raise SettingsError("RATINGS_BUCKET", "must be an S3 bucket name")
        if "RATINGS_PREFIX" not in environ:
            raise SettingsError("RATINGS_PREFIX", "is required (an empty value means the bucket's root)")
        prefix = environ["RATINGS_PREFIX"].strip()
        if not S3_PREFIX.fullmatch(prefix):
            raise SettingsError("RATINGS_PREFIX", "must be empty or folder names each ending with '/'")
        return cls(ratings_bucket=bucket, ratings_prefix=prefix)
