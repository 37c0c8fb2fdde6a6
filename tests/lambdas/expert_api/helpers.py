"""Helpers for the expert API tests: the reply and resolve requests, what the table and the buckets hold,
and parsing the API's answers."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.lambdas.expert_api.conftest import RESOLVE_TOKEN, TABLE, expert_event, link


def items(ddb: Any) -> list[dict[str, Any]]:
    """Every item of the sessions table, as DynamoDB returns it, sorted by key."""
    found = ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return sorted(found, key=lambda i: (i["session_id"]["S"], i["sk"]["S"]))


def plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: next(iter(v.values())) for k, v in item.items()}


def session_item(ddb: Any, session_id: str) -> dict[str, Any]:
    (item,) = [plain(i) for i in items(ddb) if i["session_id"]["S"] == session_id and i["sk"]["S"] == "SESSION"]
    return item


def escalation_item(ddb: Any, session_id: str, escalation_id: str) -> dict[str, Any]:
    (item,) = [plain(i) for i in items(ddb)
               if i["session_id"]["S"] == session_id and i["sk"]["S"] == f"ESCALATION#{escalation_id}"]
    return item


def turns(ddb: Any, session_id: str) -> list[dict[str, Any]]:
    return [json.loads(i["body"]) for i in map(plain, items(ddb))
            if i["session_id"] == session_id and i["sk"].startswith("TURN#")]


def objects(s3: Any) -> dict[str, bytes]:
    """Every object of every bucket (the knowledge bucket is the only one the API writes), bucket/key -> bytes."""
    found: dict[str, bytes] = {}
    for bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            found[f"{bucket}/{obj['Key']}"] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return found


def snapshot(aws: Any) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """Everything the API could change: compare two snapshots to prove a request changed nothing."""
    return items(aws.ddb), objects(aws.s3)


def body_json(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["Content-Type"] == "application/json"
    return json.loads(response["body"])


def link_in(location: str) -> tuple[str, dict[str, str]]:
    """(path, query) of a URL the API handed out."""
    parts = urlsplit(location)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def reply_event(esc: Any, text: str) -> dict[str, Any]:
    return expert_event("reply", esc.escalation_id, form={**link("work", esc), "text": text})


def resolve_event(esc: Any, note: str = "Reset the router's DNS settings.", close: bool = False) -> dict[str, Any]:
    form = {**link("work", esc), "note": note}
    if close:
        form["close"] = "on"
    return expert_event("resolve", esc.escalation_id, form=form)


def expect_resolve(sfn: Any, *, closed: bool = False) -> None:
    sfn.add_response("send_task_success", {}, {"taskToken": RESOLVE_TOKEN,
                                               "output": json.dumps({"resolved_by": "Ann", "closed": closed})})
