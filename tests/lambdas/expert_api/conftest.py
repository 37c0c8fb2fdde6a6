"""Fixtures for the expert API: the real handler over moto (DynamoDB, S3, Secrets Manager) and botocore
Stubbers for Step Functions and Comprehend (the PII masking of the knowledge export, on as in production).

A Stubber with nothing queued fails any call it receives, so a test that queues nothing for Step Functions
also proves the workflow was not touched. The Comprehend Stubber is installed for every test: a resolve
that queues no DetectPiiEntities answer finds Comprehend failing, and the knowledge export is skipped.
Each test starts with one session whose escalation is pending and whose accept task token the escalation
worker has stored, as in production before the experts' email.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable
from urllib.parse import urlencode

import pytest
from botocore.stub import Stubber

from lambdas.common import signing
from lambdas.common.escalations import EscalationStore
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import EscalationRecord, Sentiment, Turn

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_ESCALATION_ID = "0b7e1f3a-5c2d-4e8f-9a61-2d3c4b5a6f70"  # the id in tests/events/expert_*.json
TABLE = "tandem-sessions-expert"
KNOWLEDGE_BUCKET = "tandem-knowledge-expert"
KNOWLEDGE_PREFIX = "escalations/"
LANGUAGE_CODE = "en"
SECRET = "s" * 24 + "-link-signing-secret-for-tests-0123456789"
KEY = SECRET.encode()
HANDBACK = "The expert has finished helping you; the assistant is back."
RESOLVE_TIMEOUT_SECONDS = 86400
EXECUTIONS = "arn:aws:states:us-east-1:123456789012:execution:tandem-human-escalation"
# Shaped like real task tokens (they contain + / =), and unmistakable in any output.
ACCEPT_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAaccept+TOKEN/secret=0001=="
RESOLVE_TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAresolve+TOKEN/secret=0002=="
CUSTOMER_TEXT = "My router <script>alert('x')</script> keeps dropping & I'm angry"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


@pytest.fixture
def aws(aws, set_environment):
    """The API's table, knowledge bucket and link-signing secret, its environment, and Comprehend as a
    Stubber (`aws.comprehend`)."""
    aws.create("sessions_table", TABLE)
    aws.create("knowledge_bucket", KNOWLEDGE_BUCKET)
    secret_arn = aws.create("link_signing_secret", "tandem-link-signing", secret_string=SECRET)
    set_environment({"SESSIONS_TABLE": TABLE, "SIGNING_SECRET_ARN": secret_arn, "KNOWLEDGE_BUCKET": KNOWLEDGE_BUCKET,
                     "KNOWLEDGE_PREFIX": KNOWLEDGE_PREFIX, "HANDBACK_MESSAGE": HANDBACK,
                     "RESOLVE_TIMEOUT_SECONDS": str(RESOLVE_TIMEOUT_SECONDS), "SESSION_TTL_DAYS": "90",
                     "MAX_REPLY_CHARS": None, "REDACT_PII": "true", "LANGUAGE_CODE": LANGUAGE_CODE})
    aws.comprehend = aws.stub("comprehend")
    return aws


@pytest.fixture
def sfn(aws) -> Stubber:
    """The Step Functions client the API uses; queue the calls a test expects."""
    return aws.stub("stepfunctions")


@pytest.fixture
def comprehend(aws) -> Stubber:
    """The Comprehend client the API uses; queue the DetectPiiEntities answers a test expects (`pii_found`)."""
    return aws.comprehend


def pii_found(stubber: Stubber, text: str, entities: list[tuple[str, str]] = ()) -> None:
    """Queues Comprehend's answer for `text`, expected exactly (and in English): each (type, substring)
    becomes an entity at the substring's first occurrence."""
    found = []
    for kind, part in entities:
        begin = text.index(part)
        found.append({"Type": kind, "Score": 0.99, "BeginOffset": begin, "EndOffset": begin + len(part)})
    stubber.add_response("detect_pii_entities", {"Entities": found}, {"Text": text, "LanguageCode": LANGUAGE_CODE})


@pytest.fixture
def escalation(aws, sfn) -> SimpleNamespace:
    """A session where the customer's angry turn raised an escalation, now pending with its accept token."""
    sessions = SessionStore(table_name=TABLE, ttl_days=90)
    session = sessions.new_session("8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "customer-sub-1")
    sessions.record(session, [Turn(role="customer", text="Hi, my internet is slow"),
                              Turn(role="bot", text="Have you tried restarting the router?")])
    angry = Turn(role="customer", text=CUSTOMER_TEXT,
                 sentiment=Sentiment(label="negative", score=0.93, detector="comprehend"))
    record = EscalationRecord(session_id=session.session_id, reason="negative_sentiment", turn_id=angry.turn_id,
                              sentiment=angry.sentiment,
                              explanation={"rule": "negative_sentiment", "signal": "comprehend negative 0.93 >= 0.75",
                                           "excerpt": CUSTOMER_TEXT})
    sessions.record(session, [angry, Turn(role="system", text="I'm bringing in a human expert.")], record)
    store = EscalationStore(table_name=TABLE)
    execution_arn = f"{EXECUTIONS}:{record.escalation_id}"
    aws.ddb.update_item(  # what the workflow's RecordPending step writes
        TableName=TABLE, Key={"session_id": {"S": session.session_id}, "sk": {"S": f"ESCALATION#{record.escalation_id}"}},
        UpdateExpression="SET execution_arn = :arn", ExpressionAttributeValues={":arn": {"S": execution_arn}})
    store.store_token(session.session_id, record.escalation_id, "accept", ACCEPT_TOKEN)
    return SimpleNamespace(session_id=session.session_id, escalation_id=record.escalation_id, record=record,
                           angry=angry, store=store, sessions=sessions, session=session, execution_arn=execution_arn)


# Links and events -----------------------------------------------------------------------------------------

def link(action: str, esc: SimpleNamespace, *, expires: int | None = None) -> dict[str, str]:
    expires = int(time.time()) + 600 if expires is None else expires
    return {"session_id": esc.session_id, "exp": str(expires),
            "sig": signing.sign(KEY, action=action, session_id=esc.session_id, escalation_id=esc.escalation_id,
                                expires=expires)}


def expert_event(name: str, escalation_id: str, *, query: dict[str, str] | None = None,
                 form: dict[str, str] | None = None, json_body: Any = None, raw_body: str | None = None,
                 headers: dict[str, str] | None = None) -> dict[str, Any]:
    """tests/events/expert_<name>.json for this escalation, with this query / body."""
    text = (EVENTS / f"expert_{name}.json").read_text().replace(SAMPLE_ESCALATION_ID, escalation_id)
    event = json.loads(text)
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    if form is not None:
        event["body"] = urlencode(form)
    if json_body is not None:
        event["body"] = json.dumps(json_body)
        event["headers"]["Content-Type"] = "application/json"
    if raw_body is not None:
        event["body"] = raw_body
    event["headers"].update(headers or {})
    return event


@pytest.fixture
def call(invoke) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Invokes the real handler; returns its raw API Gateway response."""
    return invoke


@pytest.fixture
def log_output(logs) -> io.StringIO:
    """What the function's Powertools logger writes, as text."""
    return logs.stream


@pytest.fixture
def accepted(escalation, sfn, call) -> SimpleNamespace:
    """The escalation accepted by Ann through the API; the worker has stored the resolve token."""
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})
    response = call(expert_event("accept", escalation.escalation_id,
                                 form={**link("review", escalation), "expert": "Ann"}))
    assert response["statusCode"] == 303, response["body"]
    sfn.assert_no_pending_responses()
    escalation.store.store_token(escalation.session_id, escalation.escalation_id, "resolve", RESOLVE_TOKEN)
    escalation.console_path = response["headers"]["Location"]
    return escalation
