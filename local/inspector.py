"""What each part of Tandem did, read back from the local AWS for the demo's "behind the scenes" page.

`snapshot(aws, mailbox)` reads, at one moment:
- the sessions table: each session with its turns (sentiment, model, sources, errors) and its escalations
  (status, reason, the gate's explanation, who accepted), as lambdas/common/session_store.py writes them;
- both workflows' executions with their status and the state each is in (from its history);
- the transcripts bucket's objects (what the stream consumer wrote);
- the mailbox.

It only reads. Everything here is the local AWS's own state, not a copy the demo keeps.
"""

from __future__ import annotations

import json
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from lambdas.common.escalations import state_from_item
from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK, TURN_PREFIX
from local.aws import LocalAws
from local.mailbox import LocalMailbox

MAX_EXECUTIONS = 50  # per workflow, newest first
# A finished execution's last state never changes: read from its history once, not at every refresh.
_finished_states: dict[str, str | None] = {}
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    """DynamoDB's Decimal numbers as JSON numbers."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value) if value == int(value) else float(value)
    return value


def sessions(aws: LocalAws) -> list[dict[str, Any]]:
    by_id: dict[str, dict[str, Any]] = {}
    for page in aws.client("dynamodb").get_paginator("scan").paginate(TableName=aws.names["sessions_table"]):
        for raw in page["Items"]:
            item = {name: _deserializer.deserialize(value) for name, value in raw.items()}
            session = by_id.setdefault(item["session_id"], {"session_id": item["session_id"], "turns": [],
                                                            "escalations": []})
            sk = item["sk"]
            if sk == SESSION_SK:
                session.update({name: _plain(value) for name, value in item.items()
                                if name not in ("sk", "session_id")})
            elif sk.startswith(TURN_PREFIX):
                session["turns"].append(json.loads(item["body"]))
            elif sk.startswith(ESCALATION_PREFIX):
                # The record as created plus what changed since (status, accept, resolve), never the task tokens.
                state = state_from_item(raw)
                session["escalations"].append({**state.record.to_dict(), "experts_notified": state.notified})
    for session in by_id.values():
        session["turns"].sort(key=lambda t: (t["created_at"], t["turn_id"]))
        session["escalations"].sort(key=lambda e: e["requested_at"])
    return sorted(by_id.values(), key=lambda s: str(s.get("started_at", "")), reverse=True)


def current_state(sfn: Any, execution_arn: str) -> str | None:
    """The state the execution last entered (moto's DescribeExecution does not say). The whole history is
    read oldest first: moto ignores `reverseOrder`, so the first state entered of a "newest first" page would
    be the workflow's first state, whatever it is doing now."""
    entered: str | None = None
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn,
                                                                   reverseOrder=False):
        for event in sorted(page["events"], key=lambda e: e["id"]):
            details = event.get("stateEnteredEventDetails")
            if details:
                entered = str(details["name"])
    return entered


def _state_of(sfn: Any, execution: dict[str, Any]) -> str | None:
    arn = execution["executionArn"]
    if arn in _finished_states:
        return _finished_states[arn]
    state = current_state(sfn, arn)
    if execution["status"] != "RUNNING":
        if len(_finished_states) > 10 * MAX_EXECUTIONS:
            _finished_states.clear()
        _finished_states[arn] = state
    return state


def executions(aws: LocalAws) -> list[dict[str, Any]]:
    sfn = aws.client("stepfunctions")
    found = []
    for workflow, arn in sorted(aws.state_machines.items()):
        listed = sfn.list_executions(stateMachineArn=arn, maxResults=MAX_EXECUTIONS)["executions"]
        for execution in listed:
            found.append({"workflow": workflow, "name": execution["name"], "status": execution["status"],
                          "started_at": execution["startDate"].isoformat(),
                          "stopped_at": execution["stopDate"].isoformat() if execution.get("stopDate") else None,
                          "current_state": _state_of(sfn, execution)})
    return sorted(found, key=lambda e: e["started_at"], reverse=True)


def transcripts(aws: LocalAws) -> list[dict[str, Any]]:
    s3 = aws.client("s3")
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=aws.names["transcripts_bucket"]):
        for entry in page.get("Contents", []):
            objects.append({"key": entry["Key"], "size": entry["Size"],
                            "last_modified": entry["LastModified"].isoformat()})
    return sorted(objects, key=lambda o: o["last_modified"], reverse=True)


def transcript(aws: LocalAws, key: str) -> Any:
    """One transcript object's JSON (KeyError when there is none with this key)."""
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=aws.names["transcripts_bucket"], Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise KeyError(key) from None
    return json.loads(body)


def snapshot(aws: LocalAws, mailbox: LocalMailbox) -> dict[str, Any]:
    return {"sessions": sessions(aws), "executions": executions(aws), "transcripts": transcripts(aws),
            "mails": [mail.to_dict() for mail in mailbox.mails()]}
