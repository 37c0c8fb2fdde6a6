"""tools/smoke (`make smoke`): a deployed Tandem checked end to end, here in one process: the real chatbot
handler behind the chat API seam, the real stream consumer as the outbox, moto for DynamoDB, S3, Step
Functions and SNS, Stubbers for Cognito, CloudFormation and Bedrock (tests/tools/smoke_doubles.py). Nothing
reaches the network."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import logging
import re
import sys
import urllib.error
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import NoCredentialsError

from lambdas.chatbot import handler as chatbot_handler
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.session_store import SessionStore
from lambdas.common.transcript import Transcript, Turn, transcript_key
from local.templates import synthesized
from stacks.config import TandemConfig
from testing.bedrock_replies import converse_text
from testing.log_capture import captured
from testing.outbox import Outbox, consumer_environment, idle_workflow
from tests.tools.smoke_doubles import (
    CHAT_URL,
    CLIENT_ID,
    POOL_ID,
    REGION,
    TOTP_KEY,
    ChatThroughHandler,
    FakeClock,
    Stacks,
    StubbedPool,
    oracle_totp,
)
from tools.smoke import cli, diagnose, signin
from tools.smoke.chat import ANGRY_MESSAGE, ORDINARY_QUESTION, ChatUnreachable, UrllibChatApi
from tools.smoke.checks import FAILURE_PATH_STATES, WAITING_STATES, TranscriptCheck, TranscriptIncomplete
from tools.smoke.clock import Poller
from tools.smoke.report import PARTS, Hidden
from tools.smoke.run import AwsClients, SmokeTest
from tools.smoke.signin import CustomerPool, SignInFailed, SmokeUser, new_password, new_username, totp

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = replace(TandemConfig(), sentiment_detector="vader")  # cdk.json's defaults, an offline gate
TABLE = "tandem-sessions-smoke"
BUCKET = "tandem-transcripts-smoke"
TOPIC = "tandem-experts-smoke"
EXPERT = "ann.expert@example.com"
ANSWER = "I can help with your account, your orders and your passwords."
PROFILE = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
TIMEOUT = 20.0
SETTLE = 5.0
USERNAME = re.compile(r"tandem-smoke-[0-9a-f]{12}@example\.invalid")


# The world ---------------------------------------------------------------------------------------------

@pytest.fixture
def world(aws, set_environment):
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    topic = aws.create("experts_topic", TOPIC)
    machine = idle_workflow("tandem-human-escalation-smoke")
    world = SimpleNamespace(aws=aws, topic=topic, machine=machine, set_environment=set_environment)
    world.converse = aws.stub("bedrock-runtime")  # the chatbot's model: one reply queued per answer
    world.bedrock = aws.stub("bedrock")  # the control plane the diagnosis asks; nothing queued: no call
    world.pool = StubbedPool(aws)
    world.stacks = Stacks(aws)
    world.outbox = Outbox(TABLE)
    world.clock = FakeClock(on_sleep=world.outbox.drain)  # the outbox works while the smoke test waits
    world.chat = None
    world.clients = AwsClients(cloudformation=world.stacks.client, cognito=world.pool.client, dynamodb=aws.ddb,
                               s3=aws.s3, stepfunctions=aws.sfn, sns=aws.sns, bedrock=world.bedrock.client)
    deploy(world, CONFIG)
    yield world
    world.outbox.close()


def deploy(world: SimpleNamespace, config: TandemConfig) -> None:
    """The environment the stacks give the chatbot and the stream consumer (their settings contracts)."""
    world.config = config
    world.set_environment({
        **ChatbotSettings.from_config(config, sessions_table=TABLE).to_env(),
        **consumer_environment(table=TABLE, bucket=BUCKET, state_machine_arn=world.machine)})


def subscribe_expert(world: SimpleNamespace) -> None:
    world.aws.sns.subscribe(TopicArn=world.topic, Protocol="email", Endpoint=EXPERT)  # moto confirms it


def outputs(world: SimpleNamespace) -> dict[str, dict[str, str]]:
    return {"TandemChatbot": {"ChatUrl": CHAT_URL, "UserPoolId": POOL_ID, "UserPoolClientId": CLIENT_ID,
                              "ModelId": world.config.model_id},
            "TandemEscalation": {"ExpertsTopicArn": world.topic, "StateMachineArn": world.machine},
            "TandemData": {"TandemData-SessionsTableName": TABLE, "TandemData-TranscriptsBucketName": BUCKET}}


def healthy(world: SimpleNamespace, *, mfa_required: bool = False, deleted: bool = True) -> None:
    """A deployment where everything works: outputs, the user pool, the model's answer, an expert."""
    world.stacks.will_describe(outputs(world))
    world.pool.will_sign_in(mfa_required=mfa_required, clock=world.clock)
    if deleted:
        world.pool.will_delete_user()
    world.converse.add_response("converse", converse_text(ANSWER))
    subscribe_expert(world)


def run(world: SimpleNamespace, *, keep: bool = False, out: Any = None) -> SimpleNamespace:
    stream = out if out is not None else io.StringIO()

    def chat_api(url: str) -> ChatThroughHandler:
        world.chat = ChatThroughHandler(world.pool, url, after=getattr(world, "after_chat", None))
        return world.chat

    code = SmokeTest(aws=world.clients, region=REGION, chat_api=chat_api, clock=world.clock, out=stream,
                     timeout=TIMEOUT, keep=keep, settle_seconds=SETTLE).run()
    return report_of(code, stream.getvalue() if out is None else "")


def report_of(code: int, text: str) -> SimpleNamespace:
    checks = {}
    for line in text.splitlines():
        match = re.match(r"(PASS|FAIL|SKIP)  (\S+)\s+(.*)$", line)
        if match:
            checks[match.group(2)] = (match.group(1), match.group(3))
    return SimpleNamespace(code=code, text=text, status={p: s for p, (s, _) in checks.items()},
                           detail={p: d for p, (_, d) in checks.items()})


def statuses(**exceptions: str) -> dict[str, str]:
    """Every part PASS, but those named (part names with "_" for "-")."""
    return {part: exceptions.get(part.replace("-", "_"), "PASS") for part in PARTS}


# What is left in the deployment --------------------------------------------------------------------

def table_items(world: SimpleNamespace) -> list[dict[str, Any]]:
    return world.aws.ddb.scan(TableName=TABLE, ConsistentRead=True)["Items"]


def transcript_versions(world: SimpleNamespace) -> list[str]:
    listed = world.aws.s3.list_object_versions(Bucket=BUCKET, Prefix="transcripts/")
    return [v["Key"] for v in (*listed.get("Versions", []), *listed.get("DeleteMarkers", []))]


def executions(world: SimpleNamespace) -> list[str]:
    return [e["status"] for e in world.aws.sfn.list_executions(stateMachineArn=world.machine)["executions"]]


def assert_nothing_left(world: SimpleNamespace) -> None:
    world.outbox.drain()  # whatever the table's stream still holds: it must not bring a transcript back
    assert table_items(world) == []
    assert transcript_versions(world) == []
    assert executions(world) in ([], ["ABORTED"])
    world.pool.stubber.assert_no_pending_responses()  # the user was deleted
    (deleted,) = world.pool.usernames("AdminDeleteUser")
    assert deleted == world.pool.usernames("AdminCreateUser")[0]


# A full run ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mfa_required", [False, True], ids=["mfa-optional", "mfa-required"])
def test_a_healthy_deployment_passes_every_check_and_nothing_is_left_behind(world, mfa_required):
    healthy(world, mfa_required=mfa_required)

    report = run(world)

    assert report.code == 0, report.text
    assert report.status == statuses(model="SKIP")
    assert report.text.rstrip().endswith("Smoke test passed.")
    username = world.pool.usernames("AdminCreateUser")[0]
    assert USERNAME.fullmatch(username)
    assert set(world.pool.usernames("AdminSetUserPassword") + world.pool.usernames("InitiateAuth")) == {username}
    assert ("TOTP MFA set up" in report.detail["sign-in"]) is mfa_required
    first, second = world.chat.requests
    assert first == {"message": ORDINARY_QUESTION}
    assert second["message"] == ANGRY_MESSAGE and second["session_id"]
    assert "smoke test" in ANGRY_MESSAGE and "No action is needed" in ANGRY_MESSAGE
    assert "RUNNING" in report.detail["workflow"] and "both customer turns" in report.detail["transcript"]
    assert executions(world) == ["ABORTED"]  # the workflow the escalation started, stopped by the cleanup
    assert_nothing_left(world)


@pytest.mark.parametrize("mfa_required", [False, True], ids=["mfa-optional", "mfa-required"])
def test_no_password_token_or_totp_secret_reaches_the_output(world, mfa_required, capsys, caplog):
    healthy(world, mfa_required=mfa_required)
    caplog.set_level(logging.INFO)

    with captured(chatbot_handler.logger) as chatbot_logs:
        report = run(world, out=sys.stdout)

    out, err = capsys.readouterr()
    assert report.code == 0, out
    secrets = world.pool.secrets
    assert len(secrets) >= (9 if mfa_required else 5)  # password twice, three tokens, sessions, TOTP key and code
    if mfa_required:
        assert TOTP_KEY in secrets
    written = "\n".join((out, err, caplog.text, chatbot_logs.text))
    assert "PASS  sign-in" in out
    assert [secret for secret in secrets if secret in written] == []


def test_an_interrupted_run_still_cleans_up(world):
    healthy(world)
    interrupted = []

    def outbox_then_ctrl_c() -> None:
        world.outbox.drain()
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # while the smoke test waits for the workflow

    world.clock.on_sleep = outbox_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        run(world)

    assert executions(world) == ["ABORTED"]
    assert_nothing_left(world)


def test_a_failure_does_not_stop_the_cleanup(world):
    healthy(world)
    world.aws.sns.unsubscribe(SubscriptionArn=world.aws.sns.list_subscriptions()["Subscriptions"][0]["SubscriptionArn"])

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(model="SKIP", experts="FAIL")
    assert report.detail["experts"].startswith(f"no expert subscribed to {world.topic}")
    assert report.text.rstrip().endswith("FAILED: experts")
    assert executions(world) == ["ABORTED"]
    assert_nothing_left(world)


def test_keep_leaves_the_user_session_transcript_and_workflow_for_a_look(world):
    healthy(world, deleted=False)  # no AdminDeleteUser queued: --keep must not call it

    report = run(world, keep=True)

    assert report.code == 0, report.text
    assert report.status == statuses(model="SKIP", cleanup="SKIP")
    kept = report.detail["cleanup"]
    username = world.pool.usernames("AdminCreateUser")[0]
    assert kept.startswith(f"kept (--keep): user {username}; session ")
    assert world.pool.usernames("AdminDeleteUser") == []
    assert {i["sk"]["S"].split("#")[0] for i in table_items(world)} == {"SESSION", "TURN", "ESCALATION"}
    (transcript,) = transcript_versions(world)
    assert f"s3://{BUCKET}/{transcript}" in kept
    assert executions(world) == ["RUNNING"]


# What it says when something is wrong ------------------------------------------------------------------

def test_a_missing_stack_is_named_and_nothing_is_created(world):
    world.stacks.will_describe(outputs(world), missing=("TandemEscalation",))

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(**{p.replace("-", "_"): "SKIP" for p in PARTS[1:]}, outputs="FAIL")
    assert report.detail["outputs"] == f"stack TandemEscalation not deployed in {REGION}"
    assert world.pool.calls == [] and table_items(world) == []
    world.stacks.stubber.assert_no_pending_responses()


def test_a_stack_that_did_not_finish_deploying_is_named(world):
    world.stacks.will_describe(outputs(world), status={"TandemChatbot": "ROLLBACK_COMPLETE"})

    report = run(world)

    assert (report.code, report.status["outputs"]) == (1, "FAIL")
    assert report.detail["outputs"] == f"stack TandemChatbot is ROLLBACK_COMPLETE in {REGION}"


def test_without_credentials_the_outputs_check_says_how_to_get_them(world):
    class NoCredentials:
        def describe_stacks(self, **_: Any) -> dict:
            raise NoCredentialsError()

    world.clients = dataclasses.replace(world.clients, cloudformation=NoCredentials())

    report = run(world)

    assert (report.code, report.status["outputs"]) == (1, "FAIL")
    assert report.detail["outputs"].startswith("no AWS credentials")


def model_failure(world: SimpleNamespace, code: str, message: str) -> None:
    world.stacks.will_describe(outputs(world))
    world.pool.will_sign_in()
    world.pool.will_delete_user()
    world.converse.add_client_error("converse", service_error_code=code, service_message=message,
                                    http_status_code=400)
    subscribe_expert(world)


def foundation_model(model_id: str, lifecycle: str) -> dict[str, Any]:
    return {"modelDetails": {"modelArn": f"arn:aws:bedrock:{REGION}::foundation-model/{model_id}", "modelId": model_id,
                             "modelLifecycle": {"status": lifecycle}}}


def test_a_model_at_its_end_of_life_is_named_by_its_base_model(world):
    deploy(world, replace(CONFIG, model_id=PROFILE))  # an inference profile: Bedrock lists its base model
    model_failure(world, "ResourceNotFoundException", "This model version has reached the end of its life.")
    base = "anthropic.claude-haiku-4-5-20251001-v1:0"
    world.bedrock.add_response("get_foundation_model", foundation_model(base, "LEGACY"), {"modelIdentifier": base})

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(answer="FAIL", model="FAIL")
    assert "ResourceNotFoundException" in report.detail["answer"]
    assert report.detail["model"].startswith(f"model {base}, called through {PROFILE}, is Legacy/end-of-life")
    assert "choose another: see README" in report.detail["model"]
    # The failed answer escalated (model_error); the angry message joined it; both turns are in the transcript.
    assert "joined" in report.detail["escalate"]
    assert "reason model_error" in report.detail["escalation"]
    assert report.text.rstrip().endswith("FAILED: answer, model")
    world.bedrock.assert_no_pending_responses()
    assert_nothing_left(world)


def test_model_access_not_granted_is_named(world):
    model_failure(world, "AccessDeniedException", "You don't have access to the model with the specified model ID.")
    model = CONFIG.model_id
    base = "anthropic.claude-haiku-4-5-20251001-v1:0"  # the default is its global inference profile
    world.bedrock.add_response("get_foundation_model", foundation_model(base, "ACTIVE"), {"modelIdentifier": base})
    world.bedrock.add_response("get_foundation_model_availability", {
        "modelId": base, "agreementAvailability": {"status": "NOT_AVAILABLE"}, "authorizationStatus": "NOT_AUTHORIZED",
        "entitlementAvailability": "AVAILABLE", "regionAvailability": "AVAILABLE"}, {"modelId": base})

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(answer="FAIL", model="FAIL")
    assert report.detail["model"].startswith(f"model access not granted for {base} (authorization NOT_AUTHORIZED, "
                                             "agreement NOT_AVAILABLE)")
    assert f"through {model}" in report.detail["model"]
    world.bedrock.assert_no_pending_responses()


def test_an_unconfirmed_expert_subscription_fails_with_the_address_masked(world):
    world.stacks.will_describe(outputs(world))
    world.pool.will_sign_in()
    world.pool.will_delete_user()
    world.converse.add_response("converse", converse_text(ANSWER))
    sns = world.aws.stub("sns")
    sns.add_response("list_subscriptions_by_topic", {"Subscriptions": [
        {"SubscriptionArn": "PendingConfirmation", "Owner": "123456789012", "Protocol": "email", "Endpoint": EXPERT,
         "TopicArn": world.topic}]}, {"TopicArn": world.topic})
    world.clients = dataclasses.replace(world.clients, sns=sns.client)

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(model="SKIP", experts="FAIL")
    assert report.detail["experts"].startswith("expert email subscription unconfirmed (a***@example.com)")
    assert EXPERT not in report.text


def test_a_message_that_does_not_escalate_fails_the_escalation_and_skips_what_follows(world):
    deploy(world, replace(CONFIG, human_request_languages=(), escalate_on_frustration_cues=False,
                          vader_negative_threshold=1.0, comprehend_negative_threshold=1.0, llm_negative_threshold=1.0))
    healthy(world)
    world.converse.add_response("converse", converse_text("I am sorry to hear that."))  # the angry message is answered

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(escalate="FAIL", escalation="SKIP", workflow="SKIP", transcript="SKIP",
                                     model="SKIP")
    assert report.detail["escalate"].startswith("an angry request for a human did not escalate")
    assert executions(world) == []
    assert_nothing_left(world)


def test_when_the_outbox_does_not_run_the_workflow_and_transcript_checks_name_it(world):
    healthy(world)
    world.clock.on_sleep = None  # the stream consumer never runs

    report = run(world)

    assert report.code == 1
    assert report.status == statuses(workflow="FAIL", transcript="FAIL", model="SKIP")
    assert "is the TandemOutbox stream consumer running?" in report.detail["workflow"]
    assert re.match(rf"no transcript at s3://{BUCKET}/transcripts/dt=\S+\.json after 20 s: is the TandemOutbox",
                    report.detail["transcript"])
    *polls, settle = world.clock.slept
    assert max(polls) <= 1 and sum(polls) == 2 * TIMEOUT and settle == SETTLE  # polled, each until its deadline
    world.pool.stubber.assert_no_pending_responses()
    world.outbox.drain()  # the outbox comes back: the deleted session gets no transcript again
    assert table_items(world) == [] and transcript_versions(world) == []


def test_an_escalation_withdrawn_by_the_outbox_fails_the_escalation_check(world):
    healthy(world)

    def withdrawn(body: dict[str, Any]) -> None:  # as the outbox leaves one whose workflow could not start
        if body.get("escalated"):
            world.aws.ddb.update_item(
                TableName=TABLE, Key={"session_id": {"S": body["session_id"]},
                                      "sk": {"S": f"ESCALATION#{body['escalation']['escalation_id']}"}},
                UpdateExpression="SET #status = :failed, note = :note", ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":failed": {"S": "failed"},
                                           ":note": {"S": "withdrawn: the expert workflow could not be started"}})

    world.after_chat = withdrawn

    report = run(world)

    assert report.status["escalation"] == "FAIL"
    assert re.fullmatch(r"escalation \S+ is failed \(withdrawn: the expert workflow could not be started\), not pending",
                        report.detail["escalation"])


def test_a_workflow_that_stopped_fails_the_workflow_check(world):
    healthy(world)

    def outbox_then_stop() -> None:
        world.outbox.drain()
        for execution in world.aws.sfn.list_executions(stateMachineArn=world.machine)["executions"]:
            if execution["status"] == "RUNNING":
                world.aws.sfn.stop_execution(executionArn=execution["executionArn"], error="States.Timeout")

    world.clock.on_sleep = outbox_then_stop

    report = run(world)

    assert report.status["workflow"] == "FAIL"
    assert re.fullmatch(r"execution \S+ is ABORTED, not RUNNING", report.detail["workflow"])  # moto keeps no cause


# The cleanup's order -------------------------------------------------------------------------------------

def test_deleting_the_items_makes_the_outbox_write_no_transcript_again(world):
    healthy(world)
    during_deletes: list[int] = []

    def outbox_runs_after_each_delete(**_: Any) -> None:  # as fast as it can: after every single delete
        world.outbox.drain()
        during_deletes.append(len(transcript_versions(world)))

    world.aws.ddb.meta.events.register("after-call.dynamodb.DeleteItem", outbox_runs_after_each_delete)

    report = run(world)

    assert report.code == 0, report.text
    versions = during_deletes[0]
    assert versions >= 1 and during_deletes == [versions] * len(during_deletes)  # never a new version
    assert re.search(rf"\b{versions} transcript versions?\b", report.detail["cleanup"])
    assert_nothing_left(world)


def test_a_transcript_the_outbox_writes_late_is_deleted_too(world):
    healthy(world)
    seen: list[str] = []
    late: list[str] = []

    def outbox_with_a_late_batch() -> None:
        world.outbox.drain()
        seen.extend(transcript_versions(world))
        if seen and not table_items(world) and not late:  # the cleanup deleted the items, then waits
            late.append(seen[0])  # a batch that read the session before its items went writes now
            world.aws.s3.put_object(Bucket=BUCKET, Key=seen[0], Body=b"{}")

    world.clock.on_sleep = outbox_with_a_late_batch

    report = run(world)

    assert report.code == 0, report.text
    assert late and "(1 written late)" in report.detail["cleanup"]
    assert world.clock.slept[-1] == SETTLE
    assert_nothing_left(world)


def test_a_transcript_without_the_angry_turn_is_incomplete(aws):
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    session = SessionStore(table_name=TABLE, ttl_days=1).new_session("s-1", "customer-1")
    SessionStore(table_name=TABLE, ttl_days=1).record(session, [Turn(role="customer", text=ORDINARY_QUESTION)])
    transcript = Transcript(session_id="s-1", started_at=session.started_at, updated_at=session.started_at,
                            turns=[Turn(role="customer", text=ORDINARY_QUESTION)])
    key = transcript_key("s-1", session.started_at)
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(transcript.to_dict()).encode())
    check = TranscriptCheck(aws.s3, aws.ddb, bucket=BUCKET, table=TABLE, poller=Poller(FakeClock(), timeout=3))

    with pytest.raises(TranscriptIncomplete, match=rf"s3://{BUCKET}/{key} holds 1 of the 2 customer turns after 3 s"):
        check.check("s-1", [ORDINARY_QUESTION, ANGRY_MESSAGE])


# Signing in ----------------------------------------------------------------------------------------------

def test_after_setting_up_totp_a_code_challenge_is_answered_in_the_next_step(aws):
    pool, clock = StubbedPool(aws), FakeClock(start=1_795_000_010.0)
    pool.will_sign_in(mfa_required=True, clock=clock, mfa_after_setup=True)
    customers = CustomerPool(pool.client, pool_id=POOL_ID, client_id=CLIENT_ID, clock=clock)

    token, how = customers.sign_in(customers.create_user(new_username()))

    assert token.reveal() == pool.id_token and str(token) == "<hidden>"
    assert how == "password, then TOTP MFA set up and answered"
    assert clock.now() // 30 == 1_795_000_010.0 // 30 + 1  # waited into the next 30-second step
    pool.stubber.assert_no_pending_responses()


def test_a_pool_that_can_set_up_only_sms_is_refused_clearly(aws):
    pool = StubbedPool(aws)
    pool.will_create_user()
    pool.stubber.add_response("initiate_auth", {"ChallengeName": "MFA_SETUP", "Session": "s" * 40,
                                                "ChallengeParameters": {"MFAS_CAN_SETUP": '["SMS_MFA"]'}})
    customers = CustomerPool(pool.client, pool_id=POOL_ID, client_id=CLIENT_ID, clock=FakeClock())

    with pytest.raises(SignInFailed, match="requires MFA set up with SMS_MFA; the smoke test can set up TOTP"):
        customers.sign_in(customers.create_user(new_username()))


def test_a_refused_password_says_what_cognito_said(aws):
    pool = StubbedPool(aws)
    pool.stubber.add_client_error("initiate_auth", service_error_code="NotAuthorizedException",
                                  service_message="USER_PASSWORD_AUTH flow not enabled for this client")
    customers = CustomerPool(pool.client, pool_id=POOL_ID, client_id=CLIENT_ID, clock=FakeClock())
    user = SmokeUser(username=new_username(), password=Hidden("Never-Printed-42!"))

    with pytest.raises(SignInFailed) as failure:
        customers.sign_in(user)

    assert str(failure.value) == (f"Cognito refused USER_PASSWORD_AUTH on client {CLIENT_ID}: NotAuthorizedException: "
                                  "USER_PASSWORD_AUTH flow not enabled for this client")


# RFC 6238, Appendix B: the SHA-1 key "12345678901234567890" and 8-digit codes.
RFC_6238_KEY = base64.b32encode(b"12345678901234567890").decode()


@pytest.mark.parametrize("at, code", [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                                      (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")])
def test_totp_gives_the_codes_of_rfc_6238(at, code):
    assert totp(RFC_6238_KEY, at, digits=8) == code


def test_totp_agrees_with_an_independent_implementation():
    for at in range(1_795_000_000, 1_795_003_000, 7):
        assert totp(TOTP_KEY, at) == oracle_totp(TOTP_KEY, at)


def test_the_throw_away_password_meets_the_deployed_pool_policy():
    pools = [r for r in synthesized().templates["TandemChatbot"]["Resources"].values()
             if r["Type"] == "AWS::Cognito::UserPool"]
    (pool,) = pools
    policy = pool["Properties"]["Policies"]["PasswordPolicy"]
    assert pool["Properties"]["UsernameAttributes"] == ["email"]  # so the username is an email address
    symbols = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ")
    for _ in range(200):
        password = new_password().reveal()
        assert len(password) >= policy["MinimumLength"]
        assert any(c.islower() for c in password) and any(c.isupper() for c in password)
        assert any(c.isdigit() for c in password) and any(c in symbols for c in password)
        assert set(password) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") | symbols
    assert USERNAME.fullmatch(new_username()) and new_username() != new_username()


def test_even_the_unluckiest_password_meets_the_policy(monkeypatch):
    monkeypatch.setattr(signin.secrets, "choice", lambda chars: chars[0])  # the same character again and again

    password = new_password().reveal()

    assert len(password) >= 12 and not password.isalnum()
    assert any(c.islower() for c in password) and any(c.isupper() for c in password) and any(c.isdigit() for c in password)


# Diagnosis -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_id, base", [
    ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"),
    (PROFILE, "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
    (f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/{PROFILE}", "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("arn:aws:bedrock:us-east-1:123456789012:imported-model/abc123def456", None),
])
def test_the_base_model_of_a_model_id(model_id, base):
    assert diagnose.base_model_id(model_id) == base


def test_the_workflow_states_it_names_are_the_definitions():
    states = json.loads((ROOT / "statemachines" / "human_escalation.asl.json").read_text())["States"]
    ends = {name for name, state in states.items() if state["Type"] in ("Succeed", "Fail")}
    assert set(WAITING_STATES) | set(FAILURE_PATH_STATES) | ends == set(states)
    assert not set(WAITING_STATES) & set(FAILURE_PATH_STATES)


# The HTTP seam and the command -------------------------------------------------------------------------

class FakeResponse(io.BytesIO):
    def __init__(self, status: int, body: bytes):
        super().__init__(body)
        self.status = status


def test_the_chat_api_posts_the_token_and_reads_answers_and_errors():
    sent = []

    def opener(request: Any, timeout: float) -> FakeResponse:
        sent.append((request, timeout))
        if len(sent) == 1:
            return FakeResponse(200, b'{"reply": "hi", "session_id": "s-1"}')
        raise urllib.error.HTTPError(request.full_url, 502, "Bad Gateway", {},
                                     io.BytesIO(b'{"message": "Internal server error"}'))

    api = UrllibChatApi(CHAT_URL, timeout=12, opener=opener)
    answered = api.post("/chat", Hidden("id-token-value"), {"message": "hello"})
    failed = api.post("/chat", Hidden("id-token-value"), {"message": "again"})

    request, timeout = sent[0]
    assert (request.full_url, request.get_method(), timeout) == (CHAT_URL, "POST", 12)
    assert request.get_header("Authorization") == "id-token-value"
    assert json.loads(request.data) == {"message": "hello"}
    assert (answered.status, answered.body) == (200, {"reply": "hi", "session_id": "s-1"})
    assert (failed.status, failed.summary()) == (502, '"Internal server error"')

    def unreachable(request: Any, timeout: float) -> FakeResponse:
        raise urllib.error.URLError("Name or service not known")

    with pytest.raises(ChatUnreachable, match="got no answer: Name or service not known"):
        UrllibChatApi(CHAT_URL, opener=unreachable).post("/chat", Hidden("t"), {"message": "x"})


def test_the_command_refuses_to_start_without_a_region_or_with_a_bad_timeout(monkeypatch, capsys, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))

    assert cli.main([]) == 2
    assert "no region" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--region", REGION, "--timeout", "0"])
    assert exit_.value.code == 2


def test_make_smoke_runs_the_command():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^smoke: install$", makefile, re.M)
    assert "$(BIN)/python -m tools.smoke" in makefile
    assert re.search(r"^\.PHONY:.*\bsmoke\b", makefile, re.M) and "#   make smoke" in makefile
