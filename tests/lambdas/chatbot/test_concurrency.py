"""Two turns of one session at once (a double-click, two tabs): no turn is lost in DynamoDB or the transcript.

The test forces the worst interleaving instead of hoping for it: barriers make both turns load the session
before either records, and read the same transcript version before either rewrites it, so one conditional
PUT must fail and be retried. moto applies requests without locking (its conditional PUT checks and writes in
two steps); a real service applies each request atomically, so the wrappers give moto that property with one
lock, and the test exercises Tandem's concurrency handling, not moto's.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients
from tests.lambdas.chatbot.conftest import converse_text
from tests.lambdas.chatbot.helpers import transcript, turn_items

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


class AtomicClient:
    """Delegates to a client, one request at a time; `after[name]` runs after a call, outside the lock."""

    def __init__(self, client: Any, lock: threading.Lock, after: dict[str, Callable[..., None]] | None = None):
        self._client = client
        self._lock = lock
        self._after = after or {}
        self.errors: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                with self._lock:
                    result = attr(*args, **kwargs)
            except ClientError as error:
                self.errors.append(f"{name}:{error.response['Error']['Code']}")
                raise
            if name in self._after:
                self._after[name](**kwargs)
            return result

        return call


def once_per_thread(barrier: threading.Barrier, applies: Callable[..., bool] = lambda **_: True):
    """A hook that makes each of the two threads wait for the other the first time it gets here."""
    done = threading.local()

    def hook(**kwargs: Any) -> None:
        if applies(**kwargs) and not getattr(done, "passed", False):
            done.passed = True
            barrier.wait(timeout=20)

    return hook


def test_two_concurrent_turns_on_one_session_lose_nothing(aws, bedrock, chat):
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link."))
    _, first = chat({"message": "How do I reset my password?"})
    session_id = first["session_id"]

    lock = threading.Lock()
    loaded = threading.Barrier(2)
    read_transcript = threading.Barrier(2)
    ddb = AtomicClient(clients.client("dynamodb"), lock, {"query": once_per_thread(loaded)})
    s3 = AtomicClient(clients.client("s3"), lock, {
        "get_object": once_per_thread(read_transcript, lambda **kw: kw["Key"].startswith("transcripts/")),
    })
    clients.set_client("dynamodb", ddb)
    clients.set_client("s3", s3)
    for _ in range(2):
        bedrock.add_response("converse", converse_text("I am looking into it."))

    messages = ["I never got the email.", "Is the link still valid?"]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda m: chat({"message": m, "session_id": session_id}), messages))

    assert [status for status, _ in results] == [200, 200]
    assert [body["session_id"] for _, body in results] == [session_id, session_id]
    stored = turn_items(aws.ddb, session_id)
    assert len(stored) == 6
    assert sorted(t["text"] for t in stored if t["role"] == "customer") == sorted(
        ["How do I reset my password?", *messages])
    _, doc = transcript(aws.s3, aws.ddb, session_id)
    assert len(doc["turns"]) == 6
    assert {t["turn_id"] for t in doc["turns"]} == {t["turn_id"] for t in stored}
    assert [t["created_at"] for t in doc["turns"]] == sorted(t["created_at"] for t in doc["turns"])
    # Both read the same version, so exactly one conditional PUT lost and was retried.
    assert s3.errors == ["put_object:PreconditionFailed"]
    bedrock.assert_no_pending_responses()
