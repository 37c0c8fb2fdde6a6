"""The rating API's settings: the environment stacks/feedback_stack.py gives the function.

A missing or malformed variable stops the function at init with a message naming it, instead of taking
ratings it would then write to the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import RATINGS_BUCKET, RATINGS_PREFIX, RATINGS_TABLE, SITE_URL, EnvSettings


@dataclass(frozen=True)
class RatingApiSettings(EnvSettings):
    ratings_table: str = field(metadata=RATINGS_TABLE)
    # Where each consolidated item's record goes: <prefix>console/<batch_id>/<item_id>.jsonl
    ratings_bucket: str = field(metadata=RATINGS_BUCKET)
    ratings_prefix: str = field(metadata=RATINGS_PREFIX)
    # The web app's address, whose rating page calls this API; empty names no origin (no CORS answer).
    site_url: str = field(default="", metadata=SITE_URL)
