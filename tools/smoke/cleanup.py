"""Removes what a smoke run created, in an order that leaves nothing behind:

1. stop the workflow executions of the session's escalations (no task of theirs writes to the table again,
   and nobody is mailed a fallback later);
2. delete the session's items, the SESSION item first: the outbox composes a transcript only for a session
   whose SESSION item exists (lambdas/stream_consumer/transcripts.py `materialize`), so the REMOVE records of
   the other items write no transcript again;
3. delete every version of the transcript (the bucket is versioned), wait `settle_seconds` for an outbox batch
   that read the table before step 2 and writes late, and delete what it wrote;
4. delete the Cognito user.

Each step is tried even when an earlier one failed; what could not be deleted is named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK
from lambdas.common.transcript import transcript_key
from tools.smoke.checks import execution_arn
from tools.smoke.clock import Clock
from tools.smoke.outputs import Deployment
from tools.smoke.report import SmokeFailure
from tools.smoke.signin import CustomerPool

SETTLE_SECONDS = 10.0
STOP_ERROR = "TandemSmokeTest"
STOP_CAUSE = "the smoke test's own escalation, stopped by its cleanup"
_DELETE_ROUNDS = 3


class CleanupIncomplete(SmokeFailure):
    part = "cleanup"


@dataclass
class Created:
    """What the run made, as far as it got (a failure may stop it anywhere)."""

    username: str | None = None
    session_id: str | None = None


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return f"{type(error).__name__}: {error}"


class Cleanup:
    def __init__(self, *, ddb: Any, s3: Any, sfn: Any, pool: CustomerPool, deployment: Deployment, clock: Clock,
                 settle_seconds: float = SETTLE_SECONDS):
        self.ddb = ddb
        self.s3 = s3
        self.sfn = sfn
        self.pool = pool
        self.deployment = deployment
        self.clock = clock
        self.settle_seconds = settle_seconds

    # Reading what there is ---------------------------------------------------------------------------

    def _items(self, session_id: str) -> list[dict[str, Any]]:
        pages = self.ddb.get_paginator("query").paginate(
            TableName=self.deployment.sessions_table, ConsistentRead=True,
            KeyConditionExpression="session_id = :id", ExpressionAttributeValues={":id": {"S": session_id}})
        return [item for page in pages for item in page["Items"]]

    def _versions(self, key: str) -> list[str]:
        pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=self.deployment.transcripts_bucket,
                                                                        Prefix=key)
        return [v["VersionId"] for page in pages for v in (*page.get("Versions", []), *page.get("DeleteMarkers", []))
                if v["Key"] == key]

    def _transcript_key(self, items: list[dict[str, Any]], session_id: str) -> str | None:
        session = next((i for i in items if i["sk"]["S"] == SESSION_SK), None)
        return transcript_key(session_id, session["started_at"]["S"]) if session else None

    # Deleting ----------------------------------------------------------------------------------------

    def _stop(self, escalation_id: str) -> bool:
        """Stops the escalation's execution if it runs; False when there was none running."""
        arn = execution_arn(self.deployment.state_machine_arn, escalation_id)
        try:
            status = self.sfn.describe_execution(executionArn=arn)["status"]
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return False
            raise
        if status != "RUNNING":
            return False
        self.sfn.stop_execution(executionArn=arn, error=STOP_ERROR, cause=STOP_CAUSE)
        return True

    def _delete_items(self, session_id: str) -> int:
        deleted = 0
        for _ in range(_DELETE_ROUNDS):  # again, if something wrote to the session meanwhile
            items = sorted(self._items(session_id), key=lambda i: i["sk"]["S"] != SESSION_SK)  # SESSION first
            if not items:
                return deleted
            for item in items:
                self.ddb.delete_item(TableName=self.deployment.sessions_table,
                                     Key={"session_id": item["session_id"], "sk": item["sk"]})
                deleted += 1
        left = len(self._items(session_id))
        if left:
            raise RuntimeError(f"{left} items came back after {_DELETE_ROUNDS} rounds")
        return deleted

    def _delete_versions(self, key: str) -> int:
        versions = self._versions(key)
        for version in versions:
            self.s3.delete_object(Bucket=self.deployment.transcripts_bucket, Key=key, VersionId=version)
        return len(versions)

    def clean(self, created: Created) -> str:
        done: list[str] = []
        failed: list[str] = []
        if created.session_id:
            self._clean_session(created.session_id, done, failed)
        if created.username:
            try:
                existed = self.pool.delete_user(created.username)
                done.append(f"user {created.username}" if existed else f"no user {created.username} (never created)")
            except Exception as error:  # noqa: BLE001 (reported: the operator deletes it by hand)
                failed.append(f"user {created.username} in {self.deployment.user_pool_id} ({_reason(error)})")
        if failed:
            raise CleanupIncomplete(f"left behind: {'; '.join(failed)}" + (f" (done: {', '.join(done)})" if done else ""))
        return ", ".join(done) if done else "nothing was created"

    def _clean_session(self, session_id: str, done: list[str], failed: list[str]) -> None:
        table, bucket = self.deployment.sessions_table, self.deployment.transcripts_bucket
        try:
            items = self._items(session_id)
        except Exception as error:  # noqa: BLE001 (reported; the other steps still run)
            failed.append(f"session {session_id} in {table}: not readable ({_reason(error)})")
            return
        key = self._transcript_key(items, session_id)
        escalations = [i["sk"]["S"].removeprefix(ESCALATION_PREFIX) for i in items
                       if i["sk"]["S"].startswith(ESCALATION_PREFIX)]
        for escalation_id in escalations:
            try:
                if self._stop(escalation_id):
                    done.append(f"stopped execution {escalation_id}")
            except Exception as error:  # noqa: BLE001 (reported; the other steps still run)
                failed.append(f"execution {escalation_id} still running ({_reason(error)})")
        try:
            count = self._delete_items(session_id)
            done.append(f"{count} item{'' if count == 1 else 's'} of session {session_id}")
        except Exception as error:  # noqa: BLE001 (reported; the other steps still run)
            failed.append(f"items of session {session_id} in {table} ({_reason(error)})")
        if key is None:
            return
        try:
            deleted = self._delete_versions(key)
            self.clock.sleep(self.settle_seconds)  # an outbox batch that read the items before they went
            late = self._delete_versions(key)
            total = deleted + late
            done.append(f"{total} transcript version{'' if total == 1 else 's'}"
                        + (f" ({late} written late)" if late else ""))
        except Exception as error:  # noqa: BLE001 (reported; the user is still deleted)
            failed.append(f"transcript s3://{bucket}/{key} ({_reason(error)})")

    def kept(self, created: Created) -> str:
        """What --keep leaves for a look, and where."""
        kept = [f"user {created.username}"] if created.username else []
        if created.session_id:
            kept.append(f"session {created.session_id} in {self.deployment.sessions_table}")
            try:
                items = self._items(created.session_id)
                key = self._transcript_key(items, created.session_id)
                kept += [f"execution {i['sk']['S'].removeprefix(ESCALATION_PREFIX)}" for i in items
                         if i["sk"]["S"].startswith(ESCALATION_PREFIX)]
                if key:
                    kept.append(f"s3://{self.deployment.transcripts_bucket}/{key}")
            except Exception as error:  # noqa: BLE001 (only the description is shorter)
                kept.append(f"(its items not readable: {_reason(error)})")
        return "kept (--keep): " + ("; ".join(kept) if kept else "nothing was created")
