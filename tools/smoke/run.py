"""One smoke run: the parts of tools/smoke/ in order, each reported as it ends, and the cleanup in a
`finally`, so what the run created is deleted (unless --keep) whatever failed, even on Ctrl-C."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TextIO

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from tools.smoke.chat import AnswerFailed, ChatApi, Conversation, Escalated
from tools.smoke.checks import EscalationRecordCheck, TranscriptCheck, WorkflowCheck
from tools.smoke.cleanup import SETTLE_SECONDS, Cleanup, Created
from tools.smoke.clock import Clock, Poller
from tools.smoke.diagnose import ExpertsTopicCheck, ModelDiagnosis, ModelProblem
from tools.smoke.outputs import Deployment, StackOutputs
from tools.smoke.report import PARTS, Hidden, Report, SmokeFailure
from tools.smoke.signin import CustomerPool, new_username

DEFAULT_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class AwsClients:
    """boto3 clients of the deployment's account and region (tests hand in moto's or Stubbers)."""

    cloudformation: Any
    cognito: Any
    dynamodb: Any
    s3: Any
    stepfunctions: Any
    sns: Any
    bedrock: Any


def _explain(error: Exception) -> str:
    """An error the parts did not expect, in a line (never its arguments: botocore quotes parameters)."""
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: configure the AWS CLI (aws configure, AWS_PROFILE) and run it again"
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{error.operation_name}: {info.get('Code', 'ClientError')}: {info.get('Message', '')}".rstrip(": ")
    if isinstance(error, BotoCoreError):
        return f"{type(error).__name__}: {error}"
    return f"unexpected {type(error).__name__}"


class SmokeTest:
    def __init__(self, *, aws: AwsClients, region: str, chat_api: Callable[[str], ChatApi], clock: Clock,
                 out: TextIO, timeout: float = DEFAULT_TIMEOUT_SECONDS, keep: bool = False,
                 settle_seconds: float = SETTLE_SECONDS):
        self.aws = aws
        self.region = region
        self.chat_api = chat_api  # ChatUrl -> the API to call
        self.clock = clock
        self.out = out
        self.timeout = timeout
        self.keep = keep
        self.settle_seconds = settle_seconds

    def _attempt(self, report: Report, part: str, action: Callable[[], str]) -> bool:
        """Runs one check and reports it: PASS with its detail, or FAIL with what went wrong."""
        try:
            detail = action()
        except SmokeFailure as failure:
            report.failed(failure.part, str(failure))
            return False
        except Exception as error:  # noqa: BLE001 (any fault fails this check; the others and the cleanup go on)
            report.failed(part, _explain(error))
            return False
        report.passed(part, detail)
        return True

    def run(self) -> int:
        """Runs every check; returns the exit code (0: all passed, 1: one failed)."""
        report = Report(self.out, region=self.region)
        found: list[Deployment] = []
        if not self._attempt(report, "outputs", lambda: self._read_outputs(found)):
            report.skip_all(PARTS[1:], "not reached: the deployment's outputs could not be read")
            return report.finish()
        deployment = found[0]
        pool = CustomerPool(self.aws.cognito, pool_id=deployment.user_pool_id,
                            client_id=deployment.user_pool_client_id, clock=self.clock)
        created = Created()
        try:
            self._as_a_customer(report, deployment, pool, created)
            self._attempt(report, "experts", lambda: ExpertsTopicCheck(self.aws.sns).check(deployment.experts_topic_arn))
        finally:
            self._clean(report, deployment, pool, created)
        return report.finish()

    def _read_outputs(self, found: list[Deployment]) -> str:
        deployment = StackOutputs(self.aws.cloudformation, region=self.region).read()
        found.append(deployment)
        return f"TandemChatbot, TandemEscalation, TandemData (chat API {deployment.chat_url})"

    def _as_a_customer(self, report: Report, deployment: Deployment, pool: CustomerPool, created: Created) -> None:
        tokens: list[Hidden] = []

        def sign_in() -> str:
            created.username = new_username()  # before creating it: a half-made user is deleted too
            token, how = pool.sign_in(pool.create_user(created.username))
            tokens.append(token)
            return f"{created.username} ({how})"

        if not self._attempt(report, "sign-in", sign_in):
            report.skip_all(PARTS[2:8], "not reached: no signed-in customer")
            return
        conversation = Conversation(self.chat_api(deployment.chat_url), tokens[0])
        model_error: str | None = None
        try:
            try:
                report.passed("answer", conversation.ask())
            except AnswerFailed as failure:
                model_error = failure.model_error
                report.failed("answer", str(failure))
            except Exception as error:  # noqa: BLE001 (reported; the escalation is still tried)
                report.failed("answer", _explain(error))
            escalations: list[Escalated] = []
            self._attempt(report, "escalate", lambda: self._escalate(conversation, escalations))
        finally:
            created.session_id = conversation.session_id
        if escalations:
            self._follow(report, deployment, escalations[0], conversation.sent)
        else:
            report.skip_all(("escalation", "workflow", "transcript"), "not reached: no escalation to follow")
        if model_error is None:
            report.skipped("model", "no model error to diagnose")
        else:
            self._attempt(report, "model", lambda: self._diagnose(deployment, model_error))

    def _escalate(self, conversation: Conversation, escalations: list[Escalated]) -> str:
        escalated = conversation.demand_human()
        escalations.append(escalated)
        joined = "" if escalated.new else " (joined the escalation the first turn opened)"
        return f"escalated: escalation {escalated.escalation_id}{joined}"

    def _follow(self, report: Report, deployment: Deployment, escalated: Escalated, sent: list[str]) -> None:
        poller = Poller(self.clock, timeout=self.timeout)
        self._attempt(report, "escalation", lambda: EscalationRecordCheck(
            self.aws.dynamodb, table=deployment.sessions_table, poller=poller).check(escalated))
        self._attempt(report, "workflow", lambda: WorkflowCheck(
            self.aws.stepfunctions, state_machine_arn=deployment.state_machine_arn, poller=poller).check(escalated))
        self._attempt(report, "transcript", lambda: TranscriptCheck(
            self.aws.s3, self.aws.dynamodb, bucket=deployment.transcripts_bucket, table=deployment.sessions_table,
            poller=poller).check(escalated.session_id, sent))

    def _diagnose(self, deployment: Deployment, model_error: str) -> str:
        """Always a failure: the answer carried a model error; the message says why, as far as Bedrock tells."""
        raise ModelProblem(ModelDiagnosis(self.aws.bedrock, region=self.region).diagnose(deployment.model_id,
                                                                                        model_error))

    def _clean(self, report: Report, deployment: Deployment, pool: CustomerPool, created: Created) -> None:
        cleanup = Cleanup(ddb=self.aws.dynamodb, s3=self.aws.s3, sfn=self.aws.stepfunctions, pool=pool,
                          deployment=deployment, clock=self.clock, settle_seconds=self.settle_seconds)
        if self.keep:
            report.skipped("cleanup", cleanup.kept(created))
            return
        self._attempt(report, "cleanup", lambda: "deleted: " + cleanup.clean(created))
