"""The expert API, deployed by stacks/escalation_stack.py behind API Gateway (REST). Two ways in: the pages
of the emailed links, each request authorized by the HMAC signature of the link it carries
(lambdas/common/signing.py), and the experts' inbox, JSON behind the API's Cognito user-pool authorizer,
for members of the `experts` group (identity.py).

    GET  /escalations/{escalation_id}?session_id&exp&sig           review link (emailed): the conversation + accept form
    POST /escalations/{escalation_id}/accept                       review link + expert -> 303 to the console
    GET  /escalations/{escalation_id}/console?session_id&exp&sig   work link: conversation, reply and resolve forms
    GET  /escalations/{escalation_id}/messages?...&after=<time>    work link: JSON turns after a turn's created_at
                                                                   and the escalation's status (the console polls it)
    POST /escalations/{escalation_id}/reply                        work link + text -> 303 to the console
    POST /escalations/{escalation_id}/resolve                      work link + note, close -> confirmation page

The inbox (web/inbox.html; the expert is the ID token's verified email):

    GET  /inbox/escalations                                        every open escalation, its latest turns
    GET  /inbox/escalations/{session_id}/{escalation_id}?after=    the escalation and its turns after a created_at
    POST /inbox/escalations/{session_id}/{escalation_id}/accept    the same one-winner claim as the link's accept
    POST /inbox/escalations/{session_id}/{escalation_id}/reply     {text, reply_id}: a message to the customer
    POST /inbox/escalations/{session_id}/{escalation_id}/handback  {note?}: resolved, back to the assistant
    POST /inbox/escalations/{session_id}/{escalation_id}/close     {note?}: resolved, the conversation closed

A GET never changes anything (mail scanners open links). Answers: 403 bad link, 410 expired link or an
escalation that is over, 404 no such escalation or page, 405 a page asked with the wrong method, 409 wrong
state, 400 a bad field (named), 503 AWS trouble; HTML for browsers, JSON when the request sends or accepts
JSON (always, for the inbox, which adds 401 no signed-in user and 403 not an expert, or not the expert who
accepted). The routes are thin: parse the request, call actions.py, shape the response; lambdas/common/http_api.py
routes the requests and answers what the routes raise (the ERRORS table below). It logs ids and outcomes
only: never a body, a query string or a token.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients, signing
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.escalations import EscalationConflict, EscalationNotFound, EscalationState, EscalationStore
from lambdas.common.http_api import Errors, HttpApi, Problem, Response, json_response
from lambdas.common.inbox_link import inbox_link
from lambdas.common.redaction import PiiMasker
from lambdas.common.session_store import SessionNotFound, SessionStore
from lambdas.common.signing import LinkExpired, LinkInvalid
from lambdas.common.startup import Startup
from lambdas.common.transcript import IDENTIFIER
from lambdas.expert_api import actions, identity, inbox, pages
from lambdas.expert_api.actions import ExpertApi, Resolved, WorkflowUnconfirmed
from lambdas.expert_api.identity import Expert, NotAnExpert, NotSignedIn
from lambdas.expert_api.inbox import NotYourEscalation
from lambdas.expert_api.replies import ReplyNotStored, ReplyStore
from lambdas.expert_api.request import (
    ExpertRequest,
    LinkParams,
    after_timestamp,
    body_fields,
    close_flag,
    expert_name,
    json_fields,
    link_params,
    parse_event,
    reply_id,
    reply_text,
    resolution_note,
    wants_json,
)
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.expert_api.workflow import WorkflowGone, WorkflowProbe, WorkflowTasks, WorkflowUnavailable

# botocore's DEBUG log holds whole request and response bodies, task tokens included: whatever log level
# the function is given, botocore stays at INFO.
logging.getLogger("botocore").setLevel(logging.INFO)
logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the only library making calls worth tracing
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

# No script on any page, except the console's one inline script: see content_security_policy.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                           "frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the URLs carry signatures
    "Cache-Control": "no-store",
}
HTML = "text/html; charset=utf-8"
INBOX = "/inbox/"  # the paths of the experts' inbox, which answer JSON only
# The resolve waits on Comprehend (PII masking of the knowledge export) inside the function's 15 s: bounded,
# so that running out of time costs at most the export, which comes last.
COMPREHEND_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 2})

def build_api(settings: ExpertApiSettings) -> ExpertApi:
    app.allow_origin(settings.site_url)
    # Clients the first request would otherwise create: built now, they are in the init phase (and in a
    # SnapStart snapshot) instead of in an expert's wait. The signing key is read once here too.
    services = ["dynamodb", "s3", "stepfunctions", "secretsmanager"]
    if settings.redact_pii:
        clients.configure("comprehend", COMPREHEND_CONFIG)
        services.append("comprehend")
    for service in services:
        clients.client(service)
    escalations = EscalationStore(table_name=settings.sessions_table)
    sessions = SessionStore(table_name=settings.sessions_table, ttl_days=settings.session_ttl_days)
    return ExpertApi(
        settings=settings, key=signing.signing_key(settings.signing_secret_arn),
        escalations=escalations, sessions=sessions, replies=ReplyStore(sessions, escalations),
        tasks=WorkflowTasks(lambda: clients.client("stepfunctions")),
        workflow=WorkflowProbe(lambda: clients.client("stepfunctions")),
        masker=PiiMasker(),
        knowledge=BucketWriter(settings.knowledge_bucket, lambda: clients.client("s3")))


dependencies = Startup(lambda: build_api(ExpertApiSettings.from_env()))


# Responses --------------------------------------------------------------------------------------------

def respond(status: int, body: str, content_type: str = HTML, headers: dict[str, str] | None = None) -> Response:
    return Response(status, content_type, body, {**SECURITY_HEADERS, **(headers or {})})


def content_security_policy(script_nonce: str | None) -> str:
    """The pages' policy; for a page with a script (pages.Page.script_nonce), that script alone may run, and
    fetch from the page's own origin (the console's live updates)."""
    if script_nonce is None:
        return CONTENT_SECURITY_POLICY
    return f"{CONTENT_SECURITY_POLICY}; script-src 'nonce-{script_nonce}'; connect-src 'self'"


def respond_page(status: int, page: pages.Page) -> Response:
    return respond(status, page.html, headers={"Content-Security-Policy": content_security_policy(page.script_nonce)})


def respond_json(status: int, body: dict[str, Any]) -> Response:
    return json_response(status, body, SECURITY_HEADERS)


def see_other(location: str, label: str) -> Response:
    return respond(303, pages.redirect_page(location, label), headers={"Location": location})


def render(problem: Problem) -> Response:
    """JSON for scripts and the inbox, an HTML page for browsers."""
    if wants_json(app.current_event.headers) or app.current_event.path.startswith(INBOX):
        return respond_json(problem.status, problem.body())
    return respond(problem.status, pages.error_page(problem.title, problem.page_message or problem.message))


# Errors: each check of a request raises; this table says how each failure is answered and recorded.

def _log_fields() -> dict[str, Any]:
    escalation_id = app.current_event.path_parameters.get("escalation_id") or ""
    return {"escalation_id": escalation_id[:64] if IDENTIFIER.fullmatch(escalation_id) else None,
            "route": app.current_event.get("resource")}


def _conflict(conflict: EscalationConflict) -> Problem:
    # Timed out or failed: the workflow has given up on it, so it is gone rather than in another step.
    message = f"This escalation is {conflict.status}: you cannot {conflict.action} it."
    holder: dict[str, str] = {}
    if conflict.status == "accepted" and conflict.accepted_by:
        # Who won the race to accept, for the expert who lost it (the inbox shows "Accepted by ... at ...").
        holder = {"accepted_by": conflict.accepted_by, "accepted_at": conflict.accepted_at or ""}
        message = f"This escalation was accepted by {conflict.accepted_by} at {conflict.accepted_at}."
    return Problem(410 if conflict.status in actions.ENDED else 409, "status", message, "Not possible now",
                   log="wrong state", details={"escalation_status": conflict.status},
                   extra={"escalation_status": conflict.status, **holder})


def _aws_failed(error: Exception) -> Problem:
    return Problem(503, None, "Please try again in a moment.", "Try again", log="AWS call failed",
                   level="exception", metric="StorageFailures", details={"error": type(error).__name__})


ERRORS: Errors = {
    LinkInvalid: lambda _: Problem(
        403, "sig", "This link is not valid. Use the link exactly as you received it.", "Link not valid",
        log="link rejected", metric="LinkRejections"),
    LinkExpired: lambda _: Problem(410, "exp", "This link has expired.", "Link expired", log="link expired"),
    (EscalationNotFound, SessionNotFound): lambda _: Problem(
        404, "escalation_id", "There is no such escalation.", "Not found", log="no such escalation"),
    EscalationConflict: _conflict,
    WorkflowGone: lambda gone: Problem(
        410, "status", "This escalation is no longer waiting for an expert (its time ran out or it was stopped). "
        "Nothing was changed.", "Too late", log="workflow no longer waiting", level="warning",
        details={"error": str(gone)}),
    WorkflowUnavailable: lambda error: Problem(
        503, None, "Please try again in a moment. Nothing was changed.", "Try again",
        log="Step Functions call failed", level="error", metric="WorkflowCallFailures", details={"error": str(error)}),
    WorkflowUnconfirmed: lambda error: Problem(
        503, None, "Your accept is recorded, but the workflow could not confirm it yet. Open the link again in a "
        "minute: if the workflow did not take it, the escalation is released when its time runs out.",
        "Not confirmed yet", log="accept sent but not confirmed", level="error", metric="WorkflowCallFailures",
        details={"error": str(error)}),
    NotSignedIn: lambda refused: Problem(
        401, "authorization", f"Sign in to use the inbox: {refused}.", "Sign in", log="inbox: no signed-in user"),
    NotAnExpert: lambda refused: Problem(
        403, "authorization", f"You may not use the inbox: {refused}.", "Not an expert",
        log="inbox: not an expert", metric="InboxRefusals"),
    NotYourEscalation: lambda refused: Problem(
        403, "accepted_by", f"This conversation is with another expert ({refused.accepted_by}): only they can "
        "act on it.", "Not yours", log="inbox: not the accepting expert",
        extra={"accepted_by": refused.accepted_by}),
    (ClientError, BotoCoreError, ReplyNotStored): _aws_failed,
}
app = HttpApi(logger=logger, metrics=metrics, render=render, errors=ERRORS, log_fields=_log_fields)


def _request(escalation_id: str) -> tuple[ExpertApi, ExpertRequest]:
    return dependencies.get(), parse_event(app.current_event.raw_event, escalation_id)


# Routes -------------------------------------------------------------------------------------------------

@app.get("/escalations/<escalation_id>")
def review(escalation_id: str) -> Response:
    api, request = _request(escalation_id)
    conversation = actions.review(api, request.escalation_id, link_params(request.query))
    return respond(200, pages.review_page(conversation, accept_action=request.url("/accept")))


@app.get("/escalations/<escalation_id>/console")
def console(escalation_id: str) -> Response:
    api, request = _request(escalation_id)
    conversation = actions.console(api, request.escalation_id, link_params(request.query))
    return respond_page(200, pages.console_page(
        conversation, reply_action=request.url("/reply"), resolve_action=request.url("/resolve"),
        refresh_url=request.url(f"/console?{conversation.link.query()}"), messages_url=request.url("/messages"),
        max_chars=api.settings.max_reply_chars,
        inbox_url=inbox_link(api.settings.site_url, session_id=conversation.record.session_id,
                             escalation_id=request.escalation_id)))


@app.get("/escalations/<escalation_id>/messages")
def messages(escalation_id: str) -> Response:
    api, request = _request(escalation_id)
    state = actions.authorize(api, "work", request.escalation_id, link_params(request.query))
    turns = actions.messages(api, state, after_timestamp(request.query))
    # The status tells the console's script when to stop: after the resolve the link still reads (up to then).
    return respond_json(200, {"turns": [t.to_dict() for t in turns], "status": state.record.status})


# Each change checks, in this order: the link (403, 410), the escalation (404), its state (409), the fields (400).

@dataclass(frozen=True)
class Change:
    """A change an expert asked for, checked up to its state: the fields are the route's to check."""

    api: ExpertApi
    request: ExpertRequest
    fields: dict[str, str]
    link: LinkParams
    state: EscalationState


def _change(escalation_id: str, link_kind: signing.Action, status: str, action: str) -> Change:
    api, request = _request(escalation_id)
    fields = body_fields(request)
    link = link_params(fields)
    state = actions.authorize(api, link_kind, request.escalation_id, link)
    actions.require_status(state, status, action)
    return Change(api, request, fields, link, state)


@app.post("/escalations/<escalation_id>/accept")
def accept(escalation_id: str) -> Response:
    change = _change(escalation_id, "review", "pending", "accept")
    api, request, fields, state = change.api, change.request, change.fields, change.state
    accepted = actions.accept(api, state, expert_name(fields))
    _record_accept(request, state, accepted)
    console = request.url(f"/console?{accepted.work_link.query()}")
    if request.wants_json:
        return respond_json(200, {"escalation_id": request.escalation_id, "status": "accepted", "console_url": console})
    return see_other(console, "Accepted: open the console")


def _record_accept(request: ExpertRequest, state: EscalationState, accepted: actions.Accepted) -> None:
    metrics.add_metric(name="EscalationsAccepted", unit="Count", value=1)
    logger.info("escalation accepted", extra={"escalation_id": request.escalation_id,
                                              "session_id": state.record.session_id,
                                              "confirmed_by_history": accepted.confirmed_by_history,
                                              "next_round": accepted.next_round})


@app.post("/escalations/<escalation_id>/reply")
def reply(escalation_id: str) -> Response:
    change = _change(escalation_id, "work", "accepted", "reply to")
    api, request, fields, state, link = change.api, change.request, change.fields, change.state, change.link
    replied = actions.reply(api, state, reply_text(fields, max_chars=api.settings.max_reply_chars),
                            reply_id=reply_id(fields))
    _record_reply(request, replied)
    if request.wants_json:
        return respond_json(200, {"turn_id": replied.turn.turn_id, "created_at": replied.turn.created_at})
    return see_other(request.url(f"/console?{actions.Link.of(link).query()}"), "Sent: back to the console")


def _record_reply(request: ExpertRequest, replied: actions.Replied) -> None:
    if not replied.duplicate:
        metrics.add_metric(name="ExpertReplies", unit="Count", value=1)
    logger.info("expert replied", extra={"escalation_id": request.escalation_id, "turn_id": replied.turn.turn_id,
                                         "duplicate": replied.duplicate})


@app.post("/escalations/<escalation_id>/resolve")
def resolve(escalation_id: str) -> Response:
    change = _change(escalation_id, "work", "accepted", "resolve")
    api, request, fields, state = change.api, change.request, change.fields, change.state
    note = resolution_note(fields, max_chars=api.settings.max_reply_chars)
    close = close_flag(fields)
    resolved = actions.resolve(api, state, note, close)
    _record_resolve(request, resolved)
    if request.wants_json:
        return respond_json(200, {"escalation_id": request.escalation_id, "status": "resolved", "closed": close})
    return respond(200, pages.resolved_page(resolved.record, closed=close))


def _record_resolve(request: ExpertRequest, resolved: Resolved) -> None:
    """The metrics and log lines of a resolve, by link or in the inbox."""
    metrics.add_metric(name="EscalationsResolved", unit="Count", value=1)
    _log_problems("resolve", request, resolved.problems)
    if resolved.knowledge_skipped:
        metrics.add_metric(name="KnowledgeExportSkipped", unit="Count", value=1)
        logger.error("knowledge export skipped: personal data could not be masked", extra={
            "escalation_id": request.escalation_id, "error": resolved.knowledge_skipped})
    logger.info("escalation resolved", extra={
        "escalation_id": request.escalation_id, "closed": resolved.closed, "workflow": resolved.workflow,
        "workflow_error": resolved.workflow_error, "knowledge_key": resolved.knowledge_key})


def _log_problems(action: str, request: ExpertRequest, problems: list[str]) -> None:
    if problems:
        metrics.add_metric(name="ExpertFollowUpFailures", unit="Count", value=len(problems))
        logger.error(f"{action} done, follow-up steps failed",
                     extra={"escalation_id": request.escalation_id, "problems": problems})


# The experts' inbox -----------------------------------------------------------------------------------------
# Each request checks, in this order: the signed-in expert (401, 403), the escalation (404), its state (409),
# that it is the expert's own (403), the fields (400). Nothing is written before the last check.

@dataclass(frozen=True)
class InboxRequest:
    api: ExpertApi
    expert: Expert
    request: ExpertRequest
    state: EscalationState


def _inbox_request(session_id: str, escalation_id: str) -> InboxRequest:
    raw = app.current_event.raw_event
    expert = identity.expert(raw)
    request = parse_event(raw, escalation_id)
    api = dependencies.get()
    return InboxRequest(api, expert, request, api.escalations.get(inbox.session_id(session_id), escalation_id))


@app.get("/inbox/escalations")
def inbox_list() -> Response:
    expert = identity.expert(app.current_event.raw_event)
    listed = inbox.open_escalations(dependencies.get())
    return respond_json(200, {"expert": expert.email, "escalations": inbox.listing(listed, expert)})


@app.get("/inbox/escalations/<session_id>/<escalation_id>")
def inbox_conversation(session_id: str, escalation_id: str) -> Response:
    found = _inbox_request(session_id, escalation_id)
    turns = actions.messages(found.api, found.state, after_timestamp(found.request.query))
    return respond_json(200, {"escalation": inbox.view(found.state.record, found.expert),
                              "turns": [t.to_dict() for t in turns]})


@app.post("/inbox/escalations/<session_id>/<escalation_id>/accept")
def inbox_accept(session_id: str, escalation_id: str) -> Response:
    found = _inbox_request(session_id, escalation_id)
    actions.require_status(found.state, "pending", "accept")
    json_fields(found.request, allowed=())
    accepted = actions.accept(found.api, found.state, found.expert.email)
    _record_accept(found.request, found.state, accepted)
    return respond_json(200, {"escalation": inbox.view(accepted.record, found.expert)})


def _inbox_change(session_id: str, escalation_id: str, action: str, allowed: tuple[str, ...]) -> tuple[
        InboxRequest, dict[str, str]]:
    """An accepted escalation of the asking expert's, and the request's fields."""
    found = _inbox_request(session_id, escalation_id)
    actions.require_status(found.state, "accepted", action)
    inbox.require_owner(found.state, found.expert)
    return found, json_fields(found.request, allowed)


@app.post("/inbox/escalations/<session_id>/<escalation_id>/reply")
def inbox_reply(session_id: str, escalation_id: str) -> Response:
    found, fields = _inbox_change(session_id, escalation_id, "reply to", ("text", "reply_id"))
    text = reply_text(fields, max_chars=found.api.settings.max_reply_chars)
    replied = actions.reply(found.api, found.state, text, reply_id=reply_id(fields, required=True))
    _record_reply(found.request, replied)
    return respond_json(200, {"turn": replied.turn.to_dict(), "duplicate": replied.duplicate})


def _inbox_resolve(session_id: str, escalation_id: str, *, close: bool) -> Response:
    found, fields = _inbox_change(session_id, escalation_id, "close" if close else "hand back", ("note",))
    note = resolution_note(fields, max_chars=found.api.settings.max_reply_chars)
    resolved = actions.resolve(found.api, found.state, note, close)
    _record_resolve(found.request, resolved)
    return respond_json(200, {"escalation": inbox.view(resolved.record, found.expert), "closed": close})


@app.post("/inbox/escalations/<session_id>/<escalation_id>/handback")
def inbox_handback(session_id: str, escalation_id: str) -> Response:
    return _inbox_resolve(session_id, escalation_id, close=False)


@app.post("/inbox/escalations/<session_id>/<escalation_id>/close")
def inbox_close(session_id: str, escalation_id: str) -> Response:
    return _inbox_resolve(session_id, escalation_id, close=True)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)  # pages hold customer text: keep them out of X-Ray
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


dependencies.prepare_during_init()  # in Lambda's init phase: clients and the signing key before the first expert
