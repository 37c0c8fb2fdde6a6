"""How a Tandem HTTP function (API Gateway REST, Lambda proxy integration) routes requests and answers errors.

Every HTTP function is written the same way: routes are functions, errors are exceptions, and one table
per API says how each exception is answered.

    app = HttpApi(logger=logger, metrics=metrics, render=render, errors={
        ThingNotFound: lambda _: Problem(404, "thing_id", "There is no such thing.", log="no such thing"),
    })

    @app.get("/things/<thing_id>")
    def thing(thing_id: str) -> Response:
        return json_response(200, {...})

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event, context):
        return app.resolve(event, context)

`HttpApi` is Powertools' APIGatewayRestResolver with what every Tandem API needs on top:
- A refused or failed request is answered in one place: the exception a route raises becomes a `Problem`
  (status, field, message, and the log line and metric it is recorded with), and `render` turns it into
  the API's error response (JSON, or an HTML page for a browser). A RequestError is answered with its own
  status and field in every API.
- A known path asked with another method is a 405 with an Allow header (the resolver alone answers 404); an
  unknown path is a 404. Both in the API's error format.
- Responses carry one value per header, in `headers` (API Gateway REST takes `headers` or
  `multiValueHeaders`; the resolver writes the second).
- Never debug mode: under POWERTOOLS_DEV the resolver prints whole events, bodies and signed query strings
  included. No compression, the resolver's default.
- CORS: the web app is served from its own origin (CloudFront), so an answer to a request from that origin,
  and only that one, names it in Access-Control-Allow-Origin (`allow_origin`, from the function's SITE_URL
  setting). API Gateway answers the preflight itself (stacks/constructs/rest_api.py).

Routes match the event's `path`. On API Gateway's own endpoint that is the path without the stage
(requestContext.stage); a custom domain's base-path mapping would be part of it and need `strip_prefixes`.
Bodies are read from the event as API Gateway sent them (`current_event.raw_event`) by
lambdas/common/request_body.py, the same way in every API: a malformed body, or a field the request does
not take, is a RequestError. Logs hold ids and outcomes only, never a body, a query string
or a token: the resolver's own log lines name the path and its parameters alone.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any, Callable, Literal, Mapping, cast
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

from lambdas.common.request_errors import RequestError

JSON = "application/json"
_PARAMETER = re.compile(r"<(\w+)>")  # a route's path parameter, "<thing_id>"


@dataclasses.dataclass(frozen=True)
class Problem:
    """How a refused or failed request is answered, and how the function records it."""

    status: int
    field: str | None
    message: str
    title: str = "This did not work"  # the heading of an HTML error page
    page_message: str | None = None  # the text of an HTML error page, when it differs from `message`
    log: str | None = None  # the log line's message; None logs nothing
    level: Literal["info", "warning", "error", "exception"] = "info"  # "exception" adds the traceback
    metric: str | None = None  # a CloudWatch count of these
    # More log fields: ids, codes, outcomes; never a request's text.
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # More fields of the JSON answer's error, for a script to act on (who holds what the request wanted).
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"error": {**self.extra, "field": self.field, "message": self.message}}


# An exception class, or a tuple of classes answered alike, and how to answer it.
Errors = Mapping[type[Exception] | tuple[type[Exception], ...], Callable[[Any], Problem]]


def request_rejected(error: RequestError) -> Problem:
    """A field the request got wrong, named in the answer."""
    return Problem(error.status, error.field, error.message, page_message=f"{error.field} {error.message}",
                   log="request rejected", details={"field": error.field})


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, JSON, json.dumps(body, ensure_ascii=False), dict(headers or {}))


class HttpApi(APIGatewayRestResolver):
    def __init__(self, *, logger: Logger, metrics: Metrics, render: Callable[[Problem], Response],
                 errors: Errors, log_fields: Callable[[], Mapping[str, Any]] = dict) -> None:
        """`render` shapes every error response; `errors` maps each exception class a route may raise to its
        Problem (a subclass is answered as its closest listed class); `log_fields` are added to each
        problem's log line (e.g. the id the path names)."""
        self._requests = threading.local()  # before the resolver's __init__, which sets `context`
        super().__init__(debug=False)
        self._logger = logger
        self._metrics = metrics
        self._render = render
        self._log_fields = log_fields
        self._web_origin = ""
        for kind, describe in {RequestError: request_rejected, **errors}.items():
            self.exception_handler(list(kind) if isinstance(kind, tuple) else kind)(self._answering(describe))
        self.not_found(self._no_route)

    # The resolver keeps the request being resolved (its event, its route and arguments) on the class and the
    # instance: one Lambda invocation at a time never notices, but the tests (two experts clicking at once)
    # and a local server resolve requests on several threads. Here each thread has its own.

    @property
    def current_event(self) -> APIGatewayProxyEvent:
        event: APIGatewayProxyEvent = self._requests.event
        return event

    @current_event.setter
    def current_event(self, event: BaseProxyEvent) -> None:
        self._requests.event = event

    @property
    def context(self) -> dict[str, Any]:
        if not hasattr(self._requests, "context"):
            self._requests.context = {}
        found: dict[str, Any] = self._requests.context
        return found

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._requests.context = value

    def allow_origin(self, site_url: str) -> None:
        """The web app's address, whose pages (its origin) may read this API's answers ("" for none)."""
        parts = urlsplit(site_url)
        self._web_origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        self.current_event = APIGatewayProxyEvent(cast(dict[str, Any], event))
        response = super().resolve(event, context)
        response["headers"] = {name: ", ".join(values)
                               for name, values in response.pop("multiValueHeaders", {}).items()}
        origin = next((v for k, v in (event.get("headers") or {}).items() if k.lower() == "origin"), None)
        if self._web_origin:
            response["headers"]["Vary"] = "Origin"
            if origin == self._web_origin:
                response["headers"]["Access-Control-Allow-Origin"] = origin
        return response

    def problem(self, problem: Problem) -> Response:
        """Records the problem (log line, metric) and renders its response."""
        if problem.metric:
            self._metrics.add_metric(name=problem.metric, unit="Count", value=1)
        if problem.log:
            getattr(self._logger, problem.level)(problem.log, extra={
                **self._log_fields(), "status": problem.status, **problem.details})
        return self._render(problem)

    def _answering(self, describe: Callable[[Any], Problem]) -> Callable[[Exception], Response]:
        return lambda error: self.problem(describe(error))

    def routes(self) -> set[tuple[str, str]]:
        """(method, path) of every route, the path as API Gateway names its resources ("/things/{thing_id}"):
        the methods the function's API must have, no more and no fewer (tests/stacks check it)."""
        return {(route.method, _PARAMETER.sub(r"{\1}", route.path))
                for route in self._static_routes + self._dynamic_routes}

    def _allowed_methods(self, path: str) -> list[str]:
        """The methods routed for `path`, by the resolver's own route tables and matching."""
        routes = self._static_routes + self._dynamic_routes
        return sorted({route.method for route in routes if route.rule.match(path)})

    def _no_route(self, _: NotFoundError) -> Response:
        allowed = self._allowed_methods(self.current_event.path)
        if not allowed:
            return self.problem(Problem(404, None, "no such page"))
        response = self.problem(Problem(405, None, f"use {' or '.join(allowed)}"))
        response.headers["Allow"] = ", ".join(allowed)
        return response


__all__ = ["JSON", "Errors", "HttpApi", "Problem", "Response", "json_response", "request_rejected"]
