"""API Gateway's WebSocket API on this machine: the live channel at `ws://127.0.0.1:<port>/live`, shaped like
the deployed stage (stacks/live_stack.py), with the real functions behind it.

- A connection's handshake becomes the REQUEST authorizer event API Gateway sends for $connect
  (tests/events/socket_connect_authorizer.json); the real authorizer (lambdas/socket_authorizer) verifies the
  ID token offered as a subprotocol against the local identity's keys, which it fetches over HTTP as it
  fetches a user pool's. An allowed connection then goes to the real $connect handler (lambdas/chat_socket)
  with the authorizer's context, and is accepted with the subprotocol that handler names.
- Messages go to $default, the socket's end to $disconnect.
- `/live/@connections/{id}` is the stage's management API (POST sends, GET describes, DELETE closes; a
  connection that is not open is 410 GoneException), which the real stream consumer posts to with boto3.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
import threading
import time
import uuid
from typing import Any, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from local.lambda_context import lambda_context
from local.resources import ACCOUNT
from stacks.live_stack import STAGE

logger = logging.getLogger("tandem.local.live")
API_ID = "local-live"
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _handler(function: str) -> Handler:
    return importlib.import_module(f"lambdas.{function}.handler").handler


class LocalLiveApi:
    def __init__(self, region: str = "us-east-1"):
        self.region = region
        self.origin = ""  # the demo's own origin: a page of another site may not open the socket
        self.sockets: dict[str, WebSocket] = {}
        self.connected_at: dict[str, int] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # One invocation at a time per function, as one execution environment serves them.
        self._locks = {"socket_authorizer": threading.Lock(), "chat_socket": threading.Lock()}

    def routes(self) -> list[Any]:
        return [WebSocketRoute(f"/{STAGE}", self._socket),
                Route(f"/{STAGE}/@connections/{{connection_id}}", self._manage, methods=["POST", "GET", "DELETE"])]

    # The WebSocket route ------------------------------------------------------------------------------

    def _context(self, websocket: WebSocket, connection_id: str, route: str, event_type: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {"routeKey": route, "eventType": event_type, "messageDirection": "IN", "stage": STAGE,
                "connectedAt": self.connected_at.get(connection_id, now), "requestTimeEpoch": now,
                "identity": {"sourceIp": websocket.client.host if websocket.client else "127.0.0.1"},
                "requestId": str(uuid.uuid4()), "domainName": websocket.url.netloc, "connectionId": connection_id,
                "apiId": API_ID}

    async def _invoke(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        context = lambda_context(f"tandem-{function.replace('_', '-')}", request_id=str(uuid.uuid4()))

        def call() -> dict[str, Any]:
            with self._locks[function]:
                return _handler(function)(event, context)
        return await run_in_threadpool(call)

    async def _socket(self, websocket: WebSocket) -> None:
        self._loop = asyncio.get_running_loop()
        if self.origin and websocket.headers.get("origin") not in (None, self.origin):
            await websocket.close(code=1008)
            return
        connection_id = secrets.token_hex(8)  # API Gateway's are opaque too
        self.connected_at[connection_id] = int(time.time() * 1000)
        headers = {"-".join(p.capitalize() for p in k.split("-")): v for k, v in websocket.headers.items()}
        if "Sec-Websocket-Protocol" in headers:  # API Gateway passes the name as the browser wrote it
            headers["Sec-WebSocket-Protocol"] = headers.pop("Sec-Websocket-Protocol")
        query = dict(websocket.query_params)
        authorizer_event = {
            "type": "REQUEST",
            "methodArn": f"arn:aws:execute-api:{self.region}:{ACCOUNT}:{API_ID}/{STAGE}/$connect",
            "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": query, "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
            "stageVariables": {}, "requestContext": self._context(websocket, connection_id, "$connect", "CONNECT"),
        }
        try:
            decision = await self._invoke("socket_authorizer", authorizer_event)
        except Exception:  # noqa: BLE001 ("Unauthorized": API Gateway answers 401 and never opens the socket)
            await websocket.close(code=1008)
            return
        statement = decision["policyDocument"]["Statement"][0]
        if statement["Effect"] != "Allow":
            await websocket.close(code=1008)
            return
        connect_context = self._context(websocket, connection_id, "$connect", "CONNECT")
        connect_context["authorizer"] = {"principalId": decision["principalId"], **decision.get("context", {})}
        answer = await self._invoke("chat_socket", {"headers": headers, "requestContext": connect_context,
                                                    "isBase64Encoded": False})
        if answer.get("statusCode") != 200:
            await websocket.close(code=1008)
            return
        await websocket.accept(subprotocol=(answer.get("headers") or {}).get("Sec-WebSocket-Protocol"))
        self.sockets[connection_id] = websocket
        status = 1005
        try:
            while True:
                body = await websocket.receive_text()
                await self._invoke("chat_socket", {
                    "requestContext": self._context(websocket, connection_id, "$default", "MESSAGE"),
                    "body": body, "isBase64Encoded": False})
        except WebSocketDisconnect as ended:
            status = ended.code
        finally:
            self.sockets.pop(connection_id, None)
            context = self._context(websocket, connection_id, "$disconnect", "DISCONNECT")
            context.update(disconnectStatusCode=status, disconnectReason="")
            self.connected_at.pop(connection_id, None)
            try:
                await self._invoke("chat_socket", {"headers": {}, "requestContext": context, "isBase64Encoded": False})
            except Exception:
                logger.exception("$disconnect failed for a local connection")

    # The @connections management API --------------------------------------------------------------------

    async def _manage(self, request: Request) -> Response:
        connection_id = request.path_params["connection_id"]
        websocket = self.sockets.get(connection_id)
        if websocket is None:
            return JSONResponse({"message": "The connection is gone."}, status_code=410,
                                headers={"x-amzn-ErrorType": "GoneException"})
        if request.method == "POST":
            try:
                await websocket.send_text((await request.body()).decode("utf-8"))
            except Exception:  # noqa: BLE001 (it closed while the post was on its way)
                self.sockets.pop(connection_id, None)
                return JSONResponse({"message": "The connection is gone."}, status_code=410,
                                    headers={"x-amzn-ErrorType": "GoneException"})
            return Response(status_code=200)
        if request.method == "DELETE":
            await websocket.close(code=1000)
            return Response(status_code=204)
        return JSONResponse({"connectedAt": self.connected_at.get(connection_id),
                             "identity": {"sourceIp": websocket.client.host if websocket.client else None}})

    def drop_all(self) -> None:
        """Closes every open connection as a network failure would (tests: a reconnect loses nothing)."""
        loop = self._loop
        if loop is None:
            return
        for websocket in list(self.sockets.values()):
            asyncio.run_coroutine_threadsafe(websocket.close(code=1011), loop).result(5)

    def open_connections(self) -> int:
        return len(self.sockets)
