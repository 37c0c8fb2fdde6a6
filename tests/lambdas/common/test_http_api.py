"""The routing every HTTP function shares (lambdas/common/http_api.py), on a small API of its own: 404 and 405,
exceptions answered through one table, one value per header, each thread its own request, and no event
printed whatever the environment says."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools import Logger, Metrics

from lambdas.common.http_api import HttpApi, Problem, Response, json_response
from lambdas.common.request_errors import RequestError
from local.lambda_context import lambda_context
from testing.log_capture import captured

SIGNATURE = "3f1c0e6b9a2d4c5e8f7a6b5c4d3e2f1a"


class Missing(LookupError):
    pass


class Gone(Missing):
    """Answered as its closest listed class, Missing."""


class Busy(RuntimeError):
    pass


class Throttled(RuntimeError):
    pass


def make_api() -> tuple[HttpApi, Logger, Metrics]:
    logger, metrics = Logger(service="http-api-test"), Metrics(namespace="Test", service="http-api-test")

    def render(problem: Problem) -> Response:
        return json_response(problem.status, problem.body(), {"Cache-Control": "no-store"})

    api = HttpApi(logger=logger, metrics=metrics, render=render, log_fields=lambda: {"thing": "t-1"}, errors={
        Missing: lambda _: Problem(404, "thing_id", "There is no such thing.", log="no such thing"),
        (Busy, Throttled): lambda error: Problem(503, None, "Try again.", log="busy", level="warning",
                                                 metric="BusyAnswers", details={"error": type(error).__name__}),
    })
    raising = {"missing": Missing(), "gone": Gone(), "busy": Busy(), "throttled": Throttled(),
               "bad": RequestError("colour", "must be red or blue"), "bug": KeyError("x")}

    @api.get("/things/<thing_id>")
    def thing(thing_id: str) -> Response:
        if thing_id in raising:
            raise raising[thing_id]
        return json_response(200, {"thing_id": thing_id, "query": api.current_event.query_string_parameters})

    @api.post("/things/<thing_id>")
    def change(thing_id: str) -> Response:
        return json_response(200, {"changed": thing_id})

    @api.put("/things/<thing_id>/colour")
    def paint(thing_id: str) -> Response:
        return json_response(200, {"painted": thing_id})

    return api, logger, metrics


def event(method: str, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """What API Gateway (REST) sends for a request to the prod stage."""
    return {"resource": "/things/{thing_id}", "path": path, "httpMethod": method,
            "headers": {"Accept": "application/json"}, "multiValueHeaders": {"Accept": ["application/json"]},
            "queryStringParameters": query, "multiValueQueryStringParameters": None, "pathParameters": None,
            "stageVariables": None, "body": None, "isBase64Encoded": False,
            "requestContext": {"httpMethod": method, "path": f"/prod{path}", "stage": "prod", "requestId": "r-1"}}


def call(api: HttpApi, method: str, path: str, query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    response = api.resolve(event(method, path, query), lambda_context("http-api-test"))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture
def api() -> HttpApi:
    return make_api()[0]


def test_the_routes_are_named_as_api_gateway_names_its_methods(api):
    assert api.routes() == {("GET", "/things/{thing_id}"), ("POST", "/things/{thing_id}"),
                            ("PUT", "/things/{thing_id}/colour")}


def test_a_route_answers_with_its_path_argument(api):
    assert call(api, "GET", "/things/t-1") == (200, {"thing_id": "t-1", "query": {}})
    assert call(api, "POST", "/things/t-1") == (200, {"changed": "t-1"})


def test_a_known_path_with_another_method_is_a_405_naming_the_methods_in_the_allow_header(api):
    response = api.resolve(event("DELETE", "/things/t-1"), lambda_context("http-api-test"))

    assert response["statusCode"] == 405
    assert response["headers"]["Allow"] == "GET, POST"
    assert json.loads(response["body"]) == {"error": {"field": None, "message": "use GET or POST"}}
    assert response["headers"]["Cache-Control"] == "no-store"  # the API's own error format


def test_an_unknown_path_is_a_404_in_the_apis_error_format(api):
    response = api.resolve(event("GET", "/nothing/here"), lambda_context("http-api-test"))

    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"error": {"field": None, "message": "no such page"}}
    assert "Allow" not in response["headers"]


def test_headers_have_one_value_each():
    api, _, _ = make_api()

    response = api.resolve(event("PATCH", "/things/t-1"), lambda_context("http-api-test"))

    assert response["headers"] == {"Content-Type": "application/json", "Cache-Control": "no-store",
                                   "Allow": "GET, POST"}
    assert "multiValueHeaders" not in response


@pytest.mark.parametrize("thing_id, status, field", [
    ("bad", 400, "colour"),  # a RequestError, in every API, with its own status and field
    ("missing", 404, "thing_id"),
    ("gone", 404, "thing_id"),  # a subclass: its closest listed class
    ("busy", 503, None),
    ("throttled", 503, None),  # listed together with Busy
])
def test_each_exception_is_answered_as_its_table_says(api, thing_id, status, field):
    code, body = call(api, "GET", f"/things/{thing_id}")

    assert (code, body["error"]["field"]) == (status, field)


def test_a_problem_is_logged_with_the_apis_fields_and_counted():
    api, logger, metrics = make_api()
    metrics.clear_metrics()

    with captured(logger) as logs:
        call(api, "GET", "/things/busy")
        call(api, "GET", "/things/bad")

    (busy,) = logs.entries("busy")
    assert (busy["level"], busy["thing"], busy["status"], busy["error"]) == ("WARNING", "t-1", 503, "Busy")
    (rejected,) = logs.entries("request rejected")
    assert (rejected["field"], rejected["status"]) == ("colour", 400)
    assert metrics.metric_set["BusyAnswers"]["Value"] == [1.0]
    metrics.clear_metrics()


def test_an_exception_the_table_does_not_list_is_raised_to_lambda(api):
    with pytest.raises(KeyError):
        call(api, "GET", "/things/bug")


def test_the_event_is_never_printed_even_in_powertools_dev_mode(monkeypatch, capsys):
    monkeypatch.setenv("POWERTOOLS_DEV", "true")
    api, _, _ = make_api()  # the resolver reads the variable when it is built

    assert call(api, "GET", "/things/t-1", {"sig": SIGNATURE})[0] == 200
    assert call(api, "DELETE", "/things/t-1", {"sig": SIGNATURE})[0] == 405

    printed = capsys.readouterr()
    assert SIGNATURE not in printed.out + printed.err


def test_requests_resolved_on_two_threads_at_once_each_see_their_own():
    api, _, _ = make_api()
    both_inside = threading.Barrier(2)

    @api.get("/slow/<thing_id>")
    def slow(thing_id: str) -> Response:
        seen_before = api.current_event.query_string_parameters["who"]
        both_inside.wait(timeout=10)  # the other request has begun and set its own event by now
        seen_after = api.current_event.query_string_parameters["who"]
        return json_response(200, {"thing_id": thing_id, "who": [seen_before, seen_after]})

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda who: call(api, "GET", f"/slow/{who}-thing", {"who": who}), ["ann", "bob"]))

    assert answers == [(200, {"thing_id": "ann-thing", "who": ["ann", "ann"]}),
                       (200, {"thing_id": "bob-thing", "who": ["bob", "bob"]})]


def from_origin(api: HttpApi, origin: str | None, path: str = "/things/t-1") -> dict[str, str]:
    request = event("GET", path)
    if origin is not None:
        request["headers"]["Origin"] = origin
        request["multiValueHeaders"]["Origin"] = [origin]
    return api.resolve(request, lambda_context("http-api-test"))["headers"]


def test_only_the_web_apps_origin_may_read_an_answer(api):
    assert "Access-Control-Allow-Origin" not in from_origin(api, "https://site.example")  # none configured
    api.allow_origin("https://site.example/")  # the web app's address: its origin is what a browser sends
    assert from_origin(api, "https://site.example")["Access-Control-Allow-Origin"] == "https://site.example"
    assert from_origin(api, "https://site.example", "/nowhere")["Access-Control-Allow-Origin"] == \
        "https://site.example"  # refusals too: the page can read why
    for other in ("https://evil.example", "https://site.example.evil.example", None):
        headers = from_origin(api, other)
        assert "Access-Control-Allow-Origin" not in headers and headers["Vary"] == "Origin"
