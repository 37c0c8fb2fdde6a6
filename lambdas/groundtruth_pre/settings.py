"""The pre-annotation Lambda's settings: the environment stacks/feedback_stack.py gives the function.

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

from dataclasses import dataclass, field

from lambdas.common.env_settings import RATINGS_BUCKET, RATINGS_PREFIX, EnvSettings, Variable, integer


@dataclass(frozen=True)
class PreSettings(EnvSettings):
    ratings_bucket: str = field(metadata=RATINGS_BUCKET)
    ratings_prefix: str = field(metadata=RATINGS_PREFIX)
    cache_seconds: int = field(default=3600, metadata=Variable("RATINGS_CACHE_SECONDS", integer(60, 86400)))
    cache_max_turns: int = field(default=500_000,
                                 metadata=Variable("RATINGS_CACHE_MAX_TURNS", integer(1, 5_000_000)))
