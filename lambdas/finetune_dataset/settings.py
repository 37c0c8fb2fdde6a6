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
    MIN_EVAL_ROWS        optional, 0..1000000 (default 10): fewer well-rated, or fewer badly rated, held-out
                         reward rows stop the pipeline (the held-out measures need both; 0 turns the check off)
    SYSTEM_PROMPT        optional (default none): the system prompt of the bedrock-conversation-2024 rows
    THUMBS_WEIGHT        optional, above 0 and at most 1 (default 0.5): the weight of a KTO row from a
                         customer's thumb (an expert rating's row weighs 1)

A missing or bad variable fails the invocation with an error naming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import (
    BUCKET,
    FLAG,
    RATINGS_BUCKET,
    RATINGS_PREFIX,
    S3_PREFIX,
    TEXT,
    EnvSettings,
    SettingsError,
    Variable,
    integer,
    number,
    variable_of,
)
from lambdas.common.training_data import DatasetError, DatasetOptions

DEFAULT_MIN_TRAIN_ROWS = 10
_DEFAULTS = DatasetOptions()


@dataclass(frozen=True)
class DatasetSettings(EnvSettings):
    ratings_bucket: str = field(metadata=RATINGS_BUCKET)
    ratings_prefix: str = field(metadata=RATINGS_PREFIX)
    dataset_bucket: str = field(metadata=Variable("DATASET_BUCKET", BUCKET))
    dataset_prefix: str = field(metadata=Variable("DATASET_PREFIX", S3_PREFIX))
    # The DatasetOptions, one variable each (DatasetOptions checks their ranges).
    good_min_rating: float = field(default=_DEFAULTS.good_min_rating,
                                   metadata=Variable("GOOD_MIN_RATING", number()))
    bad_max_rating: float = field(default=_DEFAULTS.bad_max_rating, metadata=Variable("BAD_MAX_RATING", number()))
    eval_fraction: float = field(default=_DEFAULTS.eval_fraction, metadata=Variable("EVAL_FRACTION", number()))
    split_seed: str = field(default=_DEFAULTS.split_seed, metadata=Variable("SPLIT_SEED", TEXT))
    weight_by_agreement: bool = field(default=_DEFAULTS.weight_by_agreement,
                                      metadata=Variable("WEIGHT_BY_AGREEMENT", FLAG))
    system_prompt: str = field(default=_DEFAULTS.system_prompt, metadata=Variable("SYSTEM_PROMPT", TEXT))
    thumbs_weight: float = field(default=_DEFAULTS.thumbs_weight, metadata=Variable("THUMBS_WEIGHT", number()))
    min_train_rows: int = field(default=DEFAULT_MIN_TRAIN_ROWS,
                                metadata=Variable("MIN_TRAIN_ROWS", integer(1, 1_000_000)))
    min_eval_rows: int = field(default=_DEFAULTS.min_eval_rows,
                               metadata=Variable("MIN_EVAL_ROWS", integer(0, 1_000_000)))
    options: DatasetOptions = field(init=False, repr=False)  # the DatasetOptions fields above, checked

    def __post_init__(self) -> None:
        if self.bad_max_rating >= self.good_min_rating:  # either may be the wrong one: the message names both
            bad, good = (variable_of(DatasetSettings, f).name for f in ("bad_max_rating", "good_min_rating"))
            raise SettingsError(bad, f"must be less than {good} ({self.bad_max_rating:g} >= {self.good_min_rating:g})")
        try:
            options = DatasetOptions(
                good_min_rating=self.good_min_rating, bad_max_rating=self.bad_max_rating,
                eval_fraction=self.eval_fraction, split_seed=self.split_seed,
                weight_by_agreement=self.weight_by_agreement, system_prompt=self.system_prompt,
                thumbs_weight=self.thumbs_weight, min_eval_rows=self.min_eval_rows)
        except DatasetError as error:
            variable = variable_of(DatasetSettings, error.field).name if error.field else "dataset options"
            raise SettingsError(variable, f"is not valid: {error}") from None
        object.__setattr__(self, "options", options)  # a frozen dataclass sets its derived field this way
