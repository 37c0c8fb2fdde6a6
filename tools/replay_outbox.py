"""Does again, from the sessions table, what the outbox (lambdas/stream_consumer) does from its stream: for
the operator after the StreamBatchesGivenUp alarm (docs/OPERATIONS.md), or to rebuild transcripts.

    .venv/bin/python -m tools.replay_outbox --stack-outputs   (reads names from the deployed stacks)
    .venv/bin/python -m tools.replay_outbox --table T --bucket B --state-machine ARN [--session ID ...]

For every session (all of them, or those given): its S3 transcript is materialised from the table; every
escalation still `pending` that no workflow recorded itself on (no execution_arn) gets its workflow started,
or, past escalation_start_timeout_seconds, is withdrawn and the customer told: exactly what the stream
consumer does, with the same code. Safe to run at any time and more than once: every step is idempotent.
Exit codes: 0 everything done; 1 something still failed (listed; run again later); 2 the command could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Iterator, Sequence

from aws_lambda_powertools import Logger

from lambdas.common import clients
from lambdas.common.escalations import EscalationStore, state_from_item
from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK, SessionStore
from lambdas.stream_consumer.consumer import StreamConsumer
from lambdas.stream_consumer.starter import StepFunctionsStarter
from lambdas.stream_consumer.transcripts import TranscriptWriter
from stacks.config import TandemConfig

EXIT_OK, EXIT_FAILED, EXIT_ERROR = 0, 1, 2


class _Counts:
    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.values[name] = self.values.get(name, 0) + value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.replay_outbox", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-outputs", action="store_true",
                        help="read the table, bucket and state machine from the deployed TandemData and "
                             "TandemEscalation stacks (CloudFormation ListExports, DescribeStacks)")
    parser.add_argument("--table", help="the sessions table")
    parser.add_argument("--bucket", help="the transcripts bucket")
    parser.add_argument("--state-machine", help="the human-escalation state machine ARN")
    parser.add_argument("--session", action="append", default=[], help="only this session (repeatable)")
    parser.add_argument("--start-timeout-seconds", type=int, default=TandemConfig().escalation_start_timeout_seconds,
                        help="escalation_start_timeout_seconds of the deployment (default: cdk.json's)")
    parser.add_argument("--busy-message", default=TandemConfig().busy_message,
                        help="what a customer is told when an escalation is withdrawn (default: cdk.json's)")
    parser.add_argument("--ttl-days", type=int, default=TandemConfig().session_ttl_days)
    return parser.parse_args(argv)


def stack_outputs() -> tuple[str | None, str | None, str | None]:
    """The table, bucket and state machine of the deployment: TandemData's exports and TandemEscalation's
    StateMachineArn output."""
    cloudformation = clients.client("cloudformation")
    exports = {e["Name"]: e["Value"] for page in cloudformation.get_paginator("list_exports").paginate()
               for e in page["Exports"]}
    outputs = {o["OutputKey"]: o["OutputValue"]
               for o in cloudformation.describe_stacks(StackName="TandemEscalation")["Stacks"][0].get("Outputs", [])}
    return (exports.get("TandemData-SessionsTableName"), exports.get("TandemData-TranscriptsBucketName"),
            outputs.get("StateMachineArn"))


def sessions_of(table: str, wanted: Sequence[str]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(session id, its escalation items) for the wanted sessions, or for every session of the table."""
    ddb = clients.client("dynamodb")
    if wanted:
        for session_id in wanted:
            page = ddb.query(TableName=table, KeyConditionExpression="session_id = :id AND begins_with(sk, :e)",
                             ExpressionAttributeValues={":id": {"S": session_id}, ":e": {"S": ESCALATION_PREFIX}})
            yield session_id, page["Items"]
        return
    escalations: dict[str, list[dict[str, Any]]] = {}
    sessions: list[str] = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            sk, session_id = item["sk"]["S"], item["session_id"]["S"]
            if sk == SESSION_SK:
                sessions.append(session_id)
            elif sk.startswith(ESCALATION_PREFIX):
                escalations.setdefault(session_id, []).append(item)
    for session_id in sessions:
        yield session_id, escalations.get(session_id, [])


def replay(consumer: StreamConsumer, table: str, wanted: Sequence[str]) -> tuple[int, list[str]]:
    """Returns (sessions seen, what still failed)."""
    failed: list[str] = []
    seen = 0
    for session_id, escalation_items in sessions_of(table, wanted):
        seen += 1
        for item in escalation_items:
            state = state_from_item(item)
            if state.record.status == "pending" and state.execution_arn is None \
                    and not consumer.start_or_withdraw(state.record):
                failed.append(f"escalation {state.record.escalation_id} of session {session_id}: not started yet")
        if not consumer.materialize(session_id):
            failed.append(f"transcript of session {session_id}")
    return seen, failed


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    table, bucket, machine = args.table, args.bucket, args.state_machine
    try:
        if args.stack_outputs:
            found = stack_outputs()
            table, bucket, machine = table or found[0], bucket or found[1], machine or found[2]
        missing = [name for name, value in (("--table", table), ("--bucket", bucket), ("--state-machine", machine))
                   if not value]
        if missing:
            print(f"error: {', '.join(missing)} required (or --stack-outputs)", file=sys.stderr)
            return EXIT_ERROR
        counts = _Counts()
        consumer = StreamConsumer(
            starter=StepFunctionsStarter(machine, lambda: clients.client("stepfunctions")),
            transcripts=TranscriptWriter(table_name=table, bucket_name=bucket, ddb=lambda: clients.client("dynamodb"),
                                         s3=lambda: clients.client("s3")),
            sessions=SessionStore(table_name=table, ttl_days=args.ttl_days), escalations=EscalationStore(table_name=table),
            start_timeout_seconds=args.start_timeout_seconds, busy_message=args.busy_message, metrics=counts,
            logger=Logger(service="tandem-replay-outbox"), sleep=lambda seconds: None)
        seen, failed = replay(consumer, table, args.session)
    except Exception as error:  # noqa: BLE001 (an AWS or configuration problem: say it and stop)
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_ERROR
    for line in failed:
        print(f"still failing: {line}", file=sys.stderr)
    print(json.dumps({"sessions": seen, **{k: int(v) for k, v in sorted(counts.values.items())},
                      "still_failing": len(failed)}))
    return EXIT_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
