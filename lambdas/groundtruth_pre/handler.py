"""The Ground Truth pre-annotation Lambda, deployed by stacks/feedback_stack.py as the relevance job's
PreHumanTaskLambdaArn; its answer is the task input of groundtruth_templates/relevance.liquid.html.

The handler is thin: the request is parsed (items.py), the labeling item found (feedback.manifest_item,
reading a `source-ref` through ratings.read_item_object), then `items.decide` says whether a rater is
needed, against the rating records already written (ratings.RatedTurns, cached per execution environment).
An item no rater can use never raises and never reaches a rater: an unreadable data object (including one
with no question), an empty answer or an unexpected error answer isHumanAnnotationRequired false, and the
log says which field was wrong, by name only.
Logs carry the job name, ids and outcomes: never the customer's question or the bot's answer.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.common import clients
from lambdas.common.feedback import UnreadableItem, manifest_item
from lambdas.common.startup import Startup
from lambdas.groundtruth_pre import items
from lambdas.groundtruth_pre.ratings import LoadStats, RatedTurns, RatingsUnavailable, read_item_object
from lambdas.groundtruth_pre.settings import PreSettings

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

OUTCOME_METRICS = {"human_required": "ItemsSentToRaters", "empty_answer": "ItemsSkippedEmptyAnswer",
                   "already_rated": "ItemsSkippedAlreadyRated", "unreadable": "UnreadableItems"}

def build_rated_turns() -> RatedTurns:
    settings = PreSettings.from_env()
    clients.client("s3")  # created now (init phase) instead of in the first item's time
    return RatedTurns(bucket=settings.ratings_bucket, prefix=settings.ratings_prefix,
                      max_turns=settings.cache_max_turns, max_age_seconds=settings.cache_seconds, on_load=_log_load)


def _log_load(stats: LoadStats) -> None:
    fields = {"files": stats.files, "rated_turns": stats.turns, "bad_lines": stats.bad_lines}
    if stats.truncated:
        logger.warning("rated-turns cache is full; the remaining rating records were not read, so some rated "
                       "turns may be shown again", extra=fields)
    else:
        logger.info("rating records loaded", extra=fields)


dependencies = Startup(build_rated_turns)


def _already_rated(rated: RatedTurns):
    def check(session_id: str, turn_id: str) -> bool:
        try:
            found = rated(session_id, turn_id)
        except RatingsUnavailable as error:
            # Fail safe toward the human: the item is rated again rather than silently dropped.
            metrics.add_metric(name="RatingRecordsUnavailable", unit=MetricUnit.Count, value=1)
            logger.error("rating records unavailable; item sent to raters", extra={"error_code": error.code})
            return False
        return found
    return check


def _nobody() -> items.Decision:
    """An item no rater can use: Ground Truth skips it, so nobody's time goes into it."""
    return items.Decision(items.error_task_input(), human_required=False, outcome="unreadable")


def decide(request: items.PreRequest, rated: RatedTurns) -> items.Decision:
    log = {"labeling_job": request.job_name}
    try:
        item = manifest_item(request.data_object, read_item_object)
    except UnreadableItem as error:
        logger.error("unreadable labeling item", extra={**log, "field": error.field, "problem": error.problem,
                                                        "data_object_keys": items.safe_keys(request.data_object)})
        return _nobody()
    log.update(session_id=item.session_id[:128], turn_id=item.turn_id[:128])
    decision = items.decide(item, _already_rated(rated))
    logger.info("labeling item prepared", extra={**log, "outcome": decision.outcome})
    return decision


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rated = dependencies.get()  # bad settings fail the invocation (a deploy error), not the item
    request = items.parse_request(event)
    if request.version != items.GT_REQUEST_VERSION:
        logger.warning("unexpected request version", extra={"version": str(request.version)[:40]})
    try:
        decision = decide(request, rated)
    except Exception as error:  # noqa: BLE001 (a bug must not fail the labeling job, nor show a rater a broken task)
        logger.error("labeling item failed", extra={"labeling_job": request.job_name,
                                                    "error": type(error).__name__})
        decision = _nobody()
    metrics.add_metric(name=OUTCOME_METRICS[decision.outcome], unit=MetricUnit.Count, value=1)
    return items.response(decision)


dependencies.prepare_during_init()  # in Lambda's init phase: settings and the S3 client before the first item
