"""API Gateway on this machine: HTTP -> a REST proxy event -> the real Lambda handler -> HTTP.

`create_gateway(apis)` is a Starlette app serving each API under its stage, as API Gateway's own endpoint
does (`/prod/chat`, `/experts/escalations/{escalation_id}`, `/ratings/batches`). A request becomes the event API Gateway sends a
proxy integration (tests/events/*.json, docs/AWS-CONTRACTS.md): `resource`, `path` (without the stage,
percent-encoded as sent), `httpMethod`, `headers` and `multiValueHeaders`, `queryStringParameters` and
`multiValueQueryStringParameters`, `pathParameters` (decoded), `requestContext` (stage, requestId,
identity.sourceIp, and authorizer.claims on the methods a Cognito authorizer guards), `body` and
`isBase64Encoded`. The handler runs in a worker thread (it is synchronous), with a Lambda context carrying the
function's memory and time-out from its template; its proxy response (statusCode, headers,
multiValueHeaders, body, isBase64Encoded) becomes the HTTP response.

The route table is each function's own (lambdas/common/http_api.py `HttpApi.routes()`), so it cannot drift
from the handlers; each route's authorization is its method's in the synthesized template. A request no
route takes is answered as API Gateway answers it: 403 `{"message": "Missing Authentication Token"}`.

What stands in for Cognito is local/identity.py `LocalCognito`: a Cognito-guarded method needs an
`Authorization` header with one of its ID tokens, verified as API Gateway's Cognito authorizer verifies a
user pool's, and gets the claims that authorizer passes (`sub`, `email`, `cognito:username`,
`cognito:groups`). The sign-in behind the tokens has no password: the demo binds to 127.0.0.1 only
(docs/local.md).
"""

from __future__ import annotations

import base64
import importlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from local.identity import LocalCognito
from local.lambda_context import lambda_context
from local.resources import ACCOUNT
from local.templates import Templates

# The HTTP functions the local runtime serves, in the order their stages are mounted.
HTTP_FUNCTIONS = ("chatbot", "expert_api", "rating_api")
COGNITO = "COGNITO_USER_POOLS"
API_ID = "local"  # requestContext.apiId (API Gateway's is a generated id)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_PARAMETER = re.compile(r"^\{(\w+)\}$")
# The user pool groups a local user may sign in with (the pool's groups deployed): the inbox's.

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class LocalApi:
    """One REST API: its function's handler and routes, its stage, and each route's authorization."""

    function: str  # lambdas/<function>
    stage: str
    handler: Handler
    routes: dict[tuple[str, str], str]  # (method, resource path) -> authorization type
    memory_mb: int
    timeout_seconds: int
    # One request at a time, as one Lambda execution environment serves them (moto's writes are not atomic
    # across threads either).
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)

    def resource_for(self, method: str, segments: list[str]) -> tuple[str, dict[str, str]] | None:
        """The route taking `method` on these raw path segments, and its path parameters (decoded)."""
        for (route_method, resource), _ in sorted(self.routes.items()):
            parameters = _match(resource, segments)
            if route_method == method and parameters is not None:
                return resource, parameters
        return None


def local_api(function: str, templates: Templates, module: ModuleType | None = None) -> LocalApi:
    """The API serving lambdas/<function>, as its stack deploys it: stage and authorization from the
    template, routes from the handler module's HttpApi (ValueError when one is not deployed)."""
    module = module or importlib.import_module(f"lambdas.{function}.handler")
    definition = templates.function(function)
    api = templates.rest_api(definition.stack)
    routes: dict[tuple[str, str], str] = {}
    for route in sorted(module.app.routes()):
        if route not in api.methods:
            raise ValueError(f"lambdas/{function} serves {' '.join(route)}, which {definition.stack} does not deploy")
        routes[route] = api.methods[route]
    return LocalApi(function=function, stage=api.stage, handler=module.handler, routes=routes,
                    memory_mb=int(definition.properties.get("MemorySize", 128)),
                    timeout_seconds=int(definition.properties.get("Timeout", 3)))


def _match(resource: str, segments: list[str]) -> dict[str, str] | None:
    parts = [p for p in resource.split("/") if p]
    if len(parts) != len(segments):
        return None
    parameters = {}
    for part, segment in zip(parts, segments, strict=True):
        name = _PARAMETER.match(part)
        if name:
            if not segment:
                return None
            parameters[name.group(1)] = unquote(segment)
        elif part != segment:
            return None
    return parameters


def _header_name(name: str) -> str:
    """A header's name as an HTTP/1.1 browser writes it ("content-type" -> "Content-Type"): ASGI servers give
    them in lower case, API Gateway passes them on as the client wrote them."""
    return "-".join(part.capitalize() for part in name.split("-"))


def proxy_event(request: Request, body: bytes, *, api: LocalApi, resource: str, path: str,
                path_parameters: dict[str, str], claims: Mapping[str, str] | None) -> dict[str, Any]:
    """The REST proxy event API Gateway would send for this request (docs/AWS-CONTRACTS.md)."""
    multi_headers: dict[str, list[str]] = {}
    for raw_name, raw_value in request.headers.raw:
        multi_headers.setdefault(_header_name(raw_name.decode("latin-1")), []).append(raw_value.decode("latin-1"))
    client = request.client.host if request.client else "127.0.0.1"
    port = str(request.url.port or 80)
    for name, value in (("X-Forwarded-For", client), ("X-Forwarded-Port", port), ("X-Forwarded-Proto", "http")):
        multi_headers.setdefault(name, [value])
    query = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    multi_query: dict[str, list[str]] = {}
    for name, value in query:
        multi_query.setdefault(name, []).append(value)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    request_context: dict[str, Any] = {
        "resourcePath": resource, "httpMethod": request.method, "path": f"/{api.stage}{path}", "stage": api.stage,
        "requestId": str(uuid.uuid4()), "accountId": ACCOUNT, "apiId": API_ID, "protocol": "HTTP/1.1",
        "requestTimeEpoch": int(time.time() * 1000),
        "identity": {"sourceIp": client, "userAgent": request.headers.get("user-agent")},
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": resource, "path": path, "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {name: values[-1] for name, values in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None, "stageVariables": None,
        "requestContext": request_context,
        "body": text if body else None, "isBase64Encoded": encoded if body else False,
    }


def http_response(result: Mapping[str, Any]) -> Response:
    """The handler's proxy response as HTTP. Where `headers` and `multiValueHeaders` both name a header,
    API Gateway sends the multi-value list alone."""
    multi = {name: list(values) for name, values in (result.get("multiValueHeaders") or {}).items()}
    lower = {name.lower() for name in multi}
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in lower:
            multi[name] = [value]
    body = result.get("body") or ""
    content = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(content=content, status_code=int(result["statusCode"]))
    for name, values in multi.items():
        for value in values:
            response.raw_headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
    return response


def _gateway_error(status: int, message: str) -> Response:
    """API Gateway's own answer (not the function's): a JSON `message`."""
    return Response(json.dumps({"message": message}), status_code=status,
                    headers={"Content-Type": "application/json", "X-Amzn-ErrorType": "ForbiddenException"
                             if status == 403 else "UnauthorizedException"})


def create_gateway(apis: Sequence[LocalApi], *, identity: LocalCognito) -> Starlette:
    """A Starlette app serving every API under /<stage>/ (each stage names one API)."""
    by_stage = {api.stage: api for api in apis}
    if len(by_stage) != len(apis):
        raise ValueError("two APIs share a stage")

    async def invoke(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
        stage, _, rest = raw_path.decode("latin-1").lstrip("/").partition("/")
        api = by_stage.get(stage)
        path = "/" + rest
        found = api.resource_for(request.method, [s for s in rest.split("/")] if rest else []) if api else None
        if api is None or found is None:
            return _gateway_error(403, "Missing Authentication Token")
        resource, parameters = found
        claims = None
        if api.routes[(request.method, resource)] == COGNITO:
            claims = await run_in_threadpool(identity.authorizer_claims, request.headers.get("authorization"))
            if claims is None:
                return _gateway_error(401, "Unauthorized")
        event = proxy_event(request, await request.body(), api=api, resource=resource, path=path,
                            path_parameters=parameters, claims=claims)
        context = lambda_context(f"tandem-{api.function.replace('_', '-')}", memory_mb=api.memory_mb,
                                 remaining_ms=api.timeout_seconds * 1000, request_id=str(uuid.uuid4()))

        def call() -> dict[str, Any]:
            with api.lock:
                return api.handler(event, context)

        return http_response(await run_in_threadpool(call))

    return Starlette(routes=[Route("/{path:path}", invoke, methods=METHODS)])


def api_url(base_url: str, api: LocalApi) -> str:
    """The API's URL as its RestApi.url gives it: the base, the stage, a slash ("http://127.0.0.1:8000/experts/")."""
    return f"{base_url.rstrip('/')}/{api.stage}/"
