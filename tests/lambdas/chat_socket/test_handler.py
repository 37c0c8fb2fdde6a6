"""$connect keeps the connection the authorizer let in, $disconnect forgets it, the keep-alive is answered.
The $connect event is API Gateway's proxy event for a WebSocket route with the authorizer's context
(tests/events/socket_connect.json)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

EVENT = json.loads((Path(__file__).parents[2] / "events" / "socket_connect.json").read_text())
CUSTOMER = EVENT["requestContext"]["authorizer"]["listener"]
CONNECTION = EVENT["requestContext"]["connectionId"]


def event(route: str, **context) -> dict:
    found = copy.deepcopy(EVENT)
    found["requestContext"].update(routeKey=route, eventType={"$connect": "CONNECT", "$disconnect": "DISCONNECT"}
                                   .get(route, "MESSAGE"), **context)
    if route != "$connect":
        found["requestContext"].pop("authorizer")
    return found


def test_connect_keeps_the_listener_and_names_the_subprotocol(aws, invoke):
    assert invoke(event("$connect")) == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "tandem.v1"}}
    assert aws.connections.listening(CUSTOMER) == [CONNECTION]
    assert aws.connections.in_room("inbox") == []


def test_an_inbox_connection_is_found_by_room_and_by_expert(aws, invoke):
    found = event("$connect")
    found["requestContext"]["authorizer"].update(listener="expert#eva@example.com", room="inbox")
    invoke(found)
    assert aws.connections.in_room("inbox") == [CONNECTION]
    assert aws.connections.listening("expert#eva@example.com") == [CONNECTION]


def test_a_connect_without_the_authorizers_context_is_refused(aws, invoke):
    found = event("$connect")
    found["requestContext"]["authorizer"] = {"principalId": "x"}
    assert invoke(found)["statusCode"] == 403
    assert aws.connections.listening(CUSTOMER) == []


def test_disconnect_forgets_the_connection(aws, invoke):
    invoke(event("$connect"))
    assert invoke(event("$disconnect", disconnectStatusCode=1001)) == {"statusCode": 200}
    assert aws.connections.listening(CUSTOMER) == []


@pytest.mark.parametrize("body", ['{"action": "ping"}', "not json", '["a list"]', '{"action": "send"}'])
def test_messages_are_answered_and_change_nothing(aws, invoke, body):
    invoke(event("$connect"))
    found = event("$default")
    found["body"] = body
    assert invoke(found) == {"statusCode": 200}
    assert aws.connections.listening(CUSTOMER) == [CONNECTION]


def test_an_expired_item_is_not_listening(aws):
    from lambdas.common.connections import Connection, ConnectionStore

    past = ConnectionStore(table_name=aws.connections.table_name, clock=lambda: 0)
    past.add(Connection(connection_id="old", listener=CUSTOMER))
    assert aws.connections.listening(CUSTOMER) == []
    assert past.listening(CUSTOMER) == ["old"]
