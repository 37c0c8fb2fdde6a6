"""local/gateway.py: an HTTP request becomes the REST proxy event API Gateway sends (tests/events/ shapes), the
handler's proxy response becomes the HTTP response, only the handlers' deployed routes are served, and a
Cognito-guarded method gets the local user's claims. Then a round trip to the real chatbot, storing its turns
in the local AWS's table, and to the real expert API."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.testclient import TestClient

from lambdas.chatbot import handler as chatbot_handler
from lambdas.expert_api import handler as expert_handler
from lambdas.rating_api import handler as rating_handler
from local.gateway import COGNITO, LocalApi, api_url, create_gateway, local_api
from local.identity import ISSUER_PATH, LocalCognito, SignInRefused
from local.templates import synthesized
from testing.bedrock_replies import converse_text
from tests.local.conftest import BASE_URL, IDENTITY, signed_in

EVENTS = Path(__file__).resolve().parents[1] / "events"
USER = signed_in("alice")


class Recorder:
    """A handler that keeps each event and answers `response`."""

    def __init__(self, response: dict[str, Any] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.response = response or {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                                     "body": "{}", "isBase64Encoded": False}

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.context = context
        return self.response


def gateway_with(recorder: Recorder) -> TestClient:
    apis = [
        LocalApi(function="chatbot", stage="prod", handler=recorder, memory_mb=1024, timeout_seconds=28,
                 routes={("POST", "/chat"): COGNITO, ("GET", "/chat/{session_id}/messages"): COGNITO}),
        LocalApi(function="expert_api", stage="experts", handler=recorder, memory_mb=256, timeout_seconds=28,
                 routes={("GET", "/escalations/{escalation_id}"): "NONE",
                         ("POST", "/escalations/{escalation_id}/accept"): "NONE"}),
    ]
    return TestClient(create_gateway(apis, identity=IDENTITY), base_url=BASE_URL)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_a_request_becomes_the_event_api_gateway_sends():
    recorder = Recorder()

    gateway_with(recorder).get("/experts/escalations/0b7e%20f3a?session_id=s-1&exp=17&sig=a&sig=b%2Bc",
                               headers={"Accept": "text/html", "X-Custom": "one"})

    (event,) = recorder.events
    documented = sample("expert_review.json")
    assert set(event) == set(documented)
    assert set(event["requestContext"]) >= set(documented["requestContext"])
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/escalations/{escalation_id}"
    assert event["path"] == "/escalations/0b7e%20f3a"  # as sent: API Gateway does not decode it
    assert event["requestContext"]["path"] == "/experts/escalations/0b7e%20f3a"
    assert event["pathParameters"] == {"escalation_id": "0b7e f3a"}  # decoded
    assert event["queryStringParameters"] == {"session_id": "s-1", "exp": "17", "sig": "b+c"}
    assert event["multiValueQueryStringParameters"] == {"session_id": ["s-1"], "exp": ["17"], "sig": ["a", "b+c"]}
    assert event["headers"]["Accept"] == "text/html" and event["multiValueHeaders"]["X-Custom"] == ["one"]
    assert event["headers"]["Host"] == "127.0.0.1:8765"
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "GET"
    assert event["requestContext"]["stage"] == "experts"
    assert event["requestContext"]["identity"]["sourceIp"] == "testclient"
    assert uuid.UUID(event["requestContext"]["requestId"])
    assert "authorizer" not in event["requestContext"]  # the expert API has no authorizer
    assert (event["body"], event["isBase64Encoded"], event["stageVariables"]) == (None, False, None)
    assert recorder.context.function_name == "tandem-expert-api" and recorder.context.memory_limit_in_mb == 256
    assert recorder.context.get_remaining_time_in_millis() == 28_000


def test_a_cookie_does_not_sign_anyone_in():
    recorder = Recorder()
    gateway = gateway_with(recorder)
    gateway.cookies.set("tandem_local_user", "alice")
    response = gateway.post("/prod/chat", content='{"message": "hi"}', headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json(), recorder.events) == (401, {"message": "Unauthorized"}, [])


def test_a_signed_in_local_user_gets_the_claims_cognito_would_pass():
    recorder = Recorder()
    gateway = gateway_with(recorder)

    gateway.post("/prod/chat", content='{"message": "hi"}', headers={**USER, "Content-Type": "application/json"})
    gateway.post("/prod/chat", content="{}", headers=signed_in("bob"))
    gateway.get(f"/prod/chat/{uuid.uuid4()}/messages", headers=USER)

    alice, bob, alice_again = (e["requestContext"]["authorizer"]["claims"] for e in recorder.events)
    assert set(alice) >= set(sample("chat_request.json")["requestContext"]["authorizer"]["claims"])
    assert alice["cognito:username"] == "alice" and alice["email"] == "alice@tandem.localhost"
    assert alice["sub"] == alice_again["sub"] != bob["sub"]
    assert uuid.UUID(alice["sub"]) and alice["iss"] == IDENTITY.issuer and alice["token_use"] == "id"
    first = recorder.events[0]
    assert (first["resource"], first["path"], first["body"]) == ("/chat", "/chat", '{"message": "hi"}')
    assert first["headers"]["Content-Type"] == "application/json"


def test_a_local_user_signs_in_with_the_experts_group_and_no_other():
    recorder = Recorder()
    gateway = gateway_with(recorder)

    gateway.get("/prod/chat/x/messages", headers={"Authorization": IDENTITY.sign_in("alice", ["experts"])})

    (event,) = recorder.events
    claims = event["requestContext"]["authorizer"]["claims"]
    assert claims["cognito:groups"] == "experts" and claims["email"] == "alice@tandem.localhost"
    with pytest.raises(SignInRefused, match="admins"):
        IDENTITY.sign_in("alice", ["experts", "admins"])
    customer = gateway.get("/prod/chat/x/messages", headers=USER)
    assert customer.status_code == 200
    assert "cognito:groups" not in recorder.events[-1]["requestContext"]["authorizer"]["claims"]


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "eyJ..."},
    {"X-Tandem-Local-User": "alice"},  # the name alone signs nobody in
    {"Authorization": LocalCognito(issuer=f"{BASE_URL}{ISSUER_PATH}").sign_in("alice")},  # another key
    {"Authorization": LocalCognito(issuer="http://127.0.0.1:1/elsewhere").sign_in("alice")},  # another issuer
], ids=["none", "garbage", "name header", "other key", "other issuer"])
def test_a_cognito_method_refuses_a_caller_who_is_not_signed_in(headers):
    recorder = Recorder()

    response = gateway_with(recorder).post("/prod/chat", content="{}", headers=headers)

    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert recorder.events == []


@pytest.mark.parametrize("method, path", [
    ("GET", "/prod/chat"),  # a deployed path, another method
    ("POST", "/prod/chats"),
    ("GET", "/chat/x/messages"),  # no stage
    ("GET", "/experts/escalations/a/b"),
    ("DELETE", "/experts/escalations/a"),
    ("GET", "/"),
])
def test_what_no_route_takes_is_answered_as_api_gateway_answers_it(method, path):
    recorder = Recorder()

    response = gateway_with(recorder).request(method, path, headers=USER)

    assert (response.status_code, response.json()) == (403, {"message": "Missing Authentication Token"})
    assert recorder.events == []


def test_the_proxy_response_becomes_the_http_response():
    recorder = Recorder({"statusCode": 303, "headers": {"Location": "/experts/escalations/a/console",
                                                         "Set-Cookie": "one=1", "Content-Type": "text/plain"},
                         "multiValueHeaders": {"Set-Cookie": ["two=2", "three=3"], "Vary": ["Accept"]},
                         "body": base64.b64encode(b"\x00\xffbytes").decode(), "isBase64Encoded": True})

    response = gateway_with(recorder).post("/experts/escalations/a/accept", content=b"\xff\xfe",
                                           follow_redirects=False)

    assert response.status_code == 303 and response.content == b"\x00\xffbytes"
    assert response.headers["location"] == "/experts/escalations/a/console"
    assert response.headers.get_list("set-cookie") == ["two=2", "three=3"]  # multiValueHeaders wins
    assert response.headers["vary"] == "Accept" and response.headers["content-type"] == "text/plain"
    (event,) = recorder.events
    assert (event["body"], event["isBase64Encoded"]) == (base64.b64encode(b"\xff\xfe").decode(), True)


def test_the_routes_are_the_handlers_and_their_authorization_the_templates():
    templates = synthesized()

    chat, experts = local_api("chatbot", templates), local_api("expert_api", templates)

    assert set(chat.routes) == chatbot_handler.app.routes() and set(chat.routes.values()) == {COGNITO}
    assert set(experts.routes) == expert_handler.app.routes()
    # The link pages carry their own signature; the inbox is behind the user pool's authorizer, as deployed.
    assert {route: kind for route, kind in experts.routes.items() if kind == COGNITO} == {
        route: COGNITO for route in expert_handler.app.routes() if route[1].startswith("/inbox/")}
    assert {kind for route, kind in experts.routes.items() if not route[1].startswith("/inbox/")} == {"NONE"}
    assert (chat.stage, chat.memory_mb, chat.timeout_seconds) == ("prod", 1024, 28)
    assert experts.stage == "experts" and api_url("http://127.0.0.1:8000/", experts) == \
        "http://127.0.0.1:8000/experts/"
    ratings = local_api("rating_api", templates)
    assert set(ratings.routes) == rating_handler.app.routes() and set(ratings.routes.values()) == {COGNITO}
    assert ratings.stage == "ratings"


def test_a_route_the_stack_does_not_deploy_stops_the_gateway():
    routes = {("POST", "/chat"), ("DELETE", "/chat/{session_id}")}
    module = SimpleNamespace(app=SimpleNamespace(routes=lambda: routes), handler=Recorder())

    with pytest.raises(ValueError, match="serves DELETE /chat/{session_id}, which TandemChatbot does not deploy"):
        local_api("chatbot", synthesized(), module)  # type: ignore[arg-type]


# Through the real handlers, on the local AWS ------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway(local_aws, local_environment):
    apis = [local_api(function, local_aws.templates) for function in ("chatbot", "expert_api")]
    with TestClient(create_gateway(apis, identity=IDENTITY), base_url=BASE_URL) as client:
        yield client


def test_a_chat_turn_goes_through_the_real_chatbot_into_the_local_table(gateway, local_aws, bedrock):
    bedrock.add_response("converse", converse_text("Click 'Forgot password' on the sign-in page."))

    response = gateway.post("/prod/chat", json={"message": "How do I reset my password?"}, headers=USER)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["reply"], body["escalated"]) == ("Click 'Forgot password' on the sign-in page.", False)
    bedrock.assert_no_pending_responses()
    table = local_aws.client("dynamodb")
    items = table.query(TableName=local_aws.names["sessions_table"], KeyConditionExpression="session_id = :id",
                        ExpressionAttributeValues={":id": {"S": body["session_id"]}})["Items"]
    session = next(i for i in items if i["sk"]["S"] == "SESSION")
    assert session["customer_id"]["S"] == IDENTITY.sub("alice")
    turns = [json.loads(i["body"]["S"]) for i in items if i["sk"]["S"].startswith("TURN#")]
    assert [(t["role"], t["text"]) for t in turns] == [
        ("customer", "How do I reset my password?"), ("bot", "Click 'Forgot password' on the sign-in page.")]

    polled = gateway.get(f"/prod/chat/{body['session_id']}/messages", headers=USER)
    assert polled.status_code == 200
    assert [m["text"] for m in polled.json()["messages"]] == [
        "How do I reset my password?", "Click 'Forgot password' on the sign-in page."]
    # Sessions belong to the signed-in user.
    assert gateway.get(f"/prod/chat/{body['session_id']}/messages",
                       headers=signed_in("mallory")).status_code == 404


def test_an_expert_link_goes_through_the_real_expert_api(gateway):
    response = gateway.get(f"/experts/escalations/{uuid.uuid4()}?session_id={uuid.uuid4()}&exp=9999999999&sig=00")

    assert response.status_code == 403  # the link's signature is checked first
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_the_inbox_goes_through_the_authorizer_then_the_real_expert_api(gateway):
    anonymous = gateway.get("/experts/inbox/escalations")
    customer = gateway.get("/experts/inbox/escalations", headers=USER)
    expert = gateway.get("/experts/inbox/escalations", headers={"Authorization": IDENTITY.sign_in("alice", ["experts"])})

    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthorized"})  # the gateway's answer
    assert customer.status_code == 403 and customer.json()["error"]["field"] == "authorization"  # the function's
    assert expert.status_code == 200 and expert.json()["expert"] == "alice@tandem.localhost"
