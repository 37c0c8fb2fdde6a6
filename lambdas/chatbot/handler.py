"""POST /chat, GET /chat/{session_id}/messages and POST /chat/{session_id}/feedback: the chatbot Lambda, deployed by stacks/chatbot_stack.py behind API Gateway and Cognito.

The routes are thin: authenticate the caller (Cognito claims), parse the request, hand it to ChatService,
answer JSON; lambdas/common/http_api.py routes the requests and answers what the routes raise. The service
and its AWS clients are built once per execution environment; inside Lambda they are built during init, so
SnapStart snapshots them ready to use.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from langchain_aws import ChatBedrockConverse

from lambdas.chatbot import model_ids
from lambdas.chatbot.answer import Answerer
from lambdas.chatbot.request import customer_id, parse_chat_request, parse_messages_request, parse_thumb_request
from lambdas.chatbot.sentiment import make_detector
from lambdas.chatbot.service import ChatService, SessionClosed
from lambdas.chatbot.settings import RETRIEVAL_MAX_ATTEMPTS, RETRIEVAL_READ_TIMEOUT_SECONDS, ChatbotSettings
from lambdas.chatbot.thumbs import give_thumb
from lambdas.common import clients
from lambdas.common.escalations import EscalationStore
from lambdas.common.http_api import HttpApi, Problem, Response, json_response
from lambdas.common.session_store import SessionNotFound, SessionStore
from lambdas.common.startup import Startup

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the only library making calls worth tracing
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

def bedrock_config(max_attempts: int, read_timeout: int) -> Config:
    """Retries for throttling and transient errors, bounded so every attempt fits in the API's timeout
    (stacks/config.py checks attempts x read timeout against it)."""
    # botocore's `max_attempts` counts retries only (N retries = N + 1 calls); `total_max_attempts` counts
    # every call, which is what bedrock_max_attempts means and what the time budget multiplies.
    return Config(retries={"mode": "standard", "total_max_attempts": max_attempts}, read_timeout=read_timeout,
                  connect_timeout=2, tcp_keepalive=True)


def build_service(settings: ChatbotSettings, *, answerer: Answerer | None = None) -> ChatService:
    """The chat service with its clients. `answerer` stands in for the Bedrock answer chain (the local demo
    passes its offline one, local/answer_model.py); deployed, it is None."""
    app.allow_origin(settings.site_url)
    clients.configure("bedrock-runtime",
                      bedrock_config(settings.bedrock_max_attempts, settings.bedrock_read_timeout_seconds))
    clients.configure("bedrock-agent-runtime", bedrock_config(RETRIEVAL_MAX_ATTEMPTS, RETRIEVAL_READ_TIMEOUT_SECONDS))
    # The gate runs beside the answer and may fail without harm: one retry, and never slower than the answer.
    clients.configure("bedrock-runtime", bedrock_config(2, settings.bedrock_read_timeout_seconds), purpose="gate")
    if answerer is None:
        answerer = bedrock_answerer(settings)
    detector = make_detector(settings.sentiment_detector, language_code=settings.language_code,
                             gate_model_id=settings.effective_gate_model_id,
                             make_model=partial(_chat_model, settings, "gate"))
    # Clients the first request would otherwise create: built now, they are in the init phase (and in a
    # SnapStart snapshot) instead of in a customer's wait.
    for service in ("dynamodb", *(["comprehend"] if settings.sentiment_detector == "comprehend" else [])):
        clients.client(service)
    store = SessionStore(table_name=settings.sessions_table, ttl_days=settings.session_ttl_days)
    return ChatService(settings=settings, store=store, escalations=EscalationStore(table_name=settings.sessions_table),
                       answerer=answerer, detector=detector,
                       # Two per turn (answer, gate), plus room for a gate thread still finishing after its grace.
                       executor=ThreadPoolExecutor(4, thread_name_prefix="turn"),
                       metrics=metrics, logger=logger)


def bedrock_answerer(settings: ChatbotSettings) -> Answerer:
    """The answer chain as deployed: the configured Bedrock model, with the guardrail and the Knowledge Base
    retriever when they are configured."""
    guardrail = ({"guardrailIdentifier": settings.guardrail_id, "guardrailVersion": settings.guardrail_version,
                  "trace": "disabled"} if settings.guardrail_id else None)
    retriever = None
    if settings.knowledge_base_id:
        from langchain_aws.retrievers import AmazonKnowledgeBasesRetriever  # imported only when it is used

        retriever = AmazonKnowledgeBasesRetriever(
            knowledge_base_id=settings.knowledge_base_id, client=clients.client("bedrock-agent-runtime"),
            min_score_confidence=None,  # every passage the search returns (the library's default, said here)
            retrieval_config={"vectorSearchConfiguration": {"numberOfResults": settings.knowledge_base_results}})
    return Answerer(
        model=_chat_model(settings, "default", model_id=settings.model_id, temperature=settings.temperature,
                          max_tokens=settings.max_tokens, guardrail_config=guardrail),
        model_id=settings.model_id, system_prompt=settings.system_prompt, retriever=retriever)


def _chat_model(settings: ChatbotSettings, purpose: str, **kwargs: Any) -> ChatBedrockConverse:
    runtime = clients.client("bedrock-runtime", purpose=purpose)
    # langchain-aws uses its control-plane client only to resolve application inference profiles; skip
    # creating one (a cold-start cost) unless such a profile is configured.
    uses_profile = "application-inference-profile" in settings.model_id + settings.gate_model_id
    control = clients.client("bedrock") if uses_profile else runtime
    # Given, not guessed: langchain-aws cannot read it from an ARN (e.g. a model brought in by Bedrock Custom
    # Model Import) and knows only some inference profile prefixes ("in." is not among them).
    kwargs["provider"] = model_ids.provider(kwargs["model_id"]) or settings.model_provider
    return ChatBedrockConverse(client=runtime, bedrock_client=control, **kwargs)


dependencies = Startup(lambda: build_service(ChatbotSettings.from_env()))


NO_STORE = {"Cache-Control": "no-store"}


def render(problem: Problem) -> Response:
    return json_response(problem.status, problem.body(), NO_STORE)


def _not_stored(error: Exception) -> Problem:
    return Problem(503, None, "the message could not be saved; please resend it", log="turn could not be stored",
                   level="exception", metric="StorageFailures", details={"error": type(error).__name__})


app = HttpApi(logger=logger, metrics=metrics, render=render, errors={
    SessionNotFound: lambda _: Problem(404, "session_id", "no such session for this caller"),
    SessionClosed: lambda _: Problem(409, "session_id", "an expert closed this conversation; start a new one"),
    (ClientError, BotoCoreError): _not_stored,
})


@app.post("/chat")
def chat() -> Response:
    service = dependencies.get()
    event = app.current_event.raw_event
    caller = customer_id(event)
    request = parse_chat_request(event, max_message_chars=service.settings.max_message_chars)
    return json_response(200, service.handle(request, caller).to_body(), NO_STORE)


@app.get("/chat/<session_id>/messages")
def messages(session_id: str) -> Response:
    service = dependencies.get()
    event = app.current_event.raw_event
    caller = customer_id(event)
    session_id, after = parse_messages_request(session_id, event)
    return json_response(200, service.messages_since(session_id, caller, after), NO_STORE)


@app.post("/chat/<session_id>/feedback")
def feedback(session_id: str) -> Response:
    """The customer's thumb on one of the assistant's answers (lambdas/chatbot/thumbs.py)."""
    service = dependencies.get()
    event = app.current_event.raw_event
    caller = customer_id(event)
    request = parse_thumb_request(session_id, event)
    return json_response(200, give_thumb(service.store, request, caller, metrics=metrics, logger=logger), NO_STORE)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses hold customer text: keep it out of X-Ray
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


# In Lambda's init phase: clients and the chain now, so SnapStart snapshots them and an on-demand cold start
# does the work before the first request instead of during it.
dependencies.prepare_during_init()
