"""All of Tandem on one machine: `make demo` (python -m local).

One process, one socket on 127.0.0.1:
- the local AWS (local/aws.py): moto's server with every resource of the synthesized templates and both
  workflows executed;
- the real handlers behind the local API Gateway (local/gateway.py): the chat API under /prod/, the expert
  API under /experts/, the rating API under /ratings/;
- the event sources (local/pollers.py) and the mailbox (local/mailbox.py) in threads;
- the web app (web/): the customer's chat at /, the experts' inbox at /inbox, the raters' console at /rate, the
  mailbox at /mailbox, what each part did at /behind-the-scenes, the demo's read-only JSON under /local/api/,
  POST /local/api/sample, which runs the feedback sampler now (local/sampling.py), and POST /local/api/training,
  which runs the fine-tuning pipeline on the demo's ratings (local/finetuning.py: the real dataset, training
  and gate code on a tiny simulated model, with a stand-in judge), its status and report under the same path.

Answers come from the offline stand-in (local/answer_model.py) unless `model="bedrock"`: then Bedrock
answers, with the user's own AWS credentials, and only Bedrock is real. The gate reads sentiment with VADER
(offline). Masking personal data in exported knowledge needs Comprehend, which moto only imitates: it is off
here, and the page says so.

    demo = Demo(DemoOptions(port=8000)).start()   # returns once the first request can be served
    print(demo.urls)
    demo.stop()
"""

from __future__ import annotations

import contextlib
import html
import importlib
import logging
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lambdas.common import clients
from lambdas.common.startup import reset_handlers
from local import answer_model, inspector, sampling
from local.aws import FUNCTIONS, HOST, LiveEndpoints, LocalAws, environment_applied, start_local_aws
from local.cdk_app import ROOT
from local.finetuning import SIMULATION_NOTE, AlreadyRunning, FineTuningRuns
from local.gateway import HTTP_FUNCTIONS, LocalApi, api_url, create_gateway, local_api
from local.identity import ISSUER_PATH, LocalCognito, SignInRefused
from local.live import LocalLiveApi
from local.mailbox import LocalMailbox
from local.pollers import Pollers, start_pollers
from stacks.live_stack import STAGE as LIVE_STAGE

logger = logging.getLogger("tandem.local.demo")
WEB = ROOT / "web"
MODELS = ("offline", "bedrock")
# What the demo changes from cdk.json's configuration, and why (the page at /behind-the-scenes lists them).
DEMO_CONFIG = {
    "sentiment_detector": "vader",  # offline; Comprehend is not reachable without an account
    "knowledge_export_redact_pii": False,  # masking needs Comprehend's DetectPiiEntities, which moto fakes
}
# The terminal shows each function's log lines as CloudWatch Logs would hold them; the metrics, which
# CloudWatch would read from the same lines, are left out of it (all but Powertools' own cold-start line).
DEMO_ENVIRONMENT = {"POWERTOOLS_METRICS_DISABLED": "true"}
CUSTOMER_POLL_MS = 1500  # how often the customer's page asks for new messages while the live channel is down
# The web pages' policy: scripts and styles from this origin only, nothing inline, no framing; the live
# channel's socket on this origin (connect-src 'self' covers ws: only in newer browsers, so it is named).
WEB_SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "connect-src 'self' {live_origin}; form-action 'self'; frame-ancestors 'none'; "
                                "base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# The gate's report.html carries its own policy in a <meta> tag (an inline style by hash); served here, the same
# policy is sent as the header, with no framing.
_REPORT_POLICY = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">')
PAGES = {"/": "index.html", "/inbox": "inbox.html", "/rate": "rate.html", "/mailbox": "mailbox.html",
         "/behind-the-scenes": "behind-the-scenes.html"}


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000  # 0: any free port
    model: str = "offline"
    # The workflow's wait for an expert to accept, when shorter than the configured minutes: to see the busy
    # notice without waiting a quarter of an hour.
    accept_wait_seconds: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # configuration keys, as `cdk synth -c key=value`

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {', '.join(MODELS)}, not {self.model!r}")
        if self.accept_wait_seconds is not None and not 1 <= self.accept_wait_seconds <= 86400:
            raise ValueError("accept_wait_seconds must be between 1 and 86400")


def bind(port: int) -> socket.socket:
    """The demo's one socket, bound before anything starts: the expert links need its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {HOST}:{port} ({error.strerror}); is a demo already running? "
                      "`make demo PORT=8001` picks another port") from None
    sock.listen(128)
    return sock


def real_bedrock_client(region: str | None) -> Any:
    """A bedrock-runtime client with the user's own credentials and AWS's endpoint, made before the local
    environment (dummy credentials, the local endpoint) is applied to this process."""
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or "us-east-1")
    if session.get_credentials() is None:
        raise RuntimeError("MODEL=bedrock needs AWS credentials (a profile, or AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY) with access to the configured model")
    endpoint = f"https://bedrock-runtime.{session.region_name}.amazonaws.com"
    return session.client("bedrock-runtime", endpoint_url=endpoint)


class _SecurityHeaders(BaseHTTPMiddleware):
    """The web pages' headers on everything the demo itself serves; the APIs answer with their handlers' own."""

    def __init__(self, app: Any, api_stages: tuple[str, ...]):
        super().__init__(app)
        self.api_prefixes = tuple(f"/{stage}/" for stage in api_stages)

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(self.api_prefixes):
            for name, value in WEB_SECURITY_HEADERS.items():
                response.headers.setdefault(name, value.replace("{live_origin}", f"ws://{request.url.netloc}"))
        return response


class _OnlyThisMachine(BaseHTTPMiddleware):
    """Answers only requests addressed to 127.0.0.1. Binding to it keeps other machines out; checking the Host
    keeps out another site's page whose name was made to point at 127.0.0.1 (DNS rebinding), which could
    otherwise read the mailbox's signed links and every conversation. `localhost` is sent to 127.0.0.1, the
    one origin the pages and the mailed links use."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = (request.headers.get("host") or "").lower()
        name, _, port = host.rpartition(":") if not host.endswith("]") else (host, "", "")
        if name == HOST:
            return await call_next(request)
        if name == "localhost" and request.method in ("GET", "HEAD"):
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"http://{HOST}:{port}{request.url.path}{query}", status_code=307)
        return Response(f"Tandem's demo answers only at http://{HOST}:{port or '<port>'}/\n", status_code=421,
                        media_type="text/plain")


class Demo:
    def __init__(self, options: DemoOptions | None = None):
        self.options = options or DemoOptions()
        self.aws: LocalAws | None = None
        self.pollers: Pollers | None = None
        self.mailbox: LocalMailbox | None = None
        self.apis: dict[str, LocalApi] = {}
        self.identity: LocalCognito | None = None
        self.training: FineTuningRuns | None = None
        self.live = LocalLiveApi()
        self.base_url = ""
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._exit = contextlib.ExitStack()
        self.started_in_seconds: float | None = None

    # start-up ---------------------------------------------------------------------------------------

    def start(self) -> Demo:
        began = time.perf_counter()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started_in_seconds = time.perf_counter() - began
        return self

    def _start(self) -> None:
        options = self.options
        self._socket = bind(options.port)
        self.base_url = f"http://{HOST}:{self._socket.getsockname()[1]}"
        bedrock = real_bedrock_client(None) if options.model == "bedrock" else None
        overrides = {**DEMO_CONFIG, **options.overrides}
        self.aws = start_local_aws(accept_wait_seconds=options.accept_wait_seconds, **overrides)
        self._exit.callback(self.aws.stop)
        templates = self.aws.templates
        expert_stage = templates.rest_api(templates.function("expert_api").stack).stage
        self.identity = LocalCognito(issuer=f"{self.base_url}{ISSUER_PATH}")
        self.live.origin = self.base_url
        live = LiveEndpoints(management_url=f"{self.base_url}/{LIVE_STAGE}", token_issuer=self.identity.issuer,
                             client_id=self.identity.client_id)
        environment = {**self.aws.process_environment(expert_api_url=f"{self.base_url}/{expert_stage}/", live=live,
                                                      site_url=self.base_url),
                       **DEMO_ENVIRONMENT}
        self._exit.enter_context(environment_applied(environment))
        self._exit.callback(self._forget_handlers)
        self._forget_handlers()
        self._import_handlers()
        self.apis = {function: local_api(function, templates) for function in HTTP_FUNCTIONS}
        self._use_answer_model(bedrock)
        self.mailbox = LocalMailbox(self.aws).start()
        self._exit.callback(self.mailbox.stop)
        self.pollers = start_pollers(self.aws)
        self._exit.callback(self.pollers.stop)
        self.training = FineTuningRuns(self.aws)
        self._exit.callback(self.training.stop)  # before the local AWS stops: a run's job process ends first
        self._serve()

    def _import_handlers(self) -> None:
        """Each handler module imported under its own function's service name, once the environment is there: a
        Powertools logger reads its name at import, and loggers of one name share the keys that say which
        function logs (a log line of the worker would otherwise name the stream consumer)."""
        assert self.aws is not None
        for function in FUNCTIONS:
            service = self.aws.function_environment(function, expert_api_url="")["POWERTOOLS_SERVICE_NAME"]
            with environment_applied({"POWERTOOLS_SERVICE_NAME": service}):
                importlib.import_module(f"lambdas.{function}.handler")

    @staticmethod
    def _forget_handlers() -> None:
        clients.reset()
        reset_handlers()

    def _use_answer_model(self, bedrock: Any) -> None:
        """The chatbot answers from the sample help pages: with the offline stand-in, or with Bedrock."""
        from lambdas.chatbot import handler as chatbot

        deployed = chatbot.dependencies
        self._exit.callback(setattr, chatbot, "dependencies", deployed)  # the process gets the module back as it was
        if bedrock is not None:
            clients.set_client("bedrock-runtime", bedrock)
            chatbot.dependencies = answer_model.bedrock_dependencies()
        else:
            chatbot.dependencies = answer_model.offline_dependencies()
        chatbot.dependencies.get()  # built now, so the first question does not wait for it

    def _serve(self) -> None:
        app = self.web_app()
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        server = self._server = uvicorn.Server(config)
        assert self._socket is not None
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self._socket]}, name="demo-http",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the demo's HTTP server did not start")
            time.sleep(0.01)

    # the demo's own routes ------------------------------------------------------------------------

    def web_app(self) -> Starlette:
        assert self.identity is not None
        gateway = create_gateway(list(self.apis.values()), identity=self.identity)
        pages = [Route(path, self._page(name), methods=["GET", "HEAD"]) for path, name in PAGES.items()]
        return Starlette(
            routes=[*pages,
                    Route("/config.json", self._config, methods=["GET"]),
                    Route(f"{ISSUER_PATH}/.well-known/jwks.json", self._jwks, methods=["GET"]),
                    Route(f"{ISSUER_PATH}/sign-in", self._sign_in, methods=["POST"]),
                    *self.live.routes(),
                    Route("/local/api/state", self._state, methods=["GET"]),
                    Route("/local/api/mailbox", self._mails, methods=["GET"]),
                    Route("/local/api/transcript", self._transcript, methods=["GET"]),
                    Route("/local/api/sample", self._sample, methods=["POST"]),
                    Route("/local/api/training", self._training_status, methods=["GET"]),
                    Route("/local/api/training", self._start_training, methods=["POST"]),
                    Route("/local/api/training/report", self._training_report, methods=["GET"]),
                    Route("/index.html", lambda _: RedirectResponse("/", 308)),
                    # Browsers ask for it on every page; there is no icon, and "none" is not an error.
                    Route("/favicon.ico", lambda _: Response(status_code=204)),
                    Mount("/assets", StaticFiles(directory=WEB / "assets")),
                    Mount("/", gateway)],
            middleware=[Middleware(_OnlyThisMachine),
                        Middleware(_SecurityHeaders, api_stages=tuple(api.stage for api in self.apis.values()))])

    @staticmethod
    def _page(name: str) -> Any:
        path = WEB / name

        async def page(_: Request) -> Response:
            return FileResponse(path, media_type="text/html; charset=utf-8")
        return page

    def client_config(self) -> dict[str, Any]:
        """What the web app reads at start (deployed, the web stack writes the same file)."""
        assert self.aws is not None
        settings = self.aws.config
        return {
            "auth": {"kind": "local", "signInUrl": f"{ISSUER_PATH}/sign-in",
                     "note": "Local sign-in: no password, this machine only. Deployed, customers, experts and "
                             "raters sign in with Amazon Cognito."},
            "chatApiUrl": api_url("", self.apis["chatbot"]),
            "expertApiUrl": api_url("", self.apis["expert_api"]),
            "ratingApiUrl": api_url("", self.apis["rating_api"]),
            "liveUrl": f"{self.base_url.replace('http://', 'ws://')}/{LIVE_STAGE}",
            "pollIntervalMs": CUSTOMER_POLL_MS,
            "maxMessageChars": settings.max_message_chars,
            "model": {"id": answer_model.MODEL_ID if self.options.model == "offline" else settings.model_id,
                      "standIn": self.options.model == "offline",
                      "note": answer_model.STAND_IN_NOTE if self.options.model == "offline" else
                      "Answers come from Amazon Bedrock with your AWS credentials."},
            "local": True,
        }

    async def _config(self, _: Request) -> Response:
        return JSONResponse(self.client_config())

    async def _jwks(self, _: Request) -> Response:
        assert self.identity is not None
        return JSONResponse(self.identity.jwks())

    async def _sign_in(self, request: Request) -> Response:
        """The local sign-in (simulated Cognito): a name, and the groups to be in, give an ID token."""
        assert self.identity is not None
        try:
            body = await request.json()
            token = self.identity.sign_in(body.get("name"), body.get("groups") or [])
        except (ValueError, AttributeError, TypeError) as error:
            message = str(error) if isinstance(error, SignInRefused) else "body: a JSON object {name, groups}"
            return JSONResponse({"error": {"message": message}}, status_code=400)
        return JSONResponse({"idToken": token, "simulated": True})

    async def _state(self, _: Request) -> Response:
        assert self.aws is not None and self.mailbox is not None
        state = await run_in_threadpool(inspector.snapshot, self.aws, self.mailbox)
        state["demo"] = {"config_changes": DEMO_CONFIG | self.options.overrides, "model": self.options.model,
                         "accept_wait_seconds": self.options.accept_wait_seconds
                         or self.aws.config.accept_timeout_minutes * 60}
        return JSONResponse(state)

    async def _mails(self, _: Request) -> Response:
        assert self.mailbox is not None
        return JSONResponse({"mails": [mail.to_dict() for mail in self.mailbox.mails()],
                             "note": "A stand-in for email: nothing leaves this machine."})

    async def _transcript(self, request: Request) -> Response:
        assert self.aws is not None
        key = request.query_params.get("key", "")
        try:
            return JSONResponse(await run_in_threadpool(inspector.transcript, self.aws, key))
        except KeyError:
            return JSONResponse({"message": f"no transcript with the key {key[:200]!r}"}, status_code=404)

    async def _sample(self, _: Request) -> Response:
        """The feedback sampler, run now (local/sampling.py): the raters' console gets a batch to rate, and the
        experts' answers of the escalations resolved since wait for a rating admin's review."""
        assert self.aws is not None
        summary = await run_in_threadpool(sampling.take_sample, self.aws)
        return JSONResponse({key: summary.get(key) for key in (
            "rating_batch", "rating_items", "items", "candidates", "skipped_already_rated", "reason",
            "expert_answers", "expert_answers_queued", "expert_answers_already_queued")})

    async def _start_training(self, _: Request) -> Response:
        """The fine-tuning pipeline on the demo's ratings (local/finetuning.py), started in the background; one
        run at a time (409 while one is going)."""
        assert self.training is not None
        try:
            run_id = self.training.start()
        except AlreadyRunning as error:
            return JSONResponse({"error": {"message": str(error)}}, status_code=409)
        return JSONResponse({"run_id": run_id, "state": "running"}, status_code=202)

    async def _training_status(self, _: Request) -> Response:
        assert self.training is not None
        return JSONResponse(self.training.status())

    async def _training_report(self, request: Request) -> Response:
        """The gate's report.html of the run, as the gate wrote it, under a banner that says it is a simulation."""
        assert self.training is not None
        run_id = request.query_params.get("run", "")
        page = await run_in_threadpool(self.training.report_page, run_id)
        if page is None:
            return JSONResponse({"message": f"no gate report for the run {run_id[:100]!r}"}, status_code=404)
        policy = _REPORT_POLICY.search(page)
        banner = (f'<p role="note"><strong>A simulation (local demo).</strong> {html.escape(SIMULATION_NOTE)}</p>')
        return Response(page.replace("<body>", f"<body>{banner}", 1), media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": (html.unescape(policy.group(1)) if policy
                                                             else "default-src 'none'") + "; frame-ancestors 'none'"})

    # ---------------------------------------------------------------------------------------------

    @property
    def urls(self) -> dict[str, str]:
        return {"Customer chat": f"{self.base_url}/", "Experts' inbox": f"{self.base_url}/inbox",
                "Raters' console": f"{self.base_url}/rate",
                "Mailbox (experts' email)": f"{self.base_url}/mailbox",
                "Behind the scenes": f"{self.base_url}/behind-the-scenes",
                "Local AWS (moto)": self.aws.endpoint_url if self.aws else ""}

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._exit.close()
