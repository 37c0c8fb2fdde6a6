"""What the dataset Lambda does: read every rating record file, every file of customers' thumbs and every
accepted expert answer, build the dataset (lambdas/common/training_data.py), write it in the layout the
fine-tuning pipeline reads. S3 is reached through injected seams only: three RatingFiles (the inputs: rating
records under RATINGS_PREFIX, the thumbs the feedback sampler exports under thumbs/ and the experts' answers
the rating console accepted under expert-answers/, all in the same bucket) and a BucketWriter (the output).

Input: every rating file under RATINGS_PREFIX (lambdas/common/rating_files.py: `.jsonl`, `.jsonl.gz`; other
keys are counted, not read), in key order, so
that "the later record of a turn wins" means the same thing on every run. Objects are streamed line by
line into the builder; only the accepted records are held in memory.

Output, under s3://DATASET_BUCKET/DATASET_PREFIX<dataset_id>/ (encrypted by the bucket's default):
    train/reward.jsonl  train/kto.jsonl  eval/reward.jsonl  eval/kto.jsonl
    bedrock/train.jsonl  bedrock/validation.jsonl                           (prompt/completion)
    bedrock-conversation/train.jsonl  bedrock-conversation/validation.jsonl (bedrock-conversation-2024)
    report.json         (Dataset.to_report() plus the dataset id and the objects read)
report.json is written first, even when the dataset is too small (NotEnoughTrainingData: fewer than
MIN_TRAIN_ROWS training rows, or fewer than MIN_EVAL_ROWS well-rated or badly rated held-out rows), so that
the reason can be read; the row files are written only for a usable dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.pipeline_request import execution_name
from lambdas.common.rating_files import RatingFiles
from lambdas.common.training_data import KTO_FILE, REWARD_FILE, Dataset, DatasetError, build_dataset, to_jsonl
from lambdas.finetune_dataset.settings import DatasetSettings

# The pipeline's execution name: it also names the training job tandem-ft-<name>, which SageMaker limits to
# 63 letters, digits and hyphens (no leading or trailing hyphen), and Bedrock's custom models allow no two hyphens in
# a row (lambdas/common/pipeline_request.py). Checked here, the first step, so a bad
# name fails before any work instead of at CreateTrainingJob.
MAX_DATASET_ID = 53
REPORT_FILE = "report.json"
JSONL_CONTENT_TYPE = "application/x-ndjson"


class InvalidRequest(ValueError):
    """The event is not {"dataset_id": "<1 to 53 letters, digits and single hyphens>"}."""


class NotEnoughTrainingData(RuntimeError):
    """Too few training rows to fine-tune, or too few held-out rows to measure it; the class name is the error
    name Step Functions catches."""


@dataclass(frozen=True)
class SourceStats:
    objects_read: int = 0
    objects_skipped: int = 0  # keys under the prefix that are not *.jsonl
    thumbs_objects_read: int = 0  # the thumbs files (lambdas/common/thumbs.py ThumbRecord lines)
    expert_answer_objects_read: int = 0  # lambdas/common/expert_answers.py ExpertAnswerRecord files


def dataset_id(event: Any) -> str:
    return execution_name(event if isinstance(event, dict) else {}, "dataset_id", InvalidRequest, max_length=MAX_DATASET_ID,
                          why=": it also names the training job, which SageMaker limits to 63 such characters")


def files(dataset: Dataset) -> dict[str, bytes]:
    """Relative key -> body of every row file."""
    return {f"train/{REWARD_FILE}": to_jsonl(dataset.train.reward),
            f"train/{KTO_FILE}": to_jsonl(dataset.train.kto),
            f"eval/{REWARD_FILE}": to_jsonl(dataset.eval.reward),
            f"eval/{KTO_FILE}": to_jsonl(dataset.eval.kto),
            "bedrock/train.jsonl": to_jsonl(dataset.train.bedrock_prompt_completion),
            "bedrock/validation.jsonl": to_jsonl(dataset.eval.bedrock_prompt_completion),
            "bedrock-conversation/train.jsonl": to_jsonl(dataset.train.bedrock_conversation),
            "bedrock-conversation/validation.jsonl": to_jsonl(dataset.eval.bedrock_conversation)}


def build(settings: DatasetSettings, dataset_id: str, *, ratings: RatingFiles, output: BucketWriter,
          thumbs: RatingFiles | None = None, expert_answers: RatingFiles | None = None
          ) -> tuple[dict[str, Any], Dataset, SourceStats]:
    """Reads the rating records (and the customers' thumbs, and the accepted experts' answers), writes the
    dataset; returns (the Lambda's result,
    the dataset, what was read). Raises NotEnoughTrainingData, after writing report.json, when the train split
    is too small or the eval split lacks well-rated or badly rated rows."""
    listing = ratings.list()
    keys, skipped = listing.keys, listing.skipped
    thumb_keys = thumbs.list().keys if thumbs is not None else []
    answer_keys = expert_answers.list().keys if expert_answers is not None else []
    stats = SourceStats(objects_read=len(keys), objects_skipped=skipped, thumbs_objects_read=len(thumb_keys),
                        expert_answer_objects_read=len(answer_keys))
    sources = ((key, ratings.lines(key)) for key in keys)  # each object opened when reached
    thumb_sources = ((key, thumbs.lines(key)) for key in thumb_keys) if thumbs is not None else ()
    answer_sources = ((key, expert_answers.lines(key)) for key in answer_keys) if expert_answers is not None else ()
    dataset = build_dataset(sources, settings.options, thumb_sources, answer_sources)

    base = f"{settings.dataset_prefix}{dataset_id}/"
    uri = f"s3://{output.bucket}/{base}"
    report = {"dataset_id": dataset_id, "ratings_uri": f"s3://{settings.ratings_bucket}/{settings.ratings_prefix}",
              "objects_read": stats.objects_read, "objects_skipped": stats.objects_skipped,
              "thumbs_objects_read": stats.thumbs_objects_read,
              "expert_answer_objects_read": stats.expert_answer_objects_read, "min_train_rows": settings.min_train_rows, **dataset.to_report()}
    output.put(f"{base}{REPORT_FILE}", json.dumps(report, ensure_ascii=False, indent=1).encode("utf-8"),
               "application/json")

    train_rows = len(dataset.train.reward)
    if train_rows < settings.min_train_rows:
        raise NotEnoughTrainingData(
            f"the train split has {train_rows} reward rows, fewer than MIN_TRAIN_ROWS={settings.min_train_rows} "
            f"({dataset.records} records accepted, {len(dataset.eval.reward)} in eval, "
            f"{dataset.bad_rows.total} bad rows; see {uri}{REPORT_FILE})")
    try:
        dataset.require_eval_rows()
    except DatasetError as error:
        raise NotEnoughTrainingData(f"{error} (MIN_EVAL_ROWS; see {uri}{REPORT_FILE})") from error
    for name, body in files(dataset).items():
        output.put(f"{base}{name}", body, JSONL_CONTENT_TYPE)

    result = {"dataset_id": dataset_id, "dataset_uri": uri, "train_uri": f"{uri}train/", "eval_uri": f"{uri}eval/",
              "report_uri": f"{uri}{REPORT_FILE}",
              "counts": {"records": dataset.records, "train": dataset.train.counts(), "eval": dataset.eval.counts()},
              "bad_rows": dataset.bad_rows.total}
    return result, dataset, stats
