"""Many turns of one session at once, with S3 failing meanwhile: nothing is lost, in DynamoDB or in the
transcript the outbox materialises from it.

moto applies requests without locking (its transactions and conditional writes check and write in separate
steps), while the real services apply each request atomically; the wrapper gives moto that property with one
lock, so the test exercises Tandem's handling of concurrency, not moto's.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients
from lambdas.stream_consumer import handler as consumer_handler
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.helpers import transcript, turn_items

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


class AtomicClient:
    """Delegates to a client, one request at a time."""

    def __init__(self, client: Any, lock: threading.Lock):
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call


class FailingPuts:
    """An S3 client whose next `failures` put_object calls fail as S3 does when it is unavailable (503)."""

    def __init__(self, client: Any, failures: int):
        self._client = client
        self.remaining = failures
        self.refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_object(self, **kwargs: Any) -> Any:
        if self.remaining > 0:
            self.remaining -= 1
            self.refused += 1
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "Please reduce your request rate."},
                               "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
        return self._client.put_object(**kwargs)


def test_twenty_concurrent_turns_with_s3_failing_fifteen_times_lose_nothing(aws, bedrock, chat):
    bedrock.add_response("converse", converse_text("Hello! How can I help?"))
    _, first = chat({"message": "Hi"})
    session_id = first["session_id"]
    lock = threading.Lock()
    clients.set_client("dynamodb", AtomicClient(clients.client("dynamodb"), lock))
    clients.set_client("bedrock-runtime", AtomicClient(clients.client("bedrock-runtime"), lock))
    s3 = FailingPuts(clients.client("s3"), failures=15)
    clients.set_client("s3", s3)
    consumer_handler.dependencies.reset()  # the consumer takes the wrapped clients
    messages = [f"question {n}" for n in range(20)]
    for _ in messages:
        bedrock.add_response("converse", converse_text("I am looking into it."))

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda m: chat({"message": m, "session_id": session_id}), messages))
        for _ in range(15):  # meanwhile the outbox keeps delivering, and S3 keeps refusing
            aws.outbox.poller.poll()

    assert [status for status, _ in results] == [200] * 20
    assert s3.refused == 15 and aws.outbox.poller.failures >= 15
    stored = turn_items(aws.ddb, session_id)
    assert len(stored) == 42
    assert sorted(t["text"] for t in stored if t["role"] == "customer") == sorted(["Hi", *messages])
    _, doc = transcript(aws, session_id)  # S3 is back: the outbox catches up
    assert [t["turn_id"] for t in doc["turns"]] == [t["turn_id"] for t in stored]  # all, in order, each once
    assert [(t["created_at"], t["turn_id"]) for t in doc["turns"]] == sorted(
        (t["created_at"], t["turn_id"]) for t in stored)
    bedrock.assert_no_pending_responses()
