"""Helpers for the chatbot tests: reading what a turn left in DynamoDB and S3, the metrics it emitted, the
requests a client sent, and scripted HTTP replies for tests of botocore's own retries."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable
from urllib.parse import quote

from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from tests.lambdas.chatbot.conftest import BUCKET, CUSTOMER, TABLE, chat_event

# Events ----------------------------------------------------------------------------------------------

MESSAGES_RESOURCE = "/chat/{session_id}/messages"


def messages_event(session_id: str, after: str | None = None, *, sub: str | None = CUSTOMER) -> dict[str, Any]:
    """GET /chat/{session_id}/messages?after=... as API Gateway (REST) sends it: the path percent-encoded as
    the client sent it, the path and query parameters decoded."""
    event = chat_event(sub=sub)
    path = f"/chat/{quote(session_id, safe='')}/messages"
    query = {"after": after} if after else None
    event.update(httpMethod="GET", resource=MESSAGES_RESOURCE, path=path, body=None,
                 pathParameters={"session_id": session_id}, queryStringParameters=query,
                 multiValueQueryStringParameters={k: [v] for k, v in query.items()} if query else None)
    event["requestContext"].update(httpMethod="GET", resourcePath=MESSAGES_RESOURCE,
                                   path=f"/{event['requestContext']['stage']}{path}")
    return event


# DynamoDB and S3 ------------------------------------------------------------------------------------

def items(ddb: Any, session_id: str | None = None) -> list[dict[str, Any]]:
    """Every item of the sessions table (of one session when given), plain values, sorted by key."""
    found = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    plain = [{k: next(iter(v.values())) for k, v in item.items()} for item in found]
    if session_id is not None:
        plain = [i for i in plain if i["session_id"] == session_id]
    return sorted(plain, key=lambda i: (i["session_id"], i["sk"]))


def session_item(ddb: Any, session_id: str) -> dict[str, Any]:
    (item,) = [i for i in items(ddb, session_id) if i["sk"] == "SESSION"]
    return item


def turn_items(ddb: Any, session_id: str) -> list[dict[str, Any]]:
    """The session's turns as stored (the Turn JSON of each TURN# item), oldest first."""
    return [json.loads(i["body"]) for i in items(ddb, session_id) if i["sk"].startswith("TURN#")]


def escalation_items(ddb: Any, session_id: str) -> list[dict[str, Any]]:
    return [i for i in items(ddb, session_id) if i["sk"].startswith("ESCALATION#")]


def table_count(ddb: Any) -> int:
    return ddb.scan(TableName=TABLE, Select="COUNT")["Count"]


def bucket_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def transcript(aws: Any, session_id: str) -> tuple[str, dict[str, Any]]:
    """(key, parsed JSON) of the session's transcript, found through the SESSION item's started_at, once the
    outbox has delivered the table's changes to the stream consumer (which writes it)."""
    aws.outbox.drain()
    started_at = session_item(aws.ddb, session_id)["started_at"]
    key = f"transcripts/dt={started_at[:10]}/{session_id}.json"
    return key, json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def assert_nothing_written(aws: Any) -> None:
    assert table_count(aws.ddb) == 0
    assert bucket_keys(aws.s3) == []


# Metrics (Powertools prints CloudWatch EMF documents on stdout) -----------------------------------------

def emitted_metrics(stdout: str) -> dict[str, float]:
    """Sum of each metric over the EMF documents in `stdout`."""
    totals: dict[str, float] = {}
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                values = document[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(
                    values if isinstance(values, list) else [values])
    return totals


# Requests ------------------------------------------------------------------------------------------

def record_requests(client: Any, operation: str) -> list[dict[str, Any]]:
    """Returns a list that receives the parameters of every `operation` call the client makes (stubbed or not)."""
    calls: list[dict[str, Any]] = []
    service_id = client.meta.service_model.service_id.hyphenize()

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(json.dumps(params, default=str)))

    client.meta.events.register(f"before-parameter-build.{service_id}.{operation}", record)
    return calls


# Scripted HTTP replies: unlike a Stubber (which answers before botocore's retry loop), these go through it.

class _Raw:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._data

    def read(self, *_: Any, **__: Any) -> bytes:
        return self._data


def http_json(status: int, body: dict[str, Any], error_type: str | None = None) -> Callable[[Any], AWSResponse]:
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["x-amzn-errortype"] = error_type

    def reply(request: Any) -> AWSResponse:
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))

    return reply


def throttled() -> Callable[[Any], AWSResponse]:
    return http_json(429, {"message": "Too many requests, please wait before trying again."}, "ThrottlingException")


def script_http(client: Any, operation: str, replies: list[Callable[[Any], AWSResponse]]) -> list[dict[str, Any]]:
    """Answers the client's `operation` HTTP requests with `replies`, in order; returns the request bodies sent.

    moto's own before-send hook (converse is not mocked) is removed from this client only.
    """
    sent: list[dict[str, Any]] = []
    service_id = client.meta.service_model.service_id.hyphenize()

    def send(request: Any, **_: Any) -> AWSResponse:
        sent.append(json.loads(request.body))
        if not replies:
            raise AssertionError(f"unexpected {operation} request #{len(sent)}")
        return replies.pop(0)(request)

    client.meta.events.unregister("before-send", botocore_stubber)
    client.meta.events.register_first(f"before-send.{service_id}.{operation}", send)
    return sent

