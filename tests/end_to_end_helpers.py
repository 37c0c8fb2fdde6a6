"""The whole of Tandem in one process, for tests/test_escalation_end_to_end.py.

`World` is what ChatbotStack, EscalationStack and OutboxStack deploy, made in moto (tests/statemachines'
`Flow`: sessions table with its stream, transcripts bucket, work queue, experts and fallback topics with SQS
inboxes, signing secret, the real state machine definition), plus the knowledge bucket and the environment
each of the four Lambdas is given by the stacks. Actors drive the real handlers the way their clients would:

- `Customer`: the customer app (POST /chat, GET /chat/{session_id}/messages) through the chatbot handler;
- `ExpertBrowser`: a browser on the expert API: opens a URL (the emailed link, a redirect's Location) and
  submits the forms of the page it got, through the expert API handler;
- `Flow.pump` (the event sources) delivers the table's stream to the stream consumer and the work queue to
  the worker.

Only Bedrock is stubbed (a botocore Stubber on the chatbot's bedrock-runtime client).
"""

from __future__ import annotations

import json
from dataclasses import replace
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from lambdas.chatbot import handler as chatbot_handler
from lambdas.expert_api import handler as expert_handler
from local.aws import NO_LIVE, function_settings
from local.lambda_context import lambda_context as make_context
from stacks.config import TandemConfig
from testing.bedrock_replies import converse_text
from testing.moto_aws import MotoAws
from tests.lambdas.escalation_worker.conftest import TABLE
from tests.lambdas.escalation_worker.helpers import drain
from tests.statemachines.conftest import BUCKET, Flow

EVENTS = Path(__file__).resolve().parent / "events"
CUSTOMER = "6f1c1c4e-2222-4a5b-9c2d-0123456789ab"  # the customer's Cognito sub
STAGE = "experts"  # EscalationStack's API stage
EXPERT_API_URL = f"https://abcdef1234.execute-api.us-east-1.amazonaws.com/{STAGE}/"  # its RestApi.url
KNOWLEDGE_BUCKET = "tandem-knowledge-e2e"
CONNECTIONS_TABLE = "tandem-connections-e2e"  # named, but with no live endpoint nothing is pushed
RATINGS_TABLE = "tandem-ratings-e2e"  # the rating API's, named as its stack names it: no rating here
LABELING_BUCKET = "tandem-labeling-e2e"


def lambda_context(name: str) -> SimpleNamespace:
    return make_context(f"tandem-{name}", request_id=f"req-{name}")


def stack_environment(config: TandemConfig, *, flow: Flow, state_machine_arn: str) -> dict[str, str]:
    """The environment variables the stacks give the chatbot, the stream consumer, the worker and the expert
    API (one process here, so their union; where two functions read the same variable, the stacks give them
    the same value). Each comes from the function's own settings contract, filled in as its stack fills it
    (local/aws.py function_settings, as the local runtime fills them), with this test's resources in place of
    the CDK tokens."""
    contracts = function_settings(
        config, sessions_table=TABLE, transcripts_bucket=BUCKET, knowledge_bucket=KNOWLEDGE_BUCKET,
        experts_topic_arn=flow.experts_topic, signing_secret_arn=flow.secret_arn, state_machine_arn=state_machine_arn,
        expert_api_url=EXPERT_API_URL, connections_table=CONNECTIONS_TABLE, live=NO_LIVE,
        ratings_table=RATINGS_TABLE, labeling_bucket=LABELING_BUCKET)
    # Masking off here, so the export needs no Comprehend (moto answers DetectPiiEntities with canned entities);
    # tests/lambdas/expert_api covers masking.
    contracts["expert_api"] = replace(contracts["expert_api"], redact_pii=False)
    environment = {"POWERTOOLS_METRICS_NAMESPACE": "Tandem"}
    for contract in contracts.values():
        for name, value in contract.to_env().items():
            assert environment.setdefault(name, value) == value, f"two functions give {name} different values"
    return environment


# Bedrock ------------------------------------------------------------------------------------------------

class Bedrock:
    """The chatbot's bedrock-runtime client under a Stubber (queue one reply per expected answer) that also
    counts every converse call it receives, stubbed or not."""

    def __init__(self, aws: MotoAws) -> None:
        self.stubber = aws.stub("bedrock-runtime")
        self.client = self.stubber.client
        self.calls: list[dict[str, Any]] = []
        self.client.meta.events.register("before-parameter-build.bedrock-runtime.Converse",
                                         lambda params, **_: self.calls.append(params))

    def will_answer(self, text: str) -> None:
        self.stubber.add_response("converse", converse_text(text))

    def assert_all_used(self) -> None:
        self.stubber.assert_no_pending_responses()


# The customer ---------------------------------------------------------------------------------------------

class Customer:
    """The customer app: one session, driven through the real chatbot handler."""

    def __init__(self, sub: str = CUSTOMER) -> None:
        self.sub = sub
        self.session_id: str | None = None
        self.context = lambda_context("chatbot")

    def _event(self) -> dict[str, Any]:
        event = json.loads((EVENTS / "chat_request.json").read_text())
        event["requestContext"]["authorizer"]["claims"]["sub"] = self.sub
        return event

    def says(self, message: str) -> dict[str, Any]:
        """POST /chat; asserts 200 and returns the body (the session id is kept for the next turn)."""
        event = self._event()
        event["body"] = json.dumps({"message": message, **({"session_id": self.session_id} if self.session_id else {})})
        result = chatbot_handler.handler(event, self.context)
        body = json.loads(result["body"])
        assert result["statusCode"] == 200, body
        self.session_id = body["session_id"]
        return body

    def polls(self, after: str | None = None) -> dict[str, Any]:
        """GET /chat/{session_id}/messages?after=...; asserts 200 and returns the body."""
        event = self._event()
        event.update(httpMethod="GET", resource="/chat/{session_id}/messages", path=f"/chat/{self.session_id}/messages",
                     body=None, pathParameters={"session_id": self.session_id},
                     queryStringParameters={"after": after} if after else None)
        result = chatbot_handler.handler(event, self.context)
        body = json.loads(result["body"])
        assert result["statusCode"] == 200, body
        return body


# The expert's browser ---------------------------------------------------------------------------------

class _Forms(HTMLParser):
    """The forms of a page: action, method and the fields a browser would submit (hidden inputs with their
    values, text inputs and textareas empty; unchecked checkboxes are not sent)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = {"action": a.get("action", ""), "method": a.get("method", "get").upper(), "fields": {}}
            self.forms.append(self._open)
        elif self._open is not None and tag in ("input", "textarea") and a.get("name"):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self._open["fields"][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def page_text(html: str) -> str:
    return unescape(html)


class ExpertBrowser:
    """Sends what a browser sends to API Gateway for a URL of the expert API (tests/events/expert_*.json
    shapes), through the real expert API handler."""

    ROUTES = {"": "review", "accept": "accept", "console": "console", "messages": "messages", "reply": "reply",
              "resolve": "resolve"}

    def __init__(self) -> None:
        self.context = lambda_context("expert-api")

    def event(self, method: str, url: str, form: dict[str, str] | None = None) -> dict[str, Any]:
        parts = urlsplit(url)
        full_path = parts.path
        assert full_path.startswith(f"/{STAGE}/escalations/"), url
        path = full_path[len(STAGE) + 1:]
        _, _, escalation_id, *rest = path.split("/")
        suffix = rest[0] if rest else ""
        event = json.loads((EVENTS / f"expert_{self.ROUTES[suffix]}.json").read_text())
        resource = "/escalations/{escalation_id}" + (f"/{suffix}" if suffix else "")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()} or None
        event.update(resource=resource, path=path, httpMethod=method, pathParameters={"escalation_id": escalation_id},
                     queryStringParameters=query,
                     multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None,
                     body=urlencode(form) if form is not None else None)
        event["requestContext"].update(resourcePath=resource, httpMethod=method, path=full_path, stage=STAGE)
        return event

    def open(self, url: str) -> dict[str, Any]:
        return expert_handler.handler(self.event("GET", url), self.context)

    def submit(self, form: dict[str, Any], **typed: str) -> dict[str, Any]:
        """Submits a form of a page with what the expert typed into its fields."""
        assert form["method"] == "POST"
        unknown = set(typed) - set(form["fields"])
        assert not unknown, f"the form has no field {unknown}"
        return expert_handler.handler(self.event("POST", form["action"], {**form["fields"], **typed}), self.context)


# Reading the results ----------------------------------------------------------------------------------

def table_scan(ddb: Any) -> list[dict[str, Any]]:
    items = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["session_id"]["S"], i["sk"]["S"]))


def bucket_objects(s3: Any, bucket: str) -> dict[str, bytes]:
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


def inbox(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """The notifications waiting in an SNS topic's SQS inbox (removed from it)."""
    return drain(sqs, queue_url)
