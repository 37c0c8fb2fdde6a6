"""The escalation worker's handler under moto: accept (the experts' email), resolve (the late token),
notices (the customer's system turn), and records that fail alone."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError

from lambdas.common import clients, signing
from lambdas.common.escalations import EscalationNotFound
from lambdas.escalation_worker import handler as worker_handler
from tests.lambdas.escalation_worker.conftest import API_URL, BUSY, EMAIL_TURNS, HANDBACK, TABLE
from tests.lambdas.escalation_worker.helpers import (
    ANGRY,
    HANDOFF,
    SECRET,
    drain,
    escalate,
    sqs_record,
    stored_turns,
    table_item,
)

TOKEN = "AAAAKgAAAAIAAAAAAAAAAR4F+tAsk/Token/With+Slashes/And=Padding=="
REMINDER_TOKEN = "AAAAKgAAAAIAAAAAAAAAAR4F+tAsk/Second/Round+Token=="
# Invocations that only store a token emit no business metric; Powertools warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")


ACCEPT_SECONDS = 900


def entered_time(moment: datetime) -> str:
    """$$.State.EnteredTime: ISO 8601 (AWS-CONTRACTS.md), here with milliseconds and Z."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def accept_record(escalation, token: str = TOKEN, *, since: datetime | None = None, **kwargs):
    """Round `reminder` (default 0) of a wait that began at `since` (default now) and lasts ACCEPT_SECONDS."""
    waiting_since = entered_time(since or datetime.now(timezone.utc))
    return sqs_record("accept", session_id=escalation.session_id, escalation_id=escalation.escalation_id,
                      task_token=token, waiting_since=waiting_since, accept_seconds=ACCEPT_SECONDS, **kwargs)


def resolve_record(escalation, token: str = TOKEN):
    return sqs_record("resolve", session_id=escalation.session_id, escalation_id=escalation.escalation_id,
                      task_token=token)


def notice_record(escalation, notice: str, status: str = "timed_out"):
    return sqs_record("notice", session_id=escalation.session_id, escalation_id=escalation.escalation_id,
                      notice=notice, status=status)


def escalation_item(aws, escalation):
    return table_item(aws.ddb, TABLE, escalation.session_id, f"ESCALATION#{escalation.escalation_id}")


def set_status(aws, escalation, status: str) -> None:
    """What the state machine's Mark* states do."""
    aws.ddb.update_item(TableName=TABLE, Key={"session_id": {"S": escalation.session_id},
                                              "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": status}})


def link_in(message: str) -> str:
    (link,) = re.findall(r"https://\S+", message)
    return link


# accept ---------------------------------------------------------------------------------------------

def test_accept_keeps_the_token_and_mails_the_experts_a_signed_link_without_it(aws, invoke, logs):
    escalation = escalate(aws.store)
    since = datetime(2026, 11, 30, 9, 0, 0, 250_000, tzinfo=timezone.utc)

    assert invoke(accept_record(escalation, since=since)) == {"batchItemFailures": []}

    item = escalation_item(aws, escalation)
    assert item["accept_token"] == TOKEN and "notified_at" in item
    (email,) = drain(aws.sqs, aws.inbox)
    assert email["Subject"] == "Tandem: a customer needs an expert (negative_sentiment)"
    message = email["Message"]
    assert "negative_sentiment" in message and "strongly negative" in message
    assert "Sentiment:  negative, score 0.93 (detector: comprehend)" in message
    assert ANGRY in message and HANDOFF in message
    link = link_in(message)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{API_URL}escalations/{escalation.escalation_id}"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert set(query) == {"session_id", "exp", "sig"}
    assert query["session_id"] == escalation.session_id
    assert int(query["exp"]) == int((since + timedelta(seconds=ACCEPT_SECONDS)).timestamp())  # when the wait ends
    assert item["accept_deadline"] == "2026-11-30T09:15:00Z"
    signing.verify(SECRET.encode(), action="review", session_id=escalation.session_id,
                   escalation_id=escalation.escalation_id, expires=query["exp"], signature=query["sig"],
                   now=since.timestamp())
    with pytest.raises(signing.LinkInvalid):  # a review link is not a work link
        signing.verify(SECRET.encode(), action="work", session_id=escalation.session_id,
                       escalation_id=escalation.escalation_id, expires=query["exp"], signature=query["sig"],
                       now=since.timestamp())
    # The token and its parts are nowhere the experts or the logs can see.
    for text in (json.dumps(email), logs.text):
        assert TOKEN not in text and "Token/With+Slashes" not in text
    (entry,) = logs.entries("work message handled")
    assert (entry["outcome"], entry["escalation_id"], entry["kind"]) == (
        "experts_notified", escalation.escalation_id, "accept")


def test_with_a_site_url_the_email_also_opens_the_escalation_in_the_inbox_without_a_signature(
        aws, invoke, set_environment):
    set_environment({"SITE_URL": "https://tandem.example.com/"})
    escalation = escalate(aws.store)

    invoke(accept_record(escalation))

    (email,) = drain(aws.sqs, aws.inbox)
    inbox = f"https://tandem.example.com/inbox#{escalation.session_id}/{escalation.escalation_id}"
    assert email["Message"].count("https://") == 2 and f"\n{inbox}\n" in email["Message"]
    assert "Or open it in the inbox" in email["Message"]


def test_without_a_site_url_the_email_has_no_inbox_line(aws, invoke, set_environment):
    set_environment({"SITE_URL": ""})
    escalation = escalate(aws.store)

    invoke(accept_record(escalation))

    (email,) = drain(aws.sqs, aws.inbox)
    assert "inbox" not in email["Message"] and len(re.findall(r"https://\S+", email["Message"])) == 1


def test_the_email_shows_the_last_turns_cleaned_and_cut(aws, invoke):
    long_text = ("Dear support\r\n\tplease \x1b[31mread\x07 this \u202eevil\u202c " + "x" * 700 + " END")
    escalation = escalate(aws.store, history=3, customer_text=long_text)

    invoke(accept_record(escalation))

    (email,) = drain(aws.sqs, aws.inbox)
    message = email["Message"]
    # EMAIL_TURNS = 4: question 2, answer 2, the escalating turn, the hand-off; nothing older.
    assert f"The last {EMAIL_TURNS} turns" in message
    assert "question 2" in message and "answer 2" in message
    assert "question 1" not in message and "answer 1" not in message
    assert message.index("question 2") < message.index("answer 2") < message.index("Dear support") \
        < message.index(HANDOFF)
    (shown,) = [block for block in message.split("--- ") if block.startswith("Customer") and "Dear support" in block]
    text = shown.split("---\n", 1)[1].strip()
    assert len(text) == 500 and text.endswith("\u2026") and "END" not in text
    assert "Dear support\n please [31mread this evil " in text  # CRLF -> LF, tab -> space; ESC, BEL, bidi gone
    assert not [c for c in message if ord(c) < 32 and c != "\n"]
    assert len(message.encode()) < 64 * 1024


def test_a_redelivered_accept_mails_the_experts_once(aws, invoke):
    escalation = escalate(aws.store)
    record = accept_record(escalation)

    assert invoke(record) == {"batchItemFailures": []}
    assert invoke(record) == {"batchItemFailures": []}
    assert invoke(accept_record(escalation)) == {"batchItemFailures": []}  # same message, new id

    assert len(drain(aws.sqs, aws.inbox)) == 1
    assert escalation_item(aws, escalation)["accept_token"] == TOKEN


def test_a_failed_mail_is_sent_when_the_message_is_retried(aws, invoke, monkeypatch):
    escalation = escalate(aws.store)
    monkeypatch.setenv("EXPERTS_TOPIC_ARN", aws.topic_arn + "-gone")
    worker_handler.dependencies.reset()
    record = accept_record(escalation)

    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert "notified_at" not in escalation_item(aws, escalation)  # the claim was undone

    monkeypatch.setenv("EXPERTS_TOPIC_ARN", aws.topic_arn)
    worker_handler.dependencies.reset()
    assert invoke(record) == {"batchItemFailures": []}
    assert len(drain(aws.sqs, aws.inbox)) == 1


def test_an_accept_after_the_workflow_moved_on_mails_nobody(aws, invoke):
    escalation = escalate(aws.store)
    set_status(aws, escalation, "timed_out")

    assert invoke(accept_record(escalation)) == {"batchItemFailures": []}

    assert drain(aws.sqs, aws.inbox) == []
    assert escalation_item(aws, escalation)["accept_token"] == TOKEN


def test_a_reminder_round_keeps_its_token_and_reminds_the_experts_with_the_same_link(aws, invoke, logs):
    raised = datetime.now(timezone.utc) - timedelta(minutes=7, seconds=10)
    escalation = escalate(aws.store, requested_at=raised.isoformat().replace("+00:00", "Z"))
    since = raised + timedelta(seconds=2)  # the workflow started waiting just after the escalation was recorded
    assert invoke(accept_record(escalation, since=since)) == {"batchItemFailures": []}

    assert invoke(accept_record(escalation, REMINDER_TOKEN, since=since, reminder=1)) == {"batchItemFailures": []}

    first, reminder = drain(aws.sqs, aws.inbox)
    assert reminder["Subject"] == "Tandem reminder: a customer has waited 7 minutes for an expert (negative_sentiment)"
    message = reminder["Message"]
    assert message.startswith("REMINDER 1: a customer has been waiting 7 minutes for a human expert, and nobody "
                              "has accepted yet.")
    assert link_in(message) == link_in(first["Message"])  # the same signed review link
    query = {k: v[0] for k, v in parse_qs(urlsplit(link_in(message)).query).items()}
    signing.verify(SECRET.encode(), action="review", session_id=escalation.session_id,
                   escalation_id=escalation.escalation_id, expires=query["exp"], signature=query["sig"])
    assert ANGRY in message  # the conversation, as in the first email
    for text in (json.dumps(reminder), logs.text):
        assert TOKEN not in text and REMINDER_TOKEN not in text and "Token/With+Slashes" not in text
    item = escalation_item(aws, escalation)
    assert (item["accept_token"], item["accept_round"], item["reminders"]) == (REMINDER_TOKEN, "1", "1")
    assert item["reminded_at"] >= item["notified_at"]
    assert [e["outcome"] for e in logs.entries("work message handled")] == ["experts_notified", "experts_reminded"]


# resolve --------------------------------------------------------------------------------------------

def accept_and_resolve(aws, escalation) -> None:
    """What the expert API does, before the workflow's resolve token reached the worker."""
    aws.escalations.store_token(escalation.session_id, escalation.escalation_id, "accept", "accept-token")
    aws.escalations.accept(escalation.session_id, escalation.escalation_id, "expert@example.com")
    _, token = aws.escalations.resolve(escalation.session_id, escalation.escalation_id,
                                       expert="expert@example.com", note="refund re-issued", close=False)
    assert token is None


def test_resolve_keeps_the_token_while_the_expert_works(aws, invoke):
    escalation = escalate(aws.store)
    aws.escalations.store_token(escalation.session_id, escalation.escalation_id, "accept", "accept-token")
    aws.escalations.accept(escalation.session_id, escalation.escalation_id, "expert@example.com")

    assert invoke(resolve_record(escalation)) == {"batchItemFailures": []}

    assert escalation_item(aws, escalation)["resolve_token"] == TOKEN
    aws.sfn.assert_no_pending_responses()  # nothing queued: SendTaskSuccess would have failed the record


def test_resolve_after_the_expert_resolved_completes_the_task(aws, invoke, logs):
    escalation = escalate(aws.store)
    accept_and_resolve(aws, escalation)
    aws.sfn.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": "{}"})

    assert invoke(resolve_record(escalation)) == {"batchItemFailures": []}

    aws.sfn.assert_no_pending_responses()
    assert escalation_item(aws, escalation)["resolve_token"] == TOKEN
    assert [e["outcome"] for e in logs.entries("work message handled")] == ["resolve_completed"]
    assert TOKEN not in logs.text


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_resolve_ignores_a_task_that_already_ended(aws, invoke, code):
    escalation = escalate(aws.store)
    accept_and_resolve(aws, escalation)
    aws.sfn.add_client_error("send_task_success", service_error_code=code, http_status_code=400)

    assert invoke(resolve_record(escalation)) == {"batchItemFailures": []}
    aws.sfn.assert_no_pending_responses()


def test_a_failed_completion_is_retried_and_logged_without_the_token(aws, invoke, logs):
    escalation = escalate(aws.store)
    accept_and_resolve(aws, escalation)
    aws.sfn.add_client_error("send_task_success", service_error_code="ValidationException", http_status_code=400,
                             service_message=f"Value '{TOKEN}' at 'taskToken' failed to satisfy constraint")
    record = resolve_record(escalation)

    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}

    (entry,) = logs.entries("work message failed")
    assert entry["error"] == "CallbackFailed" and "ValidationException" in entry["detail"]
    assert TOKEN not in logs.text


# notices --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("notice, status, text", [("busy", "timed_out", BUSY), ("failed", "failed", BUSY),
                                                  ("expert_left", "timed_out", HANDBACK)])
def test_a_notice_writes_one_system_turn(aws, invoke, notice, status, text):
    escalation = escalate(aws.store)
    set_status(aws, escalation, status)  # the state machine records the status before it sends the notice
    record = notice_record(escalation, notice, status)

    assert invoke(record) == {"batchItemFailures": []}
    assert invoke(record) == {"batchItemFailures": []}  # redelivered
    assert invoke(notice_record(escalation, notice, status)) == {"batchItemFailures": []}  # sent twice

    turns = stored_turns(aws.ddb, TABLE, escalation.session_id)
    assert [t["text"] for t in turns if t["role"] == "system"] == [HANDOFF, text]
    assert turns[-1]["text"] == text  # the latest turn of the conversation
    assert f"notice_{notice}_at" in escalation_item(aws, escalation)
    assert drain(aws.sqs, aws.inbox) == []  # notices are for the customer, not the experts


def test_a_notice_whose_write_failed_is_completed_by_its_retry(aws, invoke):
    escalation = escalate(aws.store)
    set_status(aws, escalation, "timed_out")
    real = clients.client("dynamodb")
    failures = iter([True])

    class FailsOnce:
        def __getattr__(self, name):
            return getattr(real, name)

        def transact_write_items(self, **kwargs):
            if next(failures, False):
                raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")
            return real.transact_write_items(**kwargs)

    clients.set_client("dynamodb", FailsOnce())
    record = notice_record(escalation, "busy")

    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
    assert BUSY not in [t["text"] for t in stored_turns(aws.ddb, TABLE, escalation.session_id)]
    assert invoke(record) == {"batchItemFailures": []}
    assert [t["text"] for t in stored_turns(aws.ddb, TABLE, escalation.session_id)].count(BUSY) == 1


# failures -------------------------------------------------------------------------------------------

def test_malformed_records_fail_alone_and_are_logged_without_their_body(aws, invoke, logs):
    escalation = escalate(aws.store)
    set_status(aws, escalation, "pending")
    secret_body = json.dumps({"kind": "accept", "session_id": escalation.session_id, "task_token": TOKEN})
    bad = [
        sqs_record(body="{not json " + TOKEN),
        sqs_record(body=json.dumps({"kind": "approve", "session_id": "s", "escalation_id": "e"})),
        sqs_record(body=secret_body),  # no escalation_id
        sqs_record("notice", session_id=escalation.session_id, escalation_id=escalation.escalation_id,
                   notice="party"),
        sqs_record(body=json.dumps([1, 2])),
        sqs_record("accept", session_id="../../etc", escalation_id=escalation.escalation_id, task_token=TOKEN),
    ]
    good = [accept_record(escalation), notice_record(escalation, "busy")]

    response = invoke(bad[0], good[0], *bad[1:4], good[1], *bad[4:])

    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in bad]}
    assert len(drain(aws.sqs, aws.inbox)) == 1
    assert [t["text"] for t in stored_turns(aws.ddb, TABLE, escalation.session_id)].count(BUSY) == 1
    malformed = logs.entries("malformed work message")
    assert [(entry["message_id"], entry["field"]) for entry in malformed] == [
        (bad[0]["messageId"], "body"), (bad[1]["messageId"], "kind"), (bad[2]["messageId"], "escalation_id"),
        (bad[3]["messageId"], "notice"), (bad[4]["messageId"], "body"), (bad[5]["messageId"], "session_id")]
    assert all(entry["level"] == "ERROR" for entry in malformed)
    assert TOKEN not in logs.text


def test_a_batch_of_only_bad_records_reports_each_instead_of_raising(aws, invoke):
    records = [sqs_record(body=""), sqs_record(body="[]")]
    assert invoke(*records) == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}


def test_a_notice_for_an_unknown_escalation_fails_that_record(aws, invoke, logs):
    escalation = escalate(aws.store)
    record = sqs_record("notice", session_id=escalation.session_id, escalation_id="no-such-escalation",
                        notice="busy")

    assert invoke(record) == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}

    assert len([t for t in stored_turns(aws.ddb, TABLE, escalation.session_id) if t["role"] == "system"]) == 1
    (entry,) = logs.entries("work message failed")
    assert entry["error"] == EscalationNotFound.__name__ and entry["escalation_id"] == "no-such-escalation"


def test_a_missing_setting_fails_the_whole_invocation(aws, invoke, monkeypatch):
    monkeypatch.delenv("SESSION_TTL_DAYS")
    worker_handler.dependencies.reset()
    with pytest.raises(ValueError, match="SESSION_TTL_DAYS is required"):
        invoke(sqs_record("notice"))
