"""Faults are contained on the side of the human: Bedrock throttling and errors, a failing gate, failing storage.

Retries are botocore's own (standard mode, configured in handler.bedrock_config). A Stubber answers before
botocore's retry loop, so the retry tests script the HTTP responses instead (helpers.script_http) and drive the
real clients the handler builds, with their real retry configuration.
"""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from lambdas.chatbot import handler as chatbot_handler
from lambdas.common import clients
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.conftest import BUCKET, TABLE
from tests.lambdas.chatbot.helpers import (
    bucket_keys,
    emitted_metrics,
    escalation_items,
    http_json,
    script_http,
    table_count,
    throttled,
    transcript,
    turn_items,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """botocore's standard mode sleeps up to 2**attempt seconds between attempts; the tests need not wait."""
    delays = []

    def delay_amount(self, context):
        delays.append(context.attempt_number)
        return 0

    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", delay_amount)
    return delays


def answer_http(replies):
    """Builds the service (so the answer's client has the handler's retry config) and scripts its HTTP replies."""
    chatbot_handler.dependencies.get()
    return script_http(clients.client("bedrock-runtime"), "Converse", replies)


def ok(text: str):
    return http_json(200, converse_text(text))


# Throttling and retries ------------------------------------------------------------------------------------

def test_throttling_then_success_answers(aws, chat, capsys, no_backoff):
    sent = answer_http([throttled(), ok("Use the 'Forgot password' link.")])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == "Use the 'Forgot password' link."
    assert body["escalated"] is False and "error" not in body
    assert len(sent) == 2
    assert sent[0] == sent[1]  # the same request, retried
    assert no_backoff == [1]  # botocore backed off once
    bot = turn_items(aws.ddb, body["session_id"])[1]
    assert bot["text"] == "Use the 'Forgot password' link." and "error" not in bot
    assert "ModelFailures" not in emitted_metrics(capsys.readouterr().out)


@pytest.mark.parametrize("attempts", [1, 3])
def test_bedrock_max_attempts_bounds_the_calls(aws, chat, configure, attempts):
    configure(bedrock_max_attempts=attempts)
    # One more success than the budget allows: an extra attempt would turn the failure into an answer.
    sent = answer_http([throttled() for _ in range(attempts)] + [ok("too late")])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert len(sent) == attempts
    assert body["error"] == "ThrottlingException"
    assert body["reply"] != "too late"


def test_throttling_on_every_attempt_apologises_and_escalates(aws, chat, configure, capsys):
    settings = configure(escalate_on_model_error=True, bedrock_max_attempts=3)
    sent = answer_http([throttled() for _ in range(3)])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert len(sent) == 3
    assert body["reply"] == f"{settings['model_error_message']} {settings['handoff_message']}"
    assert body["reply"].startswith(settings["model_error_message"])
    assert body["error"] == "ThrottlingException"
    assert body["escalated"] is True
    assert body["escalation"]["reason"] == "model_error"
    customer, reply = turn_items(aws.ddb, body["session_id"])
    assert reply["role"] == "system"
    assert reply["error"] == "ThrottlingException"
    assert reply["text"] == body["reply"]
    assert customer["sentiment"]["detector"] == "vader"  # the gate still ran
    (item,) = escalation_items(aws.ddb, body["session_id"])
    assert item["status"] == "pending"
    _, doc = transcript(aws, body["session_id"])
    assert doc["turns"][1]["error"] == "ThrottlingException"
    assert [e["reason"] for e in doc["escalations"]] == ["model_error"]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics.get("ModelFailures") == 1 and metrics.get("Escalations") == 1


def test_throttling_without_escalation_on_model_error_records_the_error(aws, chat, configure):
    settings = configure(escalate_on_model_error=False, bedrock_max_attempts=2)
    answer_http([throttled(), throttled()])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == settings["model_error_message"]
    assert body["escalated"] is False and "escalation" not in body
    assert body["error"] == "ThrottlingException"
    customer, reply = turn_items(aws.ddb, body["session_id"])
    assert (reply["role"], reply["error"]) == ("bot", "ThrottlingException")
    assert reply["model_id"] == settings["model_id"]
    assert escalation_items(aws.ddb, body["session_id"]) == []
    _, doc = transcript(aws, body["session_id"])
    assert doc["turns"][1]["error"] == "ThrottlingException"


def test_read_timeouts_are_retried_then_contained(aws, chat, configure):
    configure(escalate_on_model_error=False, bedrock_max_attempts=2)

    def timeout(request):
        raise ReadTimeoutError(endpoint_url=request.url)

    sent = answer_http([timeout, timeout])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert len(sent) == 2
    assert body["error"] == "ReadTimeoutError"


@pytest.mark.parametrize(("code", "http_status"), [
    ("ValidationException", 400), ("AccessDeniedException", 403), ("ResourceNotFoundException", 404),
    ("ModelErrorException", 424), ("ServiceUnavailableException", 503),
])
def test_model_errors_become_an_apology(aws, bedrock, chat, configure, code, http_status):
    settings = configure(escalate_on_model_error=False)
    bedrock.add_client_error("converse", service_error_code=code, http_status_code=http_status)

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == settings["model_error_message"]
    assert turn_items(aws.ddb, body["session_id"])[1]["error"] == code


def test_an_empty_answer_is_a_model_failure(aws, bedrock, chat, configure):
    settings = configure(escalate_on_model_error=False)
    bedrock.add_response("converse", converse_text("   "))

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == settings["model_error_message"]
    assert body["error"] == "EmptyAnswer"


# The gate fails -------------------------------------------------------------------------------------------

def test_comprehend_failure_lets_the_answer_through(aws, bedrock, comprehend, chat, configure, capsys):
    configure(sentiment_detector="comprehend")
    comprehend.add_client_error("detect_sentiment", service_error_code="InternalServerException",
                                http_status_code=500)
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link."))

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == "Use the 'Forgot password' link."
    assert body["escalated"] is False
    customer, bot = turn_items(aws.ddb, body["session_id"])
    assert "sentiment" not in customer
    _, doc = transcript(aws, body["session_id"])
    assert "sentiment" not in doc["turns"][0]
    assert emitted_metrics(capsys.readouterr().out).get("GateFailures") == 1
    comprehend.assert_no_pending_responses()


def test_a_throttled_llm_gate_retries_once_then_lets_the_answer_through(aws, bedrock, chat, configure, capsys):
    configure(sentiment_detector="llm", bedrock_max_attempts=3)
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link."))
    chatbot_handler.dependencies.get()
    gate_sent = script_http(clients.client("bedrock-runtime", purpose="gate"), "Converse",
                            [throttled(), throttled(), throttled()])

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 200
    assert body["reply"] == "Use the 'Forgot password' link."
    assert len(gate_sent) == 2  # the gate's client: one retry, whatever bedrock_max_attempts says
    assert "sentiment" not in turn_items(aws.ddb, body["session_id"])[0]
    assert emitted_metrics(capsys.readouterr().out).get("GateFailures") == 1


# Storage fails ---------------------------------------------------------------------------------------------

def test_the_turn_never_waits_on_s3_and_the_outbox_writes_the_transcript_once_s3_is_back(aws, bedrock, chat, capsys):
    bedrock.add_response("converse", converse_text("first answer"))
    aws.s3.delete_bucket(Bucket=BUCKET)

    status, first = chat({"message": "first question"})

    assert status == 200 and first["reply"] == "first answer"
    assert [t["text"] for t in turn_items(aws.ddb, first["session_id"])] == ["first question", "first answer"]
    for _ in range(3):  # the stream consumer fails, and its records are delivered again
        aws.outbox.poller.poll()
    assert aws.outbox.poller.failures == 3
    assert emitted_metrics(capsys.readouterr().out).get("TranscriptWriteFailures") == 3

    aws.s3.create_bucket(Bucket=BUCKET)
    _, doc = transcript(aws, first["session_id"])
    assert [t["text"] for t in doc["turns"]] == ["first question", "first answer"]


def test_a_failed_dynamodb_write_answers_503_and_writes_nothing(aws, bedrock, chat, capsys):
    bedrock.add_response("converse", converse_text("an answer"))
    aws.ddb.delete_table(TableName=TABLE)

    status, body = chat({"message": "How do I reset my password?"})

    assert status == 503
    assert body["error"]["field"] is None
    assert "resend" in body["error"]["message"]
    assert bucket_keys(aws.s3) == []
    assert emitted_metrics(capsys.readouterr().out).get("StorageFailures") == 1


def test_a_503_leaves_the_table_untouched_for_an_existing_session(aws, bedrock, chat, monkeypatch):
    bedrock.add_response("converse", converse_text("first answer"))
    bedrock.add_response("converse", converse_text("second answer"))
    _, first = chat({"message": "first question"})
    before = table_count(aws.ddb)
    real = clients.client("dynamodb")

    class FailingTransactions:
        def __getattr__(self, name):
            return getattr(real, name)

        def transact_write_items(self, **kwargs):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")

    clients.set_client("dynamodb", FailingTransactions())

    status, _ = chat({"message": "second question", "session_id": first["session_id"]})

    assert status == 503
    assert table_count(aws.ddb) == before
    _, doc = transcript(aws, first["session_id"])
    assert len(doc["turns"]) == 2


def test_an_unreadable_transcript_does_not_fail_the_turn_and_is_rebuilt_from_the_table(aws, bedrock, chat, capsys):
    bedrock.add_response("converse", converse_text("first answer"))
    bedrock.add_response("converse", converse_text("second answer"))
    _, first = chat({"message": "first question"})
    key, doc = transcript(aws, first["session_id"])
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"turns": [truncated')  # e.g. a hand-edited object

    status, second = chat({"message": "second question", "session_id": first["session_id"]})

    assert status == 200
    assert second["reply"] == "second answer"
    _, doc = transcript(aws, first["session_id"])
    assert [t["text"] for t in doc["turns"]] == ["first question", "first answer", "second question", "second answer"]
    assert emitted_metrics(capsys.readouterr().out).get("TranscriptsRebuilt") == 1


def test_a_stalled_gate_gets_a_short_grace_not_its_whole_retry_budget(aws, bedrock, chat, capsys):
    release, finished = threading.Event(), threading.Event()

    class Stalled:
        name = "stalled"

        def detect(self, text):
            release.wait(30)  # a detector whose call hangs until its read time-out
            finished.set()

    service = chatbot_handler.dependencies.get()
    service.detector, service.gate_grace_seconds = Stalled(), 0.05
    bedrock.add_response("converse", converse_text("Use the 'Forgot password' link."))
    try:
        status, body = chat({"message": "How do I reset my password?"})
        gate_was_still_running = not finished.is_set()
    finally:
        release.set()

    assert gate_was_still_running  # the reply did not wait for the detector
    assert status == 200 and body["reply"] == "Use the 'Forgot password' link."
    assert "sentiment" not in turn_items(aws.ddb, body["session_id"])[0]
    assert emitted_metrics(capsys.readouterr().out).get("GateFailures") == 1
