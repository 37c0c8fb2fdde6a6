"""LiveStack: the WebSocket API authorized at $connect by the ID token, its stage's limits and access log, the
connections table, and who may do what with them (the pusher lives in the outbox stack)."""

from __future__ import annotations

import json

import pytest

from tests.stacks.conftest import as_list, statement, statements


@pytest.fixture(scope="module")
def live(make_template):
    return make_template("live")


@pytest.fixture(scope="module")
def outbox(make_template):
    return make_template("outbox")


def function(template, name: str) -> tuple[str, dict]:
    (found,) = [(k, f["Properties"]) for k, f in template.find_resources("AWS::Lambda::Function").items()
                if f["Properties"]["Handler"] == f"lambdas.{name}.handler.handler"]
    return found


def test_only_connect_is_authorized_by_the_token_offered_as_a_subprotocol(live):
    (authorizer,) = live.find_resources("AWS::ApiGatewayV2::Authorizer").values()
    props = authorizer["Properties"]
    assert props["AuthorizerType"] == "REQUEST"
    assert props["IdentitySource"] == ["route.request.header.Sec-WebSocket-Protocol"]
    authorizer_id = next(iter(live.find_resources("AWS::ApiGatewayV2::Authorizer")))
    routes = {r["Properties"]["RouteKey"]: r["Properties"] for r in live.find_resources("AWS::ApiGatewayV2::Route").values()}
    assert set(routes) == {"$connect", "$disconnect", "$default"}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    assert routes["$disconnect"].get("AuthorizationType", "NONE") == "NONE"


def test_the_authorizer_trusts_the_customers_pool_and_its_client(live):
    _, authorizer = function(live, "socket_authorizer")
    env = authorizer["Environment"]["Variables"]
    issuer = json.dumps(env["TOKEN_ISSUER"])
    assert "cognito-idp." in issuer and "TandemChatbot" in issuer  # the pool of ChatbotStack
    assert "TandemChatbot" in json.dumps(env["TOKEN_AUDIENCES"])


def test_the_stage_is_throttled_and_logs_access_without_headers(live):
    (stage,) = live.find_resources("AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == "live" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    log_format = props["AccessLogSettings"]["Format"]
    assert "$context.connectionId" in log_format and "$context.routeKey" in log_format
    assert "header" not in log_format.lower() and "Sec-WebSocket" not in log_format  # the token travels there


def test_connections_expire_and_are_found_by_listener_and_by_room(live):
    (table,) = live.find_resources("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "connection_id", "KeyType": "HASH"}]
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert {i: indexes[i]["KeySchema"][0]["AttributeName"] for i in indexes} == {"by-listener": "listener",
                                                                              "by-room": "room"}
    assert all(i["Projection"]["NonKeyAttributes"] == ["expires_at"] for i in indexes.values())
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_the_connection_handler_may_only_add_and_remove_connections(live):
    grant = statement(live, "AddAndRemoveConnections")
    assert sorted(as_list(grant["Action"])) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    assert len(as_list(grant["Resource"])) == 1 and "index" not in json.dumps(grant["Resource"])
    actions = {a for s in statements(live) for a in as_list(s["Action"])}
    assert not any(a.startswith("execute-api:") for a in actions)  # nothing here pushes


def test_the_pusher_may_post_to_this_stage_only_and_find_and_forget_connections(outbox):
    post = statement(outbox, "PostToConnections")
    assert as_list(post["Action"]) == ["execute-api:ManageConnections"]
    resource = json.dumps(post["Resource"])
    assert "TandemLive-LiveApiId" in resource and "/live/POST/@connections/*" in resource
    table = statement(outbox, "FindAndForgetConnections")
    assert sorted(as_list(table["Action"])) == ["dynamodb:DeleteItem", "dynamodb:Query"]
    (function_,) = [f["Properties"] for f in outbox.find_resources("AWS::Lambda::Function").values()
                    if f["Properties"]["Handler"] == "lambdas.stream_consumer.handler.handler"]
    env = function_["Environment"]["Variables"]
    assert env["LIVE_ENDPOINT"] == {"Fn::ImportValue": "TandemLive-LiveManagementUrl"}
    assert env["CONNECTIONS_TABLE"] == {"Fn::ImportValue": "TandemLive-ConnectionsTableName"}
