"""The fine-tuning pipeline's dataset step, deployed by stacks/finetune_stack.py and invoked by its state
machine with {"dataset_id": "<execution name>"}.

The handler is thin: the request and the settings are checked (dataset.dataset_id, settings.py), then
dataset.build reads every rating record, writes the training files and report.json under
s3://DATASET_BUCKET/DATASET_PREFIX<dataset_id>/ and returns their URIs and counts. It raises
InvalidRequest for a bad dataset_id, SettingsError for a bad environment, and NotEnoughTrainingData
(the Step Functions error name) when the train split is smaller than MIN_TRAIN_ROWS or the eval split holds
fewer than MIN_EVAL_ROWS well-rated or badly rated answers.
Logs and metrics carry ids and counts only: never a question or an answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.common import clients
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.expert_answers import EXPERT_ANSWERS_PREFIX
from lambdas.common.rating_files import RatingFiles
from lambdas.common.startup import Startup
from lambdas.common.thumbs import THUMBS_PREFIX
from lambdas.finetune_dataset import dataset
from lambdas.finetune_dataset.dataset import InvalidRequest, NotEnoughTrainingData
from lambdas.finetune_dataset.settings import DatasetSettings

__all__ = ["handler", "InvalidRequest", "NotEnoughTrainingData"]

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

@dataclass(frozen=True)
class Dependencies:
    settings: DatasetSettings
    ratings: RatingFiles
    thumbs: RatingFiles  # the customers' thumbs the feedback sampler exports beside the ratings
    expert_answers: RatingFiles  # the experts' answers the rating console accepted, beside them too
    output: BucketWriter


def wired(settings: DatasetSettings, s3: Any) -> Dependencies:
    """The function's inputs and output on `s3` (the local demo wires its own settings and client the same way)."""
    return Dependencies(settings=settings,
                        ratings=RatingFiles(s3, settings.ratings_bucket, settings.ratings_prefix),
                        thumbs=RatingFiles(s3, settings.ratings_bucket, THUMBS_PREFIX),
                        expert_answers=RatingFiles(s3, settings.ratings_bucket, EXPERT_ANSWERS_PREFIX),
                        output=BucketWriter(settings.dataset_bucket, lambda: s3))


def build() -> Dependencies:
    # The client is created now (init phase) instead of in the first invocation's time.
    return wired(DatasetSettings.from_env(), clients.client("s3"))


dependencies = Startup(build)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ready = dependencies.get()
    dataset_id = dataset.dataset_id(event)
    logger.append_keys(dataset_id=dataset_id)
    try:
        result, built, stats = dataset.build(ready.settings, dataset_id, ratings=ready.ratings,
                                             output=ready.output, thumbs=ready.thumbs,
                                             expert_answers=ready.expert_answers)
    except NotEnoughTrainingData:
        metrics.add_metric(name="DatasetsTooSmall", unit=MetricUnit.Count, value=1)
        logger.warning("not enough training data; only report.json was written")
        raise
    counts = result["counts"]
    logger.info("dataset written", extra={
        "objects_read": stats.objects_read, "objects_skipped": stats.objects_skipped, "records": built.records,
        "bad_rows": built.bad_rows.total, "bad_rows_by_reason": dict(built.bad_rows.counts),
        "thumbs_objects_read": stats.thumbs_objects_read, "thumbs": built.thumbs.records,
        "thumbs_used": built.thumbs.used, "thumbs_bad_rows": built.thumbs.bad_rows.total,
        "expert_answers": built.expert_answers.records,
        "expert_answers_bad_rows": built.expert_answers.bad_rows.total,
        "train": counts["train"], "eval": counts["eval"], "bedrock_truncated": built.bedrock_truncated})
    metrics.add_metric(name="DatasetRecords", unit=MetricUnit.Count, value=built.records)
    metrics.add_metric(name="DatasetBadRows", unit=MetricUnit.Count, value=built.bad_rows.total)
    metrics.add_metric(name="DatasetThumbs", unit=MetricUnit.Count, value=built.thumbs.used)
    metrics.add_metric(name="DatasetTrainRows", unit=MetricUnit.Count, value=counts["train"]["reward"])
    return result


dependencies.prepare_during_init()  # in Lambda's init phase: settings and the S3 client before the first call
