"""The dataset Lambda's settings, from the environment stacks/finetune_stack.py gives the function.

    RATINGS_BUCKET       required: the bucket holding the rating records (JSON Lines)
    RATINGS_PREFIX       required, may be empty (the bucket's root): folders each ending with "/" ("ratings/")
    DATASET_BUCKET       required: the bucket the dataset is written to
    DATASET_PREFIX       required, may be empty: folders each ending with "/" ("datasets/"); a dataset is
                         written under <DATASET_PREFIX><dataset_id>/
    GOOD_MIN_RATING      optional, 1..5 (default 4): a rating at or above it is a well-rated answer
    BAD_MAX_RATING       optional, 1..5 (default 2), below GOOD_MIN_RATING: at or below it, a badly rated one
    EVAL_FRACTION        optional, 0 to less than 1 (default 0.2): the share of sessions held out
    SPLIT_SEED           optional (default "tandem"): changing it reshuffles which sessions are held out
    WEIGHT_BY_AGREEMENT  optional, "true" or "false" (default false): scale rewards by the raters' agreement
    MIN_TRAIN_ROWS       optional, 1..1000000 (default 10): fewer training reward rows stop the pipeline
    SYSTEM_PROMPT        optional (default none): the system prompt of the bedrock-conversation-2024 rows

A missing or bad variable fails the invocation with an error naming it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Mapping

from lambdas.common.env_settings import BUCKET_NAME, S3_PREFIX, SettingsError, integer_setting, ratings_location
from lambdas.common.training_data import DatasetError, DatasetOptions

# DatasetOptions field -> the variable that sets it, so that an option's error names the variable.
_VARIABLES = {"good_min_rating": "GOOD_MIN_RATING", "bad_max_rating": "BAD_MAX_RATING",
              "eval_fraction": "EVAL_FRACTION", "split_seed": "SPLIT_SEED",
              "weight_by_agreement": "WEIGHT_BY_AGREEMENT", "system_prompt": "SYSTEM_PROMPT"}
DEFAULT_MIN_TRAIN_ROWS = 10


@dataclass(frozen=True)
class DatasetSettings:
    ratings_bucket: str
    ratings_prefix: str
    dataset_bucket: str
    dataset_prefix: str
    options: DatasetOptions
    min_train_rows: int = DEFAULT_MIN_TRAIN_ROWS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "DatasetSettings":
        ratings_bucket, ratings_prefix = ratings_location(environ)
        dataset_bucket = environ.get("DATASET_BUCKET", "").strip()
        if not dataset_bucket:
            raise SettingsError("DATASET_BUCKET", "is required")
        if not BUCKET_NAME.fullmatch(dataset_bucket):
            raise SettingsError("DATASET_BUCKET", "must be an S3 bucket name")
        if "DATASET_PREFIX" not in environ:
            raise SettingsError("DATASET_PREFIX", "is required (an empty value means the bucket's root)")
        dataset_prefix = environ["DATASET_PREFIX"].strip()
        if not S3_PREFIX.fullmatch(dataset_prefix):
            raise SettingsError("DATASET_PREFIX", "must be empty or folder names each ending with '/'")
        return cls(ratings_bucket=ratings_bucket, ratings_prefix=ratings_prefix, dataset_bucket=dataset_bucket,
                   dataset_prefix=dataset_prefix, options=_options(environ),
                   min_train_rows=integer_setting(environ, "MIN_TRAIN_ROWS", 1, 1_000_000, DEFAULT_MIN_TRAIN_ROWS))


def _number(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(name, "must be a number") from None
    if not math.isfinite(number):
        raise SettingsError(name, "must be a number")
    return number


def _options(environ: Mapping[str, str]) -> DatasetOptions:
    defaults = DatasetOptions()
    weight = environ.get("WEIGHT_BY_AGREEMENT", "").strip().lower() or "false"
    if weight not in ("true", "false"):
        raise SettingsError("WEIGHT_BY_AGREEMENT", "must be true or false")
    good = _number(environ, "GOOD_MIN_RATING", defaults.good_min_rating)
    bad = _number(environ, "BAD_MAX_RATING", defaults.bad_max_rating)
    if bad >= good:  # either may be the wrong one: the message names both
        raise SettingsError("BAD_MAX_RATING", f"must be less than GOOD_MIN_RATING ({bad:g} >= {good:g})")
    try:
        return DatasetOptions(
            good_min_rating=good, bad_max_rating=bad,
            eval_fraction=_number(environ, "EVAL_FRACTION", defaults.eval_fraction),
            split_seed=environ.get("SPLIT_SEED", "").strip() or defaults.split_seed,
            weight_by_agreement=weight == "true", system_prompt=environ.get("SYSTEM_PROMPT", "").strip())
    except DatasetError as error:
        variable = _VARIABLES.get(error.field or "", "dataset options")
        raise SettingsError(variable, f"is not valid: {error}") from None
