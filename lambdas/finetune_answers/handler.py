"""The fine-tuning pipeline's answers step on its Bedrock path, deployed by stacks/finetune_stack.py when
finetune_path is "bedrock"; its state machine invokes it, once Bedrock's custom model is deployed on demand,
with {"evaluation_id": "<execution name>", "eval_uri": "s3://<bucket>/datasets/<run>/eval/",
"tuned_model_id": "<the deployment's ARN>"}.

The handler is thin: the request and the settings are checked (answering.py, settings.py); the eval split's
reward rows are read (lambdas/common/training_data.py read_rows, which names a bad row's file, line and
field); the held-out questions are answered by the base model and the custom model (answering.py); the
answers file is written to s3://ANSWERS_BUCKET/ANSWERS_PREFIX<evaluation_id>/gate_answers.jsonl. It returns
the file's URI and the counts; the gate step reads the file next. It raises InvalidRequest for a bad event,
SettingsError for a bad environment, DatasetError for an eval file that is not the dataset's, and
AnswersUnavailable when too many questions went unanswered.

Logs and metrics carry ids, counts and error codes only: never a question or an answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from lambdas.common import clients
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.feedback import split_s3_uri
from lambdas.common.startup import Startup
from lambdas.common.training_data import REWARD_FILE, DatasetError, held_out_questions, read_rows
from lambdas.finetune_answers import answering
from lambdas.finetune_answers.answering import AnswersUnavailable, InvalidRequest
from lambdas.finetune_answers.settings import AnswersSettings

__all__ = ["handler", "InvalidRequest", "AnswersUnavailable", "DatasetError"]

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))
ANSWERING = "answering"  # the Bedrock client's purpose (lambdas/common/clients.py): its own retries and time-outs


@dataclass(frozen=True)
class Dependencies:
    settings: AnswersSettings
    answerer: answering.ConverseAnswerer
    output: BucketWriter


def answering_config(settings: AnswersSettings) -> Config:
    # Standard retries back off on throttling and retry ModelNotReadyException, which a custom model answers
    # while Bedrock loads it after a quiet spell. One connection per concurrent question.
    return Config(retries={"mode": "standard", "total_max_attempts": settings.max_attempts},
                  read_timeout=settings.read_timeout_seconds, connect_timeout=5,
                  max_pool_connections=max(10, settings.concurrency))


def build() -> Dependencies:
    settings = AnswersSettings.from_env()
    clients.configure("bedrock-runtime", answering_config(settings), purpose=ANSWERING)
    bedrock = clients.client("bedrock-runtime", purpose=ANSWERING)  # created now (init phase)
    clients.client("s3")
    return Dependencies(settings=settings,
                        answerer=answering.ConverseAnswerer(bedrock, settings.max_answer_tokens),
                        output=BucketWriter(settings.answers_bucket, lambda: clients.client("s3")))


dependencies = Startup(build)


def eval_rows(eval_uri: str) -> list[dict[str, Any]]:
    uri = f"{eval_uri}{REWARD_FILE}"
    bucket, key = split_s3_uri(uri)
    body = clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    return read_rows(body.iter_lines(), "reward", uri)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ready = dependencies.get()
    settings = ready.settings
    request = answering.parse_request(event)
    logger.append_keys(evaluation_id=request.evaluation_id)
    questions = answering.numbered(held_out_questions(eval_rows(request.eval_uri), settings.max_questions))
    answered = answering.answer_all(ready.answerer, questions, base_model_id=settings.base_model_id,
                                    tuned_model_id=request.tuned_model_id, concurrency=settings.concurrency)
    failures = answering.failures_by_code(answered)
    unanswered = sum(failures.values())
    logger.info("held-out questions answered", extra={"questions": len(answered), "unanswered": unanswered,
                                                      "failures_by_code": failures})
    metrics.add_metric(name="GateQuestionsAnswered", unit=MetricUnit.Count, value=len(answered) - unanswered)
    metrics.add_metric(name="GateQuestionsUnanswered", unit=MetricUnit.Count, value=unanswered)
    answering.check_failures(answered, settings.max_failure_share)

    key = f"{settings.answers_prefix}{request.evaluation_id}/{answering.ANSWERS_FILE}"
    ready.output.put(key, answering.to_jsonl(answered), "application/x-ndjson")
    return {"evaluation_id": request.evaluation_id, "answers_uri": f"s3://{settings.answers_bucket}/{key}",
            "questions": len(answered), "answered": len(answered) - unanswered, "failures_by_code": failures}


dependencies.prepare_during_init()  # in Lambda's init phase: settings and clients before the first call
