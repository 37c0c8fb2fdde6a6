"""The expert API, deployed by stacks/escalation_stack.py behind API Gateway (REST). No Cognito: every
request is authorized by the HMAC signature of the link it carries (lambdas/common/signing.py).

    GET  /escalations/{escalation_id}?session_id&exp&sig           review link (emailed): the conversation + accept form
    POST /escalations/{escalation_id}/accept                       review link + expert -> 303 to the console
    GET  /escalations/{escalation_id}/console?session_id&exp&sig   work link: conversation, reply and resolve forms
    GET  /escalations/{escalation_id}/messages?...&after=<time>    work link: JSON turns after a turn's created_at
    POST /escalations/{escalation_id}/reply                        work link + text -> 303 to the console
    POST /escalations/{escalation_id}/resolve                      work link + note, close -> confirmation page

A GET never changes anything (mail scanners open links). Answers: 403 bad link, 410 expired link or an
escalation that is over, 404 no such escalation, 409 wrong state, 400 a bad field (named), 503 AWS trouble;
HTML for browsers, JSON when the request sends or accepts JSON. The handler is thin: parse the event, call
actions.py, shape the response. It logs ids and outcomes only: never a body, a query string or a token.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients
from lambdas.common.escalations import EscalationConflict, EscalationNotFound
from lambdas.common.session_store import SessionNotFound
from lambdas.common.signing import LinkExpired, LinkInvalid
from lambdas.common.startup import Startup
from lambdas.expert_api import actions, pages
from lambdas.expert_api.actions import ExpertApi, WorkflowGone, WorkflowUnavailable, WorkflowUnconfirmed
from lambdas.expert_api.request import (
    ExpertRequest,
    RequestError,
    after_timestamp,
    body_fields,
    close_flag,
    expert_name,
    link_params,
    parse_event,
    reply_id,
    reply_text,
    resolution_note,
)
from lambdas.expert_api.settings import ExpertApiSettings

# botocore's DEBUG log holds whole request and response bodies, task tokens included: whatever log level
# the function is given, botocore stays at INFO.
logging.getLogger("botocore").setLevel(logging.INFO)
logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the only library making calls worth tracing
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the URLs carry signatures
    "Cache-Control": "no-store",
}
HTML = "text/html; charset=utf-8"
# The resolve waits on Comprehend (PII masking of the knowledge export) inside the function's 15 s: bounded,
# so that running out of time costs at most the export, which comes last.
COMPREHEND_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})

def build_api(settings: ExpertApiSettings) -> ExpertApi:
    # Clients the first request would otherwise create: built now, they are in the init phase (and in a
    # SnapStart snapshot) instead of in an expert's wait. The signing key is read once here too.
    services = ["dynamodb", "s3", "stepfunctions", "secretsmanager"]
    if settings.redact_pii:
        clients.configure("comprehend", COMPREHEND_CONFIG)
        services.append("comprehend")
    for service in services:
        clients.client(service)
    return ExpertApi.build(settings)


dependencies = Startup(lambda: build_api(ExpertApiSettings.from_env()))


# Responses --------------------------------------------------------------------------------------------

def respond(status: int, body: str, content_type: str = HTML, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "body": body,
            "headers": {**SECURITY_HEADERS, "Content-Type": content_type, **(headers or {})}}


def respond_json(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return respond(status, json.dumps(body, ensure_ascii=False), "application/json")


def see_other(location: str, label: str) -> dict[str, Any]:
    return respond(303, pages.redirect_page(location, label), headers={"Location": location})


def problem(request: ExpertRequest | None, status: int, field: str | None, message: str,
            title: str = "This did not work") -> dict[str, Any]:
    if request is None or request.wants_json:
        return respond_json(status, {"error": {"field": field, "message": message}})
    return respond(status, pages.error_page(title, message))


# Routes -------------------------------------------------------------------------------------------------

def _review(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    conversation = actions.review(api, request.escalation_id, link_params(request.query))
    return respond(200, pages.review_page(conversation, accept_action=request.url("/accept")))


def _console(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    conversation = actions.console(api, request.escalation_id, link_params(request.query))
    return respond(200, pages.console_page(
        conversation, reply_action=request.url("/reply"), resolve_action=request.url("/resolve"),
        refresh_url=request.url(f"/console?{conversation.link.query()}"), max_chars=api.settings.max_reply_chars))


def _messages(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    state = actions.authorize(api, "work", request.escalation_id, link_params(request.query))
    turns = actions.messages(api, state, after_timestamp(request.query))
    return respond_json(200, {"turns": [t.to_dict() for t in turns]})


# Each change checks, in this order: the link (403, 410), the escalation (404), its state (409), the fields (400).

def _accept(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    fields = body_fields(request)
    state = actions.authorize(api, "review", request.escalation_id, link_params(fields))
    actions.require_status(state, "pending", "accept")
    accepted = actions.accept(api, state, expert_name(fields))
    metrics.add_metric(name="EscalationsAccepted", unit="Count", value=1)
    logger.info("escalation accepted", extra={"escalation_id": request.escalation_id,
                                              "session_id": state.record.session_id,
                                              "confirmed_by_history": accepted.confirmed_by_history})
    console = request.url(f"/console?{accepted.work_link.query()}")
    if request.wants_json:
        return respond_json(200, {"escalation_id": request.escalation_id, "status": "accepted", "console_url": console})
    return see_other(console, "Accepted: open the console")


def _reply(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    fields = body_fields(request)
    link = link_params(fields)
    state = actions.authorize(api, "work", request.escalation_id, link)
    actions.require_status(state, "accepted", "reply to")
    replied = actions.reply(api, state, reply_text(fields, max_chars=api.settings.max_reply_chars),
                            reply_id=reply_id(fields))
    if not replied.duplicate:
        metrics.add_metric(name="ExpertReplies", unit="Count", value=1)
    logger.info("expert replied", extra={"escalation_id": request.escalation_id, "turn_id": replied.turn.turn_id,
                                         "duplicate": replied.duplicate})
    if request.wants_json:
        return respond_json(200, {"turn_id": replied.turn.turn_id, "created_at": replied.turn.created_at})
    return see_other(request.url(f"/console?{actions.Link.of(link).query()}"), "Sent: back to the console")


def _resolve(api: ExpertApi, request: ExpertRequest) -> dict[str, Any]:
    fields = body_fields(request)
    state = actions.authorize(api, "work", request.escalation_id, link_params(fields))
    actions.require_status(state, "accepted", "resolve")
    note = resolution_note(fields, max_chars=api.settings.max_reply_chars)
    close = close_flag(fields)
    resolved = actions.resolve(api, state, note, close)
    metrics.add_metric(name="EscalationsResolved", unit="Count", value=1)
    _log_problems("resolve", request, resolved.problems)
    if resolved.knowledge_skipped:
        metrics.add_metric(name="KnowledgeExportSkipped", unit="Count", value=1)
        logger.error("knowledge export skipped: personal data could not be masked", extra={
            "escalation_id": request.escalation_id, "error": resolved.knowledge_skipped})
    logger.info("escalation resolved", extra={
        "escalation_id": request.escalation_id, "closed": close, "workflow": resolved.workflow,
        "workflow_error": resolved.workflow_error, "knowledge_key": resolved.knowledge_key})
    if request.wants_json:
        return respond_json(200, {"escalation_id": request.escalation_id, "status": "resolved", "closed": close})
    return respond(200, pages.resolved_page(resolved.record, closed=close))


def _log_problems(action: str, request: ExpertRequest, problems: list[str]) -> None:
    if problems:
        metrics.add_metric(name="ExpertFollowUpFailures", unit="Count", value=len(problems))
        logger.error(f"{action} done, follow-up steps failed",
                     extra={"escalation_id": request.escalation_id, "problems": problems})


ROUTES: dict[tuple[str, str], Callable[[ExpertApi, ExpertRequest], dict[str, Any]]] = {
    ("GET", "/escalations/{escalation_id}"): _review,
    ("POST", "/escalations/{escalation_id}/accept"): _accept,
    ("GET", "/escalations/{escalation_id}/console"): _console,
    ("GET", "/escalations/{escalation_id}/messages"): _messages,
    ("POST", "/escalations/{escalation_id}/reply"): _reply,
    ("POST", "/escalations/{escalation_id}/resolve"): _resolve,
}


def route(request: ExpertRequest) -> dict[str, Any]:
    action = ROUTES.get((request.method, request.resource))
    if action is None:
        allowed = sorted(method for method, resource in ROUTES if resource == request.resource)
        if allowed:
            response = problem(request, 405, None, f"use {' or '.join(allowed)}")
            response["headers"]["Allow"] = ", ".join(allowed)
            return response
        return problem(request, 404, None, "no such page")
    log = {"escalation_id": request.escalation_id[:64], "route": request.resource}
    try:
        return action(dependencies.get(), request)
    except RequestError as error:
        logger.info("request rejected", extra={**log, "field": error.field, "status": error.status})
        return problem(request, error.status, error.field, f"{error.field} {error.message}"
                       if not request.wants_json else error.message)
    except LinkInvalid:
        metrics.add_metric(name="LinkRejections", unit="Count", value=1)
        logger.info("link rejected", extra={**log, "status": 403})
        return problem(request, 403, "sig", "This link is not valid. Use the link exactly as you received it.",
                       "Link not valid")
    except LinkExpired:
        logger.info("link expired", extra={**log, "status": 410})
        return problem(request, 410, "exp", "This link has expired.", "Link expired")
    except (EscalationNotFound, SessionNotFound):
        logger.info("no such escalation", extra={**log, "status": 404})
        return problem(request, 404, "escalation_id", "There is no such escalation.", "Not found")
    except EscalationConflict as conflict:
        # Timed out or failed: the workflow has given up on it, so it is gone rather than in another step.
        status = 410 if conflict.status in actions.ENDED else 409
        logger.info("wrong state", extra={**log, "status": status, "escalation_status": conflict.status})
        return problem(request, status, "status", f"This escalation is {conflict.status}: "
                       f"you cannot {conflict.action} it.", "Not possible now")
    except WorkflowGone as gone:
        logger.warning("workflow no longer waiting", extra={**log, "status": 410, "error": str(gone)})
        return problem(request, 410, "status", "This escalation is no longer waiting for an expert "
                       "(its time ran out or it was stopped). Nothing was changed.", "Too late")
    except WorkflowUnavailable as error:
        metrics.add_metric(name="WorkflowCallFailures", unit="Count", value=1)
        logger.error("Step Functions call failed", extra={**log, "status": 503, "error": str(error)})
        return problem(request, 503, None, "Please try again in a moment. Nothing was changed.", "Try again")
    except WorkflowUnconfirmed as error:
        metrics.add_metric(name="WorkflowCallFailures", unit="Count", value=1)
        logger.error("accept sent but not confirmed", extra={**log, "status": 503, "error": str(error)})
        return problem(request, 503, None, "Your accept is recorded, but the workflow could not confirm it yet. "
                       "Open the link again in a minute: if the workflow did not take it, the escalation is "
                       "released when its time runs out.", "Not confirmed yet")
    except (ClientError, BotoCoreError) as error:
        metrics.add_metric(name="StorageFailures", unit="Count", value=1)
        logger.exception("AWS call failed", extra={**log, "status": 503, "error": type(error).__name__})
        return problem(request, 503, None, "Please try again in a moment.", "Try again")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)  # pages hold customer text: keep them out of X-Ray
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        request = parse_event(event)
    except RequestError as error:
        return problem(None, error.status, error.field, error.message)
    return route(request)


dependencies.prepare_during_init()  # in Lambda's init phase: clients and the signing key before the first expert
