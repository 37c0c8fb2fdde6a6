"""Human escalation end to end, in one process under one moto mock: the real chatbot, stream consumer,
escalation worker and expert API handlers, the real state machine definition executed by moto (with Step
Functions execution on), the table's stream and the work queue delivered to their consumers as their event
sources would, SNS emails captured in SQS inboxes. Only Bedrock is stubbed; the vader detector makes no
gate call.

1. the customer chats, then asks for a person: hand-off reply; the turn only wrote the table, and the outbox
   starts an execution named after the escalation;
2. the experts' email: reason, last turns, a signed review link, no task token;
3. the expert opens the link (a GET changes nothing) and accepts: the workflow waits for resolve;
4. the customer writes while the expert owns the conversation (no model call); the expert replies and the
   customer gets the reply by polling and with their next message;
5. the expert resolves: the workflow succeeds, the session is handed back, the knowledge document is
   written, the transcript holds the whole conversation;
6. the bot answers again.
And: nobody accepts in time -> fallback email, busy notice, the bot answers again.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from lambdas.common import signing
from stacks.config import TandemConfig
from testing.outbox import Outbox
from tests.end_to_end_helpers import (
    EXPERT_API_URL,
    KNOWLEDGE_BUCKET,
    STAGE,
    Bedrock,
    Customer,
    ExpertBrowser,
    bucket_objects,
    forms_of,
    inbox,
    page_text,
    stack_environment,
    table_scan,
)
from tests.lambdas.escalation_worker.conftest import TABLE
from tests.lambdas.escalation_worker.helpers import SECRET
from tests.statemachines import conftest as workflow
from tests.statemachines.conftest import BUCKET

flow, moto_config = workflow.flow, workflow.moto_config  # the workflow's world, executed by moto

# Handler invocations that emit no business metric make Powertools warn.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

CONFIG = replace(TandemConfig(), sentiment_detector="vader")  # cdk.json defaults, offline gate
EXPERT = "Ann Expert"
LONG = 900  # the default accept time-out (15 minutes), never reached here
WAIT = 8.0  # seconds any single wait may take before the test fails (moto notices a callback within 0.5 s)


class World(SimpleNamespace):
    def connect(self, *, accept_seconds: int, resolve_seconds: int) -> str:
        """Creates the state machine (the definition with the stack's substitutions) and gives the three
        Lambdas the stacks' environment; returns the state machine ARN."""
        arn = self.flow.state_machine(accept_seconds=accept_seconds, resolve_seconds=resolve_seconds,
                                      reminder_seconds=CONFIG.expert_reminder_minutes * 60)
        environment = stack_environment(CONFIG, flow=self.flow, state_machine_arn=arn)
        self.set_environment(environment)
        self.flow.outbox = Outbox(TABLE)
        return arn

    def execution_of(self, state_machine_arn: str, escalation_id: str) -> dict:
        executions = self.flow.sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        (execution,) = [e for e in executions if e["name"] == escalation_id]
        return self.flow.describe(execution["executionArn"])

    def experts_mail(self) -> list[dict]:
        return inbox(self.flow.sqs, self.flow.experts_inbox)

    def fallback_mail(self) -> list[dict]:
        return inbox(self.flow.sqs, self.flow.fallback_inbox)

    def escalation(self, session_id: str, escalation_id: str) -> SimpleNamespace:
        """What Flow's readers need to find an escalation."""
        return SimpleNamespace(session_id=session_id, escalation_id=escalation_id)

    def snapshot(self) -> tuple:
        """Everything a request could change: the table and both conversation buckets."""
        s3 = self.flow.s3
        return table_scan(self.flow.ddb), bucket_objects(s3, BUCKET), bucket_objects(s3, KNOWLEDGE_BUCKET)


@pytest.fixture
def world(flow, aws, set_environment):
    aws.create("knowledge_bucket", KNOWLEDGE_BUCKET)
    bedrock = Bedrock(aws)  # before the chatbot builds its model, which takes the client from `clients`
    return World(flow=flow, bedrock=bedrock, set_environment=set_environment, customer=Customer(),
                 expert=ExpertBrowser())


def the_only(items: list, what: str):
    assert len(items) == 1, f"expected one {what}, got {len(items)}: {items}"
    return items[0]


def wait_for_mail(world: World, read) -> list[dict]:
    """Pumps the work queue into the worker until an inbox holds mail (bounded)."""
    mail: list[dict] = []

    def arrived() -> bool:
        mail.extend(read())
        return bool(mail)

    world.flow.run_until(arrived, timeout=WAIT, what="an email")
    return mail


def test_a_customer_is_helped_by_an_expert_and_the_bot_takes_over_again(world):
    flow, bedrock, customer, expert = world.flow, world.bedrock, world.customer, world.expert
    state_machine = world.connect(accept_seconds=LONG, resolve_seconds=CONFIG.resolve_timeout_hours * 3600)
    started = time.monotonic()

    # 1. A normal answer, then the customer asks for a person ----------------------------------------------
    bedrock.will_answer("Click 'Forgot password' on the sign-in page.")
    first = customer.says("How do I reset my password?")
    assert (first["reply"], first["escalated"]) == ("Click 'Forgot password' on the sign-in page.", False)
    assert "expert_active" not in first
    assert flow.sfn.list_executions(stateMachineArn=state_machine)["executions"] == []

    handoff = customer.says("I want to talk to a person")
    assert handoff["escalated"] is True
    assert handoff["reply"] == CONFIG.handoff_message
    assert len(bedrock.calls) == 1  # an explicit request for a human is settled without the model
    bedrock.assert_all_used()
    escalation_id = handoff["escalation"]["escalation_id"]
    assert handoff["escalation"] == {"escalation_id": escalation_id, "reason": "human_requested",
                                     "status": "pending", "new": True}
    session_id = customer.session_id
    escalation = world.escalation(session_id, escalation_id)
    assert flow.sfn.list_executions(stateMachineArn=state_machine)["executions"] == []  # only the table so far
    flow.outbox.drain()
    execution = world.execution_of(state_machine, escalation_id)  # named after the escalation
    execution_arn = execution["executionArn"]
    assert execution["status"] == "RUNNING"
    execution_input = json.loads(execution["input"])
    assert {k: execution_input[k] for k in ("session_id", "escalation_id", "reason")} == {
        "session_id": session_id, "escalation_id": escalation_id, "reason": "human_requested"}

    # 2. The experts' email ------------------------------------------------------------------------------------
    email = the_only(wait_for_mail(world, world.experts_mail), "experts email")
    assert flow.escalation_item(escalation)["execution_arn"] == execution_arn  # RecordPending tied them
    assert flow.state(escalation).accept_token in flow.tokens
    message = email["Message"]
    assert "human_requested" in email["Subject"]
    assert "the customer asked for a person (human_requested)" in message
    for said in ("How do I reset my password?", "Click 'Forgot password' on the sign-in page.",
                 "I want to talk to a person", CONFIG.handoff_message):
        assert said in message
    assert message.index("How do I reset my password?") < message.index("I want to talk to a person")
    assert flow.tokens and not [t for t in flow.tokens if t in json.dumps(email)]
    link = the_only(re.findall(r"https://\S+", message), "link")
    assert link.startswith(f"{EXPERT_API_URL}escalations/{escalation_id}?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
    assert set(query) == {"session_id", "exp", "sig"} and query["session_id"] == session_id
    signing.verify(SECRET.encode(), action="review", session_id=session_id, escalation_id=escalation_id,
                   expires=query["exp"], signature=query["sig"])
    assert LONG - 60 <= int(query["exp"]) - time.time() <= LONG
    assert world.fallback_mail() == []

    # 3. The expert opens the link (a GET changes nothing), then accepts -----------------------------------------
    before = world.snapshot()
    review = expert.open(link)
    assert review["statusCode"] == 200, review["body"]
    assert world.snapshot() == before
    page = page_text(review["body"])
    assert "I want to talk to a person" in page and "human_requested" in page
    accept_form = the_only(forms_of(review["body"]), "form on the review page")
    assert accept_form["action"] == f"/{STAGE}/escalations/{escalation_id}/accept"

    accepted = expert.submit(accept_form, expert=EXPERT)
    assert accepted["statusCode"] == 303, accepted["body"]
    console_url = accepted["headers"]["Location"]
    assert console_url.startswith(f"/{STAGE}/escalations/{escalation_id}/console?")
    flow.run_until(lambda: flow.current_state(execution_arn) == "WaitForResolve"
                   and flow.state(escalation).resolve_token is not None, timeout=WAIT, what="WaitForResolve")
    assert flow.describe(execution_arn)["status"] == "RUNNING"
    state = flow.state(escalation)
    assert (state.record.status, state.record.accepted_by) == ("accepted", EXPERT)
    session = flow.session_item(escalation)
    assert (session["owner"], session["open_escalation_id"]) == (EXPERT, escalation_id)

    # 4. The customer writes while the expert owns the conversation; the expert replies ---------------------------
    owned = customer.says("My order 1234 arrived with the wrong colour.")
    assert owned["reply"] is None and owned["escalated"] is False
    assert (owned.get("expert_active"), owned.get("expert")) == (True, EXPERT)
    assert "messages" not in owned  # the hand-off was delivered with its turn
    assert len(bedrock.calls) == 1  # no model (and the vader gate calls nothing)
    all_so_far = customer.polls()["messages"]
    customer_turn = the_only([m for m in all_so_far if m["turn_id"] == owned["turn_id"]], "stored customer turn")
    assert (customer_turn["role"], customer_turn["text"]) == ("customer", "My order 1234 arrived with the wrong colour.")

    console = expert.open(console_url)
    assert console["statusCode"] == 200, console["body"]
    assert "My order 1234 arrived with the wrong colour." in page_text(console["body"])
    reply_form, _ = forms_of(console["body"])
    assert reply_form["action"] == f"/{STAGE}/escalations/{escalation_id}/reply"
    reply_text = "Sorry about that! I have sent the right colour today; keep the other one."
    replied = expert.submit(reply_form, text=reply_text)
    assert replied["statusCode"] == 303, replied["body"]

    polled = customer.polls(after=customer_turn["created_at"])
    assert (polled["expert_active"], polled["expert"], polled["closed"]) == (True, EXPERT, False)
    expert_turn = the_only(polled["messages"], "new message")
    assert (expert_turn["role"], expert_turn["text"]) == ("expert", reply_text)

    thanks = customer.says("Great, thank you!")
    assert thanks["reply"] is None and thanks.get("expert_active") is True
    assert thanks["messages"] == [expert_turn]
    assert len(bedrock.calls) == 1

    # 5. The expert resolves with a note --------------------------------------------------------------------------
    console = expert.open(console_url)
    assert console["statusCode"] == 200, console["body"]
    assert reply_text in page_text(console["body"])
    _, resolve_form = forms_of(console["body"])
    assert resolve_form["action"] == f"/{STAGE}/escalations/{escalation_id}/resolve"
    note = "Wrong colour shipped; replacement sent, customer keeps the first one."
    resolved = expert.submit(resolve_form, note=note)
    assert resolved["statusCode"] == 200, resolved["body"]
    assert "The conversation is back with the assistant." in page_text(resolved["body"])

    described = flow.finish(execution_arn, timeout=WAIT)
    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution_arn) == [
        "Configure", "RecordPending", "StartAcceptWait", "PlanAcceptRound", "RoundUntilReminder",
        "NotifyExpertsAndWaitForAccept", "WaitForResolve", "Resolved"]
    state = flow.state(escalation)
    assert (state.record.status, state.record.accepted_by, state.record.note) == ("resolved", EXPERT, note)
    session = flow.session_item(escalation)
    assert not {"owner", "open_escalation_id", "closed_at"} & set(session)
    assert flow.failed_records == []

    prefix = CONFIG.knowledge_export_prefix
    knowledge = bucket_objects(flow.s3, KNOWLEDGE_BUCKET)
    assert set(knowledge) == {f"{prefix}{escalation_id}.txt", f"{prefix}{escalation_id}.txt.metadata.json"}
    document = knowledge[f"{prefix}{escalation_id}.txt"].decode()
    assert document.splitlines()[-6:] == [  # exported as written: REDACT_PII=false
        "Customer: I want to talk to a person",
        "Customer: My order 1234 arrived with the wrong colour.",
        f"Expert: {reply_text}",
        "Customer: Great, thank you!",
        "",
        f"Expert's note: {note}",
    ]
    attributes = json.loads(knowledge[f"{prefix}{escalation_id}.txt.metadata.json"])["metadataAttributes"]
    assert (attributes["escalation_id"], attributes["reason"]) == (escalation_id, "human_requested")

    transcript = flow.transcript(escalation)
    assert [(t["role"], t["text"]) for t in transcript["turns"]] == [
        ("customer", "How do I reset my password?"),
        ("bot", "Click 'Forgot password' on the sign-in page."),
        ("customer", "I want to talk to a person"),
        ("system", CONFIG.handoff_message),
        ("customer", "My order 1234 arrived with the wrong colour."),
        ("expert", reply_text),
        ("customer", "Great, thank you!"),
        ("system", CONFIG.handback_message),
    ]
    recorded = the_only(transcript["escalations"], "escalation in the transcript")
    assert (recorded["escalation_id"], recorded["status"], recorded["accepted_by"], recorded["note"]) == (
        escalation_id, "resolved", EXPERT, note)

    # 6. The bot answers again -----------------------------------------------------------------------------------
    bedrock.will_answer("Go to Settings > Account > Email.")
    back = customer.says("One more thing: how do I change my email address?")
    assert (back["reply"], back["escalated"]) == ("Go to Settings > Account > Email.", False)
    assert "expert_active" not in back and "escalation" not in back
    assert [(m["role"], m["text"]) for m in back["messages"]] == [("system", CONFIG.handback_message)]
    assert len(bedrock.calls) == 2
    bedrock.assert_all_used()

    assert world.experts_mail() == [] and world.fallback_mail() == []  # one email in all, to the experts
    flow.assert_no_token_leaked(escalation)
    assert time.monotonic() - started < 15


def test_nobody_accepts_in_time_so_the_fallback_tier_is_mailed_and_the_bot_answers_again(world):
    flow, bedrock, customer, expert = world.flow, world.bedrock, world.customer, world.expert
    state_machine = world.connect(accept_seconds=2, resolve_seconds=60)

    handoff = customer.says("I want to talk to a person")
    assert handoff["escalated"] is True and handoff["reply"] == CONFIG.handoff_message
    escalation_id = handoff["escalation"]["escalation_id"]
    escalation = world.escalation(customer.session_id, escalation_id)
    flow.outbox.drain()
    execution_arn = world.execution_of(state_machine, escalation_id)["executionArn"]
    experts_email = the_only(wait_for_mail(world, world.experts_mail), "experts email")
    (link,) = re.findall(r"https://\S+", experts_email["Message"])

    described = flow.finish(execution_arn, timeout=WAIT)  # waits out the accept time-out
    assert described["status"] == "SUCCEEDED"
    assert flow.states_entered(execution_arn)[-5:] == [
        "MarkTimedOut", "ReleaseAfterTimeout", "NotifyFallbackTier", "TellCustomerExpertsBusy", "TimedOut"]
    fallback = the_only(world.fallback_mail(), "fallback email")
    assert escalation_id in fallback["Message"] and customer.session_id in fallback["Message"]
    assert "human_requested" in fallback["Message"]
    assert flow.state(escalation).record.status == "timed_out"
    session = flow.session_item(escalation)
    assert not {"owner", "open_escalation_id"} & set(session)
    transcript = flow.transcript(escalation)
    assert [(t["role"], t["text"]) for t in transcript["turns"]] == [
        ("customer", "I want to talk to a person"), ("system", CONFIG.handoff_message),
        ("system", CONFIG.busy_message)]
    assert [e["status"] for e in transcript["escalations"]] == ["timed_out"]
    assert flow.failed_records == []

    # A late expert finds it over (the emailed link expired with the wait for an accept), and changes nothing.
    before = world.snapshot()
    review = expert.open(link)
    assert review["statusCode"] == 410 and "This link has expired." in page_text(review["body"])
    assert forms_of(review["body"]) == []
    # The accept form as the review page showed it before the time-out (the emailed link's fields).
    stale_form = {"method": "POST", "action": f"/{STAGE}/escalations/{escalation_id}/accept",
                  "fields": {**{k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}, "expert": ""}}
    late = expert.submit(stale_form, expert=EXPERT)
    assert late["statusCode"] == 410, late["body"]
    assert world.snapshot() == before

    bedrock.will_answer("Sure, I can help with that: what is your order number?")
    back = customer.says("Fine, can you help me with my order then?")
    assert (back["reply"], back["escalated"]) == ("Sure, I can help with that: what is your order number?", False)
    assert [(m["role"], m["text"]) for m in back["messages"]] == [("system", CONFIG.busy_message)]
    bedrock.assert_all_used()
    flow.assert_no_token_leaked(escalation)
