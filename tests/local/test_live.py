"""The demo's live channel: the WebSocket API shaped like the deployed stage, with the real authorizer, the
real connection handler and the real stream consumer behind it (a Python WebSocket client plays the page)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from lambdas.common.connections import customer_listener
from local.demo import Demo, DemoOptions
from testing.waiting import wait_for

ANGRY = "This is useless, I want to talk to a real person now!"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = Demo(DemoOptions(port=0)).start()
    yield running
    running.stop()


def token(demo: Demo, name: str, groups: tuple[str, ...] = ()) -> str:
    reply = httpx.post(f"{demo.base_url}/local/cognito/sign-in", json={"name": name, "groups": list(groups)})
    return str(reply.json()["idToken"])


def listen(demo: Demo, protocols: list[str], room: str | None = None, origin: str | None = "") -> ClientConnection:
    url = demo.base_url.replace("http://", "ws://") + "/live" + (f"?room={room}" if room else "")
    return connect(url, subprotocols=protocols, origin=demo.base_url if origin == "" else origin,  # type: ignore[arg-type]
                   open_timeout=10)


def events(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(socket.recv(timeout=15)) for _ in range(count)]


def chat(demo: Demo, name: str, message: str) -> dict[str, Any]:
    reply = httpx.post(f"{demo.base_url}/prod/chat", headers={"Authorization": token(demo, name)},
                       json={"message": message}, timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_a_customer_hears_their_own_turns_and_nobody_elses(demo):
    with listen(demo, ["tandem.v1", token(demo, "ana")]) as ana, \
            listen(demo, ["tandem.v1", token(demo, "ben")]) as ben:
        assert ana.subprotocol == "tandem.v1"
        answer = chat(demo, "ana", "How do I set up my router?")
        customer, bot = events(ana, 2)
        assert (customer["type"], customer["turn"]["role"], customer["turn"]["text"]) == (
            "turn", "customer", "How do I set up my router?")
        assert bot["id"] == bot["turn"]["turn_id"] == answer["turn_id"]
        assert bot["session_id"] == answer["session_id"] and bot["v"] == 1
        assert bot["turn"]["sources"][0]["uri"] == answer["sources"][0]["uri"]
        with pytest.raises(TimeoutError):
            ben.recv(timeout=1)


@pytest.mark.parametrize("protocols", [["tandem.v1", "not-a-token"], ["tandem.v1"], ["chat"]],
                         ids=["bad token", "no token", "other protocol"])
def test_a_connection_without_a_valid_token_is_refused(demo, protocols):
    with pytest.raises(InvalidStatus):
        listen(demo, protocols)


def test_a_page_of_another_site_cannot_open_the_socket(demo):
    with pytest.raises(InvalidStatus):
        listen(demo, ["tandem.v1", token(demo, "ana")], origin="http://evil.example")


def test_the_inbox_is_for_experts_and_hears_every_escalation(demo):
    with pytest.raises(InvalidStatus):
        listen(demo, ["tandem.v1", token(demo, "rita", ("raters",))], room="inbox")
    with listen(demo, ["tandem.v1", token(demo, "eva", ("experts",))], room="inbox") as inbox:
        escalated = chat(demo, "carl", ANGRY)
        assert escalated["escalated"] is True
        found = wait_for(lambda: next((e for e in [json.loads(inbox.recv(timeout=15))]
                                       if e["type"] == "escalation"), None), what="the escalation event", timeout=30)
        assert found["session_id"] == escalated["session_id"]
        assert found["escalation"]["status"] == "pending" and found["escalation"]["reason"]


def test_a_closed_connection_is_forgotten_and_posting_to_it_is_gone(demo):
    assert demo.identity is not None
    sub = demo.identity.sub("dora")
    socket = listen(demo, ["tandem.v1", token(demo, "dora")])
    ids = wait_for(lambda: _listening(demo, sub), what="the connection to be kept", timeout=10)
    socket.close()
    wait_for(lambda: not _listening(demo, sub), what="$disconnect to forget it", timeout=10)
    management = boto3.client("apigatewaymanagementapi", endpoint_url=f"{demo.base_url}/live", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
    with pytest.raises(ClientError) as gone:
        management.post_to_connection(ConnectionId=ids[0], Data=b"{}")
    assert gone.value.response["Error"]["Code"] == "GoneException"


def _listening(demo: Demo, sub: str) -> list[str]:
    assert demo.aws is not None
    ddb = demo.aws.client("dynamodb")
    items = ddb.query(TableName=demo.aws.names["connections_table"], IndexName="by-listener",
                      KeyConditionExpression="listener = :l",
                      ExpressionAttributeValues={":l": {"S": customer_listener(sub)}})["Items"]
    return [i["connection_id"]["S"] for i in items]
