"""The fine-tuning pipeline's evaluation gate: should the tuned model replace the base? Deployed by
stacks/finetune_stack.py; its state machine invokes it after training with {"evaluation_id", "answers_uri",
"metrics_uri"} (request.py) and imports the model only when `outcome` is "passed".

The handler is thin: the request and the settings are checked (request.py, settings.py); the answers file is
read (answers.py); gate.evaluate has the judge (judge.py, Bedrock Converse) compare the base and the tuned
answer of every question in both orders, counts the outcomes, computes the win rate with its interval
(win_rate.py) and decides (decision.py); report.py writes report.json and report.html under
s3://REPORT_BUCKET/REPORT_PREFIX<evaluation_id>/, whichever way the gate decided. It returns the decision,
the counts, the win rate and the report's URIs. A refusal is a result, not an error: the pipeline branches on
`outcome`. It raises InvalidRequest for a bad event, SettingsError for a bad environment, MetricsUnreadable
for a metrics.json that is not a JSON object, and botocore's error when an input cannot be read.

Logs and metrics carry ids, counts and error codes only: never a question, an answer or a judge's reply.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from lambdas.common import clients
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.startup import Startup
from lambdas.finetune_gate import gate, report
from lambdas.finetune_gate.answers import read_questions
from lambdas.finetune_gate.evaluation_files import EvaluationFiles, MetricsUnreadable
from lambdas.finetune_gate.judge import FAILURE, NOT_ASKED, PairwiseJudge
from lambdas.finetune_gate.request import InvalidRequest, parse_request
from lambdas.finetune_gate.settings import GateSettings

__all__ = ["handler", "InvalidRequest", "MetricsUnreadable"]

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))
JUDGE = "judge"  # the Bedrock client's purpose (lambdas/common/clients.py): its own retries and time-outs
REPORT_FILE, PAGE_FILE = "report.json", "report.html"


@dataclass(frozen=True)
class Dependencies:
    settings: GateSettings
    judge: PairwiseJudge
    files: EvaluationFiles
    output: BucketWriter


def judge_config(settings: GateSettings) -> Config:
    # total_max_attempts counts every call, the first included; standard mode retries throttling and
    # transient errors with backoff. One connection per concurrent question.
    return Config(retries={"mode": "standard", "total_max_attempts": settings.judge_max_attempts},
                  read_timeout=settings.judge_read_timeout_seconds, connect_timeout=5,
                  max_pool_connections=max(10, settings.judge_concurrency))


def wired(settings: GateSettings, judge: PairwiseJudge, s3: Any) -> Dependencies:
    """The function's judge, inputs and output (the local demo wires its stand-in judge the same way)."""
    return Dependencies(settings=settings, judge=judge, files=EvaluationFiles(lambda: s3),
                        output=BucketWriter(settings.report_bucket, lambda: s3))


def build() -> Dependencies:
    settings = GateSettings.from_env()
    clients.configure("bedrock-runtime", judge_config(settings), purpose=JUDGE)
    bedrock = clients.client("bedrock-runtime", purpose=JUDGE)  # created now (init phase)
    return wired(settings, PairwiseJudge(bedrock, settings.judge_model_id), clients.client("s3"))


dependencies = Startup(build)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ready = dependencies.get()
    settings = ready.settings
    request = parse_request(event)
    logger.append_keys(evaluation_id=request.evaluation_id)
    items = read_questions(ready.files.lines(request.answers_uri))
    metrics_file = ready.files.metrics(request.metrics_uri) if request.metrics_uri else None
    evaluation = gate.evaluate(items, ready.judge, settings.thresholds, max_questions=settings.max_questions,
                               concurrency=settings.judge_concurrency,
                               metrics_checks=metrics_file.get("checks") if metrics_file is not None else None,
                               import_check=metrics_file.get("import_check") if metrics_file is not None else None)
    for judgement in evaluation.judgements:
        if judgement.outcome == FAILURE and judgement.failure != NOT_ASKED:
            logger.warning("judge failure", extra={"question_id": judgement.question_id,
                                                   "order": judgement.failed_order, "code": judgement.failure})

    built = report.build(evaluation, evaluation_id=request.evaluation_id, judge_model_id=settings.judge_model_id,
                         thresholds=settings.thresholds, max_questions=settings.max_questions,
                         sample_size=settings.sample_size, answers_uri=request.answers_uri,
                         metrics_uri=request.metrics_uri, metrics=metrics_file)
    base = f"{settings.report_prefix}{request.evaluation_id}/"
    ready.output.put(f"{base}{REPORT_FILE}", json.dumps(built, ensure_ascii=False, indent=1).encode("utf-8"),
                     "application/json")
    ready.output.put(f"{base}{PAGE_FILE}", report.render_html(built).encode("utf-8"), "text/html; charset=utf-8")

    counts, decision = evaluation.counts, evaluation.decision
    logger.info("gate decided", extra={"outcome": decision.outcome, "reasons": [r.code for r in decision.reasons],
                                       **counts.to_dict(), "win_rate": built["win_rate"]})
    metrics.add_metric(name="GateQuestionsJudged", unit=MetricUnit.Count, value=counts.judged)
    metrics.add_metric(name="GateJudgeFailures", unit=MetricUnit.Count, value=counts.failures)
    metrics.add_metric(name="GatePassed", unit=MetricUnit.Count, value=int(decision.passed))
    uri = f"s3://{settings.report_bucket}/{base}"
    return {"evaluation_id": request.evaluation_id, "passed": decision.passed, "outcome": decision.outcome,
            "reasons": [r.message for r in decision.reasons], "win_rate": built["win_rate"],
            "counts": counts.to_dict(), "report_uri": f"{uri}{REPORT_FILE}", "report_page_uri": f"{uri}{PAGE_FILE}"}


dependencies.prepare_during_init()  # in Lambda's init phase: settings and clients before the first call
