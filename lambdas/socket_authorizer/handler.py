"""The live channel's $connect authorizer (a Lambda REQUEST authorizer on the WebSocket API,
stacks/live_stack.py): who may connect, and to which events.

A browser cannot set headers on a WebSocket, so it offers two subprotocols, `tandem.v1` and its Cognito ID
token (`new WebSocket(url, ["tandem.v1", idToken])`); the API's identity source is that header, so a
connection without it is refused before this function runs. The query parameter `room` picks the events:
`chat` (the default) for a customer's own conversations, `inbox` for an expert's inbox, which needs the
Cognito group `experts`.

A bad or expired token is 401 ("Unauthorized"); a valid token asking for a room its user may not enter is a
Deny (403). An allowed connection carries its listener and room in the authorizer context, where the
$connect handler (lambdas/chat_socket) reads them. The token never reaches a log.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from lambdas.common.connections import INBOX, customer_listener, expert_listener
from lambdas.common.live_events import PROTOCOL
from lambdas.common.startup import Startup
from lambdas.socket_authorizer.id_tokens import Identity, IdTokenVerifier, InvalidToken
from lambdas.socket_authorizer.settings import AuthorizerSettings

EXPERTS_GROUP = "experts"
ROOMS = ("chat", INBOX)
logger = Logger()

dependencies = Startup(lambda: _verifier(AuthorizerSettings.from_env()))


def _verifier(settings: AuthorizerSettings) -> IdTokenVerifier:
    return IdTokenVerifier(issuer=settings.issuer, audiences=settings.client_ids)


class Unauthorized(Exception):
    """API Gateway answers 401 when an authorizer raises exactly this message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def offered_token(headers: dict[str, str] | None) -> str | None:
    """The ID token among the offered subprotocols, when `tandem.v1` is offered with exactly one other."""
    offered = next((v for k, v in (headers or {}).items() if k.lower() == "sec-websocket-protocol"), "")
    values = [v.strip() for v in offered.split(",") if v.strip()]
    others = [v for v in values if v != PROTOCOL]
    return others[0] if PROTOCOL in values and len(others) == 1 else None


def decide(event: dict[str, Any], verifier: IdTokenVerifier) -> dict[str, Any]:
    token = offered_token(event.get("headers"))
    if token is None:
        logger.info("connection refused", extra={"reason": f"no {PROTOCOL} subprotocol with one token"})
        raise Unauthorized()
    try:
        identity = verifier.verify(token)
    except InvalidToken as error:
        logger.info("connection refused", extra={"reason": f"token {error}"})
        raise Unauthorized() from None
    room = (event.get("queryStringParameters") or {}).get("room") or "chat"
    if room not in ROOMS:
        return _policy(identity, "Deny", event, reason=f"unknown room (rooms: {', '.join(ROOMS)})")
    if room == INBOX:
        if EXPERTS_GROUP not in identity.groups or not identity.email:
            return _policy(identity, "Deny", event, reason=f"the inbox is for the '{EXPERTS_GROUP}' group")
        return _policy(identity, "Allow", event, listener=expert_listener(identity.email), room=INBOX)
    return _policy(identity, "Allow", event, listener=customer_listener(identity.sub), room="chat")


def _policy(identity: Identity, effect: str, event: dict[str, Any], **context: str) -> dict[str, Any]:
    if effect == "Deny":
        logger.info("connection denied", extra={"sub": identity.sub, **context})
    return {
        "principalId": identity.sub,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        "context": context if effect == "Allow" else {},
    }


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return decide(event, dependencies.get())


dependencies.prepare_during_init()
