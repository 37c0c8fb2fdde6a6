"""The customer's side: two messages to POST /chat in one session, through the `ChatApi` seam.

1. An ordinary question: 200, a non-empty reply, no `error` (lambdas/chatbot/service.py `to_body`; an
   `error` is the model's failure code, which diagnose.py explains).
2. An angry message asking for a human, saying it is a smoke test that needs no action (the experts are
   mailed the last turns): the reply must say `escalated`, with the escalation's id.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from tools.smoke.report import Hidden, SmokeFailure

CHAT_PATH = "/chat"
REQUEST_TIMEOUT_SECONDS = 35.0  # API Gateway gives up after 29 s
ORDINARY_QUESTION = "Hello! What kinds of questions can you help me with? (Tandem smoke test)"
ANGRY_MESSAGE = (
    "This is useless and I am really angry about it. I want to talk to a human, now! "
    "(This is a Tandem smoke test: an automated check run after a deploy. No action is needed; the "
    "conversation is deleted within minutes.)")


class AnswerFailed(SmokeFailure):
    part = "answer"

    def __init__(self, message: str, *, model_error: str | None = None):
        super().__init__(message)
        self.model_error = model_error  # the model's failure code, when the reply carried one


class EscalationRefused(SmokeFailure):
    part = "escalate"


class ChatUnreachable(RuntimeError):
    """The request got no HTTP answer (DNS, connection, time-out)."""


@dataclass(frozen=True)
class ChatResponse:
    status: int
    body: dict[str, Any] | None  # None when the body is not a JSON object
    text: str  # the start of the raw body, for a report

    def summary(self) -> str:
        if self.body is not None:
            return json.dumps(self.body.get("error") or self.body.get("message") or self.body)[:200]
        return self.text[:200]


class ChatApi(Protocol):
    def post(self, path: str, token: Hidden, body: dict[str, Any]) -> ChatResponse: ...


def read_response(status: int, raw: bytes) -> ChatResponse:
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return ChatResponse(status=status, body=body if isinstance(body, dict) else None, text=text[:500])


class UrllibChatApi:
    """The deployed API over HTTPS. `chat_url` is TandemChatbot's ChatUrl (the stage URL and /chat)."""

    def __init__(self, chat_url: str, *, timeout: float = REQUEST_TIMEOUT_SECONDS,
                 opener: Callable[..., Any] = urllib.request.urlopen):
        self.stage_url = chat_url.removesuffix("/").removesuffix(CHAT_PATH)
        self.timeout = timeout
        self.opener = opener

    def post(self, path: str, token: Hidden, body: dict[str, Any]) -> ChatResponse:
        url = self.stage_url + path
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": token.reveal(), "Content-Type": "application/json"})
        try:
            with self.opener(request, timeout=self.timeout) as response:
                return read_response(response.status, response.read())
        except urllib.error.HTTPError as error:  # a 4xx or 5xx: still an answer, with a body to show
            with error:
                return read_response(error.code, error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ChatUnreachable(f"POST {url} got no answer: {reason}") from None


@dataclass(frozen=True)
class Escalated:
    session_id: str
    escalation_id: str
    new: bool  # opened by the angry message (False: it joined one the first turn opened)


class Conversation:
    """One session of the throw-away customer."""

    def __init__(self, api: ChatApi, token: Hidden):
        self.api = api
        self.token = token
        self.session_id: str | None = None
        self.sent: list[str] = []  # the customer messages the API took (answered 200)

    def _send(self, message: str, failure: type[AnswerFailed] | type[EscalationRefused]) -> dict[str, Any]:
        body = {"message": message, **({"session_id": self.session_id} if self.session_id else {})}
        try:
            response = self.api.post(CHAT_PATH, self.token, body)
        except ChatUnreachable as error:
            raise failure(str(error)) from None
        if response.status != 200 or response.body is None:
            raise failure(f"POST {CHAT_PATH} answered {response.status}: {response.summary()}")
        self.session_id = response.body.get("session_id") or self.session_id
        self.sent.append(message)
        return response.body

    def ask(self) -> str:
        body = self._send(ORDINARY_QUESTION, AnswerFailed)
        if body.get("error"):
            raise AnswerFailed(f"the model failed to answer: {body['error']} (see model below)",
                               model_error=str(body["error"]))
        if body.get("escalated"):
            reason = (body.get("escalation") or {}).get("reason", "unknown")
            raise AnswerFailed(f"an ordinary question escalated (reason {reason}): check the gate's settings "
                               "(negative_threshold, human_request_phrases, sentiment_detector)")
        reply = body.get("reply")
        if not isinstance(reply, str) or not reply.strip():
            raise AnswerFailed(f"200 without a reply: {json.dumps(body)[:200]}")
        return f"200, a reply of {len(reply)} characters (session {self.session_id})"

    def demand_human(self) -> Escalated:
        body = self._send(ANGRY_MESSAGE, EscalationRefused)
        escalation = body.get("escalation") or {}
        if body.get("escalated") is not True:
            raise EscalationRefused("an angry request for a human did not escalate: check human_request_phrases "
                                    "and the gate's settings in cdk.json")
        if not escalation.get("escalation_id") or not self.session_id:
            raise EscalationRefused(f"escalated, but the reply names no escalation or session: {json.dumps(body)[:200]}")
        return Escalated(session_id=self.session_id, escalation_id=escalation["escalation_id"],
                         new=bool(escalation.get("new")))
