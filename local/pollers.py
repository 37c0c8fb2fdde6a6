"""The event sources on this machine: threads that stand in for the Lambda event source mappings the stacks
define, handing what AWS would deliver to the real handlers.

- the escalation worker's SQS queue -> lambdas/escalation_worker (`QueuePoller`): a batch of messages
  becomes an SQS event of the shape Lambda sends (tests/events/escalation_work.json); the records the handler
  reports in `batchItemFailures` stay in the queue (visible again after the queue's visibility time-out, then
  moved to the dead-letter queue by its redrive policy), the others are deleted; a handler that raises leaves
  the whole batch in the queue;
- the sessions table's stream -> lambdas/stream_consumer (local/stream_poller.py, with Lambda's rules for
  partial batch failures).

Each mapping's batch size is the one its template sets. Each poller runs in its own thread until its stop
event is set; whatever one delivery raises (a handler, moto) is logged and the poller goes on.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from local.aws import LocalAws
from local.lambda_context import lambda_context
from local.stream_poller import StreamPoller
from local.templates import Templates

logger = logging.getLogger("tandem.local.pollers")
IDLE_SECONDS = 0.2  # the pause after a poll that found nothing
Handler = Callable[[dict[str, Any], Any], Any]


def function_context(templates: Templates, function: str) -> Any:
    """The Lambda context of lambdas/<function>, with the memory and time-out its template gives it."""
    properties = templates.function(function).properties
    return lambda_context(f"tandem-{function.replace('_', '-')}", memory_mb=int(properties.get("MemorySize", 128)),
                          remaining_ms=int(properties.get("Timeout", 3)) * 1000)


def handler_of(function: str) -> Handler:
    handler: Handler = importlib.import_module(f"lambdas.{function}.handler").handler
    return handler


def sqs_record(message: dict[str, Any], *, queue_arn: str, region: str) -> dict[str, Any]:
    """An SQS message as Lambda hands it to a function (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html)."""
    attributes = {name: {"stringValue": value.get("StringValue"), "binaryValue": value.get("BinaryValue"),
                         "stringListValues": value.get("StringListValues", []),
                         "binaryListValues": value.get("BinaryListValues", []), "dataType": value["DataType"]}
                  for name, value in message.get("MessageAttributes", {}).items()}
    record = {"messageId": message["MessageId"], "receiptHandle": message["ReceiptHandle"], "body": message["Body"],
              "attributes": message.get("Attributes", {}), "messageAttributes": attributes,
              "md5OfBody": message["MD5OfBody"], "eventSource": "aws:sqs", "eventSourceARN": queue_arn,
              "awsRegion": region}
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class QueuePoller:
    """An SQS event source mapping with ReportBatchItemFailures."""

    def __init__(self, sqs: Any, queue_url: str, handler: Handler, context: Any, *, batch_size: int, region: str):
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        self.handler = handler
        self.context = context
        self.batch_size = batch_size
        self.region = region
        self.invocations = 0
        self.failures = 0  # records reported failed, or batches the handler raised on

    def poll(self) -> int:
        """One batch, if the queue has one; returns how many messages were delivered."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size,
                                            AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, queue_arn=self.queue_arn, region=self.region) for m in messages]}
        self.invocations += 1
        try:
            response = self.handler(event, self.context) or {}
        except Exception:  # Lambda leaves the whole batch in the queue, whatever the handler raised
            self.failures += 1
            logger.exception("the handler raised: the batch stays in the queue", extra={"queue": self.queue_arn})
            return len(messages)
        failed = {f["itemIdentifier"] for f in response.get("batchItemFailures", [])}
        self.failures += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
        return len(messages)


class PollerThread:
    """Calls `poll` in a thread until stopped, pausing when a poll found nothing; logs and goes on when a
    poll raises."""

    def __init__(self, name: str, poll: Callable[[], int], *, idle_seconds: float = IDLE_SECONDS):
        self.name = name
        self.poll = poll
        self.idle_seconds = idle_seconds
        self.stop_event = threading.Event()
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"poller-{name}", daemon=True)

    def start(self) -> PollerThread:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self.stop_event.is_set():
            try:
                found = self.poll()
            except Exception:  # one bad delivery or a hiccup of the local AWS must not end the poller
                self.errors += 1
                logger.exception("a poll failed; polling goes on", extra={"poller": self.name})
                found = 0
            if not found:
                self.stop_event.wait(self.idle_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        """Asks the thread to stop and waits for the delivery under way to finish."""
        self.stop_event.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("a poller did not stop in time", extra={"poller": self.name})

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


@dataclass
class Pollers:
    """The running event sources: `queue` (work queue -> escalation worker), `stream` (table -> stream consumer)."""

    queue: QueuePoller
    stream: StreamPoller
    threads: list[PollerThread]

    def stop(self) -> None:
        for thread in self.threads:
            thread.stop_event.set()
        for thread in self.threads:
            thread.stop()


def start_pollers(aws: LocalAws, *, idle_seconds: float = IDLE_SECONDS) -> Pollers:
    """Starts the two event sources of the local runtime. The handlers read this process's environment: apply
    `aws.process_environment(...)` first."""
    templates = aws.templates
    worker_mapping = templates.event_source("escalation_worker").properties
    queue = QueuePoller(aws.client("sqs"), aws.names["work_queue"], handler_of("escalation_worker"),
                        function_context(templates, "escalation_worker"),
                        batch_size=int(worker_mapping.get("BatchSize", 10)), region=aws.region)
    consumer_mapping = templates.event_source("stream_consumer").properties
    stream = StreamPoller(aws.names["sessions_table"], handler_of("stream_consumer"),
                          function_context(templates, "stream_consumer"),
                          batch_size=int(consumer_mapping.get("BatchSize", 100)), region=aws.region,
                          ddb=aws.client("dynamodb"), streams=aws.client("dynamodbstreams"))
    threads = [PollerThread("work-queue", queue.poll, idle_seconds=idle_seconds).start(),
               PollerThread("table-stream", stream.poll, idle_seconds=idle_seconds).start()]
    return Pollers(queue=queue, stream=stream, threads=threads)
