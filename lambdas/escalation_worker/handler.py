"""The escalation worker Lambda, deployed by stacks/escalation_stack.py with an SQS event source on the
workflow's internal work queue (ReportBatchItemFailures).

The handler is thin: each SQS record is parsed (lambdas/escalation_worker/messages.py) and handed to
EscalationWorker (worker.py); Powertools' BatchProcessor reports the records that failed, so one bad record
is retried alone while the others of its batch are done. Logs carry ids, kinds and outcomes only: a message
body holds a Step Functions task token, which must never reach a log line.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import ClientError

from lambdas.common import clients, signing
from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.startup import Startup
from lambdas.escalation_worker.messages import MalformedMessage, parse_message
from lambdas.escalation_worker.notifier import ExpertNotifier
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.escalation_worker.task_completer import TaskCompleter
from lambdas.escalation_worker.worker import EscalationWorker, outcome_metric

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])  # the only library making calls worth tracing
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))
# A batch whose every record failed is reported record by record too, not raised: the retry is the same,
# and the function's Errors metric keeps meaning "the function broke", not "a message was bad".
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

def build_worker(settings: WorkerSettings) -> EscalationWorker:
    # Created now (init phase) instead of in the first message's time.
    for service in ("dynamodb", "sns", "stepfunctions", "secretsmanager"):
        clients.client(service)
    return EscalationWorker(
        settings,
        sessions=SessionStore(table_name=settings.sessions_table, ttl_days=settings.session_ttl_days),
        escalations=EscalationStore(table_name=settings.sessions_table),
        experts=ExpertNotifier(settings.experts_topic_arn, lambda: clients.client("sns")),
        tasks=TaskCompleter(lambda: clients.client("stepfunctions")),
        signing_key=lambda: signing.signing_key(settings.signing_secret_arn),
    )


dependencies = Startup(lambda: build_worker(WorkerSettings.from_env()))


def _error_fields(error: Exception) -> dict[str, str]:
    fields = {"error": type(error).__name__}
    if isinstance(error, ClientError):  # the code and operation only: AWS's message may quote a parameter
        fields["error_code"] = error.response.get("Error", {}).get("Code", "Unknown")
        fields["operation"] = error.operation_name
    else:
        fields["detail"] = str(error)[:300]
    return fields


@tracer.capture_method(capture_response=False)
def process_record(record: SQSRecord) -> str:
    try:
        message = parse_message(record.body)
    except MalformedMessage as error:
        metrics.add_metric(name="MalformedWorkMessages", unit=MetricUnit.Count, value=1)
        logger.error("malformed work message", extra={"message_id": record.message_id, "field": error.field,
                                                      "problem": error.problem})
        raise
    ids = {"message_id": record.message_id, "kind": message.kind, "session_id": message.session_id,
           "escalation_id": message.escalation_id}
    try:
        outcome = dependencies.get().handle(message)
    except Exception as error:  # logged without the body, then reported as this record's failure
        metrics.add_metric(name="WorkMessageFailures", unit=MetricUnit.Count, value=1)
        logger.error("work message failed", extra={**ids, **_error_fields(error)})
        raise
    logger.info("work message handled", extra={**ids, "outcome": outcome})
    metric = outcome_metric(outcome)
    if metric:
        metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return outcome


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    dependencies.get()  # bad settings fail the whole invocation (every record is retried), not record by record
    return process_partial_response(event=event, record_handler=process_record, processor=processor,
                                    context=context)


dependencies.prepare_during_init()  # in Lambda's init phase: settings and clients before the first batch
