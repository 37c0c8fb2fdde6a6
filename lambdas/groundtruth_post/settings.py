"""The post-annotation Lambda's settings, from the environment its stack gives the function.

Both variables are required: a missing or bad one fails the invocation with an error naming it, before
any rating is written (Ground Truth retries the batch), instead of writing ratings to the wrong place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

# S3 bucket naming rules (3-63 lower-case letters, digits, dots, hyphens); a prefix is a folder ("ratings/").
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^(?:[A-Za-z0-9!_.*'()-]+/)*$")


class SettingsError(ValueError):
    def __init__(self, variable: str, problem: str):
        super().__init__(f"environment variable {variable} {problem}")
        self.variable = variable


@dataclass(frozen=True)
class PostSettings:
    ratings_bucket: str
    ratings_prefix: str  # "" or folders ending with "/": the file is <prefix><job-name>.jsonl

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "PostSettings":
        bucket = environ.get("RATINGS_BUCKET", "").strip()
        if not bucket:
            raise SettingsError("RATINGS_BUCKET", "is required")
        if not _BUCKET.fullmatch(bucket):
            raise SettingsError("RATINGS_BUCKET", "must be an S3 bucket name")
        if "RATINGS_PREFIX" not in environ:
            raise SettingsError("RATINGS_PREFIX", "is required (an empty value means the bucket's root)")
        prefix = environ["RATINGS_PREFIX"].strip()
        if not _PREFIX.fullmatch(prefix):
            raise SettingsError("RATINGS_PREFIX", "must be empty or folder names each ending with '/'")
        return cls(ratings_bucket=bucket, ratings_prefix=prefix)
