"""The stream consumer Lambda, deployed by stacks/outbox_stack.py with the sessions table's stream as its
event source (ReportBatchItemFailures, bisect on error, an on-failure queue): what follows a stored turn
(consumer.py). The handler is thin: parse the records, hand them to StreamConsumer, report the first
failure. A record that cannot be parsed is counted and skipped (retrying it cannot help). Logs carry ids,
outcomes and error codes only: never a turn's text.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from botocore.config import Config

from lambdas.common import clients
from lambdas.common.connections import ConnectionStore
from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.startup import Startup
from lambdas.stream_consumer.changes import Change, MalformedRecord, parse_record
from lambdas.stream_consumer.consumer import StreamConsumer
from lambdas.stream_consumer.push import LivePush
from lambdas.stream_consumer.settings import ConsumerSettings
from lambdas.stream_consumer.starter import StepFunctionsStarter
from lambdas.stream_consumer.transcripts import TranscriptWriter

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))
# A failing call is retried by the stream itself; a short client budget keeps one attempt well inside the
# function's time-out.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 3})

def build_live_push(settings: ConsumerSettings) -> LivePush | None:
    if not (settings.live_endpoint and settings.connections_table):
        return None
    clients.configure("apigatewaymanagementapi", CLIENT_CONFIG, endpoint_url=settings.live_endpoint)
    clients.client("apigatewaymanagementapi")
    return LivePush(connections=ConnectionStore(table_name=settings.connections_table),
                    management=lambda: clients.client("apigatewaymanagementapi"),
                    ddb=lambda: clients.client("dynamodb"), sessions_table=settings.sessions_table,
                    metrics=metrics, logger=logger)


def build_consumer(settings: ConsumerSettings) -> StreamConsumer:
    for service in ("dynamodb", "s3", "stepfunctions"):  # created now (init phase), not in the first batch
        clients.configure(service, CLIENT_CONFIG)
        clients.client(service)
    return StreamConsumer(
        starter=StepFunctionsStarter(settings.state_machine_arn, lambda: clients.client("stepfunctions")),
        transcripts=TranscriptWriter(table_name=settings.sessions_table, bucket_name=settings.transcripts_bucket,
                                     ddb=lambda: clients.client("dynamodb"), s3=lambda: clients.client("s3")),
        sessions=SessionStore(table_name=settings.sessions_table, ttl_days=settings.session_ttl_days),
        escalations=EscalationStore(table_name=settings.sessions_table),
        start_timeout_seconds=settings.start_timeout_seconds, busy_message=settings.busy_message,
        metrics=metrics, logger=logger, live=build_live_push(settings))


dependencies = Startup(lambda: build_consumer(ConsumerSettings.from_env()))


def parse_records(records: list[Any]) -> list[Change]:
    changes = []
    for record in records:
        try:
            changes.append(parse_record(record))
        except MalformedRecord as error:
            metrics.add_metric(name="MalformedStreamRecords", unit=MetricUnit.Count, value=1)
            logger.error("malformed stream record skipped", extra={"problem": str(error)[:200]})
    return changes


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    consumer = dependencies.get()  # bad settings fail the whole invocation: the records wait and are retried
    changes = parse_records(event.get("Records") or [])
    retry_from = consumer.process(changes)
    logger.info("stream batch handled", extra={"records": len(changes), "retry_from": retry_from})
    return {"batchItemFailures": [{"itemIdentifier": retry_from}] if retry_from else []}


dependencies.prepare_during_init()  # in Lambda's init phase: settings and clients before the first batch
