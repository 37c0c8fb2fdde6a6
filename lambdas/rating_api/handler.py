"""The rating API, deployed by stacks/feedback_stack.py behind API Gateway (REST) with the web app's Cognito
user-pool authorizer. JSON only. Raters (group `raters`) rate one item at a time; rating admins (group
`rating-admins`) follow a batch and read its records (lambdas/common/rating_batches.py has the rules).

    GET  /batches                                      the open batches, and this rater's work in each
    POST /batches/{batch_id}/next                      the item this rater holds, or a new one; {"item": null}
                                                       when nothing is left for them (a POST: it takes a hold)
    POST /batches/{batch_id}/items/{item_id}/rating    {value: 1-5, comment?, better_answer?}
    POST /batches/{batch_id}/items/{item_id}/skip      the item goes to someone else, never back to this rater
    GET  /batches/{batch_id}                           (admins) counts, agreement, each rater's counts
    GET  /batches/{batch_id}/records                   (admins) the consolidated rating records
    POST /batches/{batch_id}/close                     (admins) no more items handed out or ratings taken
    GET  /expert-answers                               (admins) experts' answers waiting for review, oldest first
    POST /expert-answers/{candidate_id}/accept         (admins) {question?, answer?}: accepted as is, or as edited
    POST /expert-answers/{candidate_id}/discard        (admins) never trained on

GET /batches answers raters and rating admins alike (an admin need not rate to follow the batches).

Answers: 401 no signed-in user, 403 not in the group, 404 no such batch, item or expert answer, 409 the item is
not held by this rater / already rated by them / the batch is closed / the expert answer was already reviewed, 400 a bad field (named), 503 AWS trouble. A refused
request writes nothing. Logs hold ids and outcomes, never an answer's or a comment's text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients, request_body
from lambdas.common.expert_answer_queue import ExpertAnswerQueue, Queued, ReviewRefused
from lambdas.common.http_api import Errors, HttpApi, Problem, Response, json_response
from lambdas.common.rating_batches import Assignment, Batch, Rating, RatingBatches, RatingRefused
from lambdas.common.request_errors import RequestError
from lambdas.common.startup import Startup
from lambdas.rating_api.raters import NotARater, NotSignedIn, rater
from lambdas.rating_api.settings import RatingApiSettings

logging.getLogger("botocore").setLevel(logging.INFO)
logger = Logger()
metrics = Metrics()
tracer = Tracer()
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
RATING_FIELDS = ("value", "comment", "better_answer")
REVIEW_FIELDS = ("question", "answer")
REFUSED_STATUS = {"not_found": 404, "invalid": 400, "not_assigned": 409, "already_rated": 409, "closed": 409,
                  "reviewed": 409}


@dataclass(frozen=True)
class Dependencies:
    batches: RatingBatches
    answers: ExpertAnswerQueue


def build(settings: RatingApiSettings) -> Dependencies:
    for service in ("dynamodb", "s3"):
        clients.configure(service, CLIENT_CONFIG)
    app.allow_origin(settings.site_url)
    return Dependencies(
        batches=RatingBatches(table_name=settings.ratings_table, ratings_bucket=settings.ratings_bucket,
                              ratings_prefix=settings.ratings_prefix),
        answers=ExpertAnswerQueue(table_name=settings.ratings_table, ratings_bucket=settings.ratings_bucket))


dependencies = Startup(lambda: build(RatingApiSettings.from_env()))


def render(problem: Problem) -> Response:
    return json_response(problem.status, problem.body())


def _refused(error: RatingRefused | ReviewRefused) -> Problem:
    return Problem(REFUSED_STATUS.get(error.code, 400), error.field, str(error), log="rating refused",
                   details={"code": error.code}, extra={"code": error.code}, metric="RatingRefusals")


def _aws_failed(error: Exception) -> Problem:
    return Problem(503, None, "The ratings cannot be reached right now; nothing was lost. Try again.",
                   log="AWS call failed", level="exception", metric="RatingApiFailures")


ERRORS: Errors = {
    NotSignedIn: lambda refused: Problem(401, "authorization", f"Sign in to rate answers: {refused}.",
                                         log="no signed-in user"),
    NotARater: lambda refused: Problem(403, "authorization", f"You may not do this: {refused}.",
                                       log="not in the group", metric="RatingApiRefusals"),
    (RatingRefused, ReviewRefused): _refused,
    (ClientError, BotoCoreError): _aws_failed,
}


def _log_fields() -> dict[str, Any]:
    parameters = app.current_event.path_parameters or {}
    return {key: parameters[key] for key in ("batch_id", "item_id", "candidate_id") if key in parameters}


app = HttpApi(logger=logger, metrics=metrics, render=render, errors=ERRORS, log_fields=_log_fields)


# Requests ------------------------------------------------------------------------------------------------

def json_body(allowed: tuple[str, ...]) -> dict[str, Any]:
    """The request's JSON object, with no field but `allowed`; an empty body is an empty object."""
    return request_body.json_body(app.current_event.raw_event, allowed)


def rating_of(fields: dict[str, Any]) -> Rating:
    if "value" not in fields:
        raise RequestError("value", "is required: a whole number from 1 to 5")
    return Rating(value=fields["value"], comment=fields.get("comment", ""),
                  better_answer=fields.get("better_answer", ""))


# Answers -------------------------------------------------------------------------------------------------

def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_view(batch: Batch) -> dict[str, Any]:
    return {"batch_id": batch.batch_id, "status": batch.status, "created_at": batch.created_at,
            "item_count": batch.item_count, "done_count": batch.done_count,
            "remaining": batch.item_count - batch.done_count, "ratings_per_item": batch.ratings_per_item,
            "assignment_seconds": batch.assignment_seconds}


def item_view(assignment: Assignment) -> dict[str, Any]:
    item = assignment.item
    return {"item_id": assignment.item_id, "question": item.question, "answer": item.answer,
            "sources": list(item.sources), "held_until": _iso(assignment.until)}


def progress(batches: RatingBatches, batch_id: str, sub: str) -> dict[str, Any]:
    return {"batch": batch_view(batches.batch(batch_id)), "mine": batches.counts(batch_id, sub)}


# Routes --------------------------------------------------------------------------------------------------

@app.get("/batches")
def open_batches() -> Response:
    person = rater(app.current_event.raw_event, or_admin=True)
    batches = dependencies.get().batches
    return json_response(200, {"batches": [{**batch_view(b), "mine": batches.counts(b.batch_id, person.sub)}
                                           for b in batches.open_batches()],
                               "admin": person.admin, "rater": person.rates})


@app.post("/batches/<batch_id>/next")
def next_item(batch_id: str) -> Response:
    person = rater(app.current_event.raw_event)
    json_body(allowed=())
    batches = dependencies.get().batches
    assignment = batches.next_item(batch_id, person.sub)
    return json_response(200, {"item": item_view(assignment) if assignment else None,
                               **progress(batches, batch_id, person.sub)})


@app.post("/batches/<batch_id>/items/<item_id>/rating")
def rate(batch_id: str, item_id: str) -> Response:
    person = rater(app.current_event.raw_event)
    rating = rating_of(json_body(allowed=RATING_FIELDS))
    batches = dependencies.get().batches
    record = batches.rate(batch_id, item_id, person.sub, rating)
    metrics.add_metric(name="RatingsGiven", unit="Count", value=1)
    if record is not None:
        metrics.add_metric(name="RatingItemsConsolidated", unit="Count", value=1)
    logger.info("rating stored", extra={"batch_id": batch_id, "item_id": item_id, "consolidated": record is not None})
    return json_response(200, {"consolidated": record is not None, **progress(batches, batch_id, person.sub)})


@app.post("/batches/<batch_id>/items/<item_id>/skip")
def skip(batch_id: str, item_id: str) -> Response:
    person = rater(app.current_event.raw_event)
    json_body(allowed=())
    batches = dependencies.get().batches
    batches.skip(batch_id, item_id, person.sub)
    logger.info("item skipped", extra={"batch_id": batch_id, "item_id": item_id})
    return json_response(200, progress(batches, batch_id, person.sub))


@app.get("/batches/<batch_id>")
def batch_details(batch_id: str) -> Response:
    rater(app.current_event.raw_event, admin=True)
    batches = dependencies.get().batches
    batch = batches.batch(batch_id)
    return json_response(200, {"batch": {**batch_view(batch), "agreement": batch.agreement},
                               "raters": batches.raters(batch_id)})


@app.get("/batches/<batch_id>/records")
def batch_records(batch_id: str) -> Response:
    rater(app.current_event.raw_event, admin=True)
    batches = dependencies.get().batches
    batches.batch(batch_id)  # 404 for a batch that does not exist
    return json_response(200, {"records": [record.to_dict() for record in batches.records(batch_id)]})


@app.post("/batches/<batch_id>/close")
def close(batch_id: str) -> Response:
    rater(app.current_event.raw_event, admin=True)
    json_body(allowed=())
    batch = dependencies.get().batches.close(batch_id)
    logger.info("batch closed", extra={"batch_id": batch_id})
    return json_response(200, {"batch": batch_view(batch)})


def answer_view(queued: Queued) -> dict[str, Any]:
    candidate = queued.candidate
    return {"candidate_id": candidate.candidate_id, "question": candidate.question, "answer": candidate.answer,
            "replaced": candidate.replaced, "resolved_at": candidate.resolved_at, "added_at": queued.added_at}


@app.get("/expert-answers")
def expert_answers() -> Response:
    rater(app.current_event.raw_event, admin=True)
    pending, rewritten = dependencies.get().answers.pending()
    if rewritten:
        logger.info("accepted expert answers written out again", extra={"count": rewritten})
    return json_response(200, {"answers": [answer_view(queued) for queued in pending]})


@app.post("/expert-answers/<candidate_id>/accept")
def accept_expert_answer(candidate_id: str) -> Response:
    person = rater(app.current_event.raw_event, admin=True)
    fields = json_body(allowed=REVIEW_FIELDS)
    record = dependencies.get().answers.accept(candidate_id, person.sub, question=fields.get("question"),
                                               answer=fields.get("answer"))
    metrics.add_metric(name="ExpertAnswersAccepted", unit="Count", value=1)
    logger.info("expert answer accepted", extra={"candidate_id": candidate_id, "edited": record.edited})
    return json_response(200, {"accepted": True, "edited": record.edited})


@app.post("/expert-answers/<candidate_id>/discard")
def discard_expert_answer(candidate_id: str) -> Response:
    person = rater(app.current_event.raw_event, admin=True)
    json_body(allowed=())
    dependencies.get().answers.discard(candidate_id, person.sub)
    metrics.add_metric(name="ExpertAnswersDiscarded", unit="Count", value=1)
    logger.info("expert answer discarded", extra={"candidate_id": candidate_id})
    return json_response(200, {"discarded": True})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)  # answers hold customers' (masked) words
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


dependencies.prepare_during_init()
