"""The pre-annotation Lambda's settings, from the environment stacks/feedback_stack.py gives the function.

    RATINGS_BUCKET           required: the bucket holding the rating records (JSON Lines)
    RATINGS_PREFIX           required, may be empty (the bucket's root): folder names each ending with "/",
                             e.g. "ratings/" (the same value the post-annotation Lambda writes under)
    RATINGS_CACHE_SECONDS    optional, 60..86400 (default 3600): how long an execution environment keeps the
                             set of rated turns before it lists the prefix again
    RATINGS_CACHE_MAX_TURNS  optional, 1..5000000 (default 500000): the most rated turns kept; past it the
                             rest are not read (those items go to a human again: extra work, nothing lost)

A missing or bad variable fails the invocation with an error naming it (Ground Truth then retries the
object), instead of silently sending every already-rated item back to the raters.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import integer_setting, ratings_location


@dataclass(frozen=True)
class PreSettings:
    ratings_bucket: str
    ratings_prefix: str
    cache_seconds: int = 3600
    cache_max_turns: int = 500_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "PreSettings":
        bucket, prefix = ratings_location(environ)
        return cls(ratings_bucket=bucket, ratings_prefix=prefix,
                   cache_seconds=integer_setting(environ, "RATINGS_CACHE_SECONDS", 60, 86400, cls.cache_seconds),
                   cache_max_turns=integer_setting(environ, "RATINGS_CACHE_MAX_TURNS", 1, 5_000_000, cls.cache_max_turns))
