"""The live channel's routes on the WebSocket API (stacks/live_stack.py): $connect keeps the connection the
authorizer (lambdas/socket_authorizer) let in, $disconnect forgets it, $default answers a keep-alive.

Events go out from the sessions table's stream (lambdas/stream_consumer/push.py), not from here: this
function only keeps the connections table true. The $connect answer names the subprotocol `tandem.v1`,
which a browser requires when it offered subprotocols.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from lambdas.chat_socket.settings import SocketSettings
from lambdas.common.connections import INBOX, Connection, ConnectionStore, Room
from lambdas.common.live_events import PROTOCOL
from lambdas.common.startup import Startup

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()

dependencies = Startup(lambda: ConnectionStore(table_name=SocketSettings.from_env().connections_table))


def connect(event: dict[str, Any], store: ConnectionStore) -> dict[str, Any]:
    context = event["requestContext"]
    authorizer = context.get("authorizer") or {}
    listener = authorizer.get("listener")
    if not listener:  # only reachable if the route lost its authorizer: refuse rather than listen to nothing
        logger.error("connection without an authorizer context refused")
        return {"statusCode": 403}
    room: Room = INBOX if authorizer.get("room") == INBOX else "chat"
    store.add(Connection(connection_id=context["connectionId"], listener=listener, room=room))
    metrics.add_metric(name="LiveConnections", unit="Count", value=1)
    logger.info("connected", extra={"connection_id": context["connectionId"], "room": room})
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": PROTOCOL}}


def disconnect(event: dict[str, Any], store: ConnectionStore) -> dict[str, Any]:
    connection_id = event["requestContext"]["connectionId"]
    store.remove(connection_id)
    logger.info("disconnected", extra={"connection_id": connection_id,
                                       "status": event["requestContext"].get("disconnectStatusCode")})
    return {"statusCode": 200}


def message(event: dict[str, Any]) -> dict[str, Any]:
    """Browsers send {"action": "ping"} now and then, because API Gateway closes a connection idle for 10
    minutes. Nothing else is read from a browser here: what people say goes through the REST APIs."""
    try:
        action = json.loads(event.get("body") or "{}").get("action")
    except (ValueError, AttributeError):
        action = None
    if action != "ping":
        logger.info("message ignored", extra={"connection_id": event["requestContext"]["connectionId"]})
    return {"statusCode": 200}


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    route = event["requestContext"]["routeKey"]
    if route == "$connect":
        return connect(event, dependencies.get())
    if route == "$disconnect":
        return disconnect(event, dependencies.get())
    return message(event)


dependencies.prepare_during_init()
