"""The $connect authorizer, called with API Gateway's documented REQUEST authorizer event for a WebSocket API
(tests/events/socket_connect_authorizer.json; the subprotocol header is the browser's offer)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

EVENT = json.loads((Path(__file__).parents[2] / "events" / "socket_connect_authorizer.json").read_text())


def connect_event(protocols: str | None, room: str | None = None) -> dict:
    event = copy.deepcopy(EVENT)
    for headers in (event["headers"], event["multiValueHeaders"]):
        headers.pop("Sec-WebSocket-Protocol")
    if protocols is not None:
        event["headers"]["Sec-WebSocket-Protocol"] = protocols
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [protocols]
    if room is not None:
        event["queryStringParameters"] = {"room": room}
        event["multiValueQueryStringParameters"] = {"room": [room]}
    return event


def effect(result: dict) -> str:
    [statement] = result["policyDocument"]["Statement"]
    assert statement["Resource"] == EVENT["methodArn"]
    return statement["Effect"]


def test_a_customer_listens_to_their_own_conversations(pool, invoke):
    result = invoke(connect_event(f"tandem.v1, {pool.id_token('ann')}"))
    assert effect(result) == "Allow"
    assert result["principalId"] == pool.sub("ann")
    assert result["context"] == {"listener": f"customer#{pool.sub('ann')}", "room": "chat"}


def test_an_expert_listens_to_the_inbox_by_email(pool, invoke):
    result = invoke(connect_event(f"tandem.v1, {pool.id_token('eva', groups=('experts',))}", room="inbox"))
    assert effect(result) == "Allow"
    assert result["context"] == {"listener": "expert#eva@example.com", "room": "inbox"}


def test_the_inbox_is_denied_to_a_user_outside_the_experts_group(pool, invoke, logs):
    result = invoke(connect_event(f"tandem.v1, {pool.id_token('rita', groups=('raters',))}", room="inbox"))
    assert effect(result) == "Deny" and result["context"] == {}
    assert logs.entries("connection denied")


def test_an_unknown_room_is_denied(pool, invoke):
    assert effect(invoke(connect_event(f"tandem.v1, {pool.id_token('ann')}", room="everything"))) == "Deny"


@pytest.mark.parametrize("make", [
    lambda pool: pool.expired_id_token("ann"),
    lambda pool: pool.id_token("ann", client_id=pool.other_client_id),
    lambda pool: pool.tokens("ann")["AccessToken"],
    lambda pool: "not-a-token",
], ids=["expired", "wrong audience", "access token", "garbage"])
def test_a_bad_token_is_unauthorized_and_never_logged(pool, invoke, logs, make):
    token = make(pool)
    with pytest.raises(Exception, match="^Unauthorized$"):
        invoke(connect_event(f"tandem.v1, {token}"))
    assert logs.entries("connection refused") and token not in logs.text


@pytest.mark.parametrize("protocols", ["", "tandem.v1", "chat, TOKEN", "tandem.v1, a, b", "tandem.v2, TOKEN"])
def test_an_offer_without_the_protocol_and_one_token_is_unauthorized(pool, invoke, protocols):
    with pytest.raises(Exception, match="^Unauthorized$"):
        invoke(connect_event(protocols.replace("TOKEN", pool.id_token("ann"))))


def test_the_header_name_is_matched_in_any_case(pool, invoke):
    event = connect_event(None)
    event["headers"]["sec-websocket-protocol"] = f"tandem.v1, {pool.id_token('ann')}"
    assert effect(invoke(event)) == "Allow"
