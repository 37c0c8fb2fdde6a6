"""EscalationStack: the human-escalation workflow (statemachines/human_escalation.asl.json), the escalation
worker (lambdas/escalation_worker) that mails experts a signed link, and the expert API
(lambdas/expert_api) behind those links and the experts' inbox.

The task token of each callback travels only through the internal work queue into the sessions table;
experts act through HMAC-signed, expiring links (key: a Secrets Manager secret generated at deploy), or in
the inbox, signed in to the user pool (ChatbotStack's) as members of its `experts` group.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.expert_api.settings import ExpertApiSettings
from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import notify
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge, arn_ref
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.rest_api import logged_rest_api
from stacks.constructs.workflow import standard_workflow

DEFINITION = Path(__file__).resolve().parents[1] / "statemachines" / "human_escalation.asl.json"
# What the expert API counts when a step after the expert's action fails (the action itself stands).
EXPERT_API_FAILURES = {
    "ExpertFollowUpFailures": "A step after an expert's resolve failed (see the expert API log); the resolve stands.",
    "KnowledgeExportSkipped": "A resolved conversation was not exported (PII masking failed): the knowledge base lacks it.",
}
SEND_TASK_RESULT = ("states:SendTaskSuccess",)  # neither function ever reports a failure
INBOX_ACTIONS = ("accept", "reply", "handback", "close")  # POST /inbox/escalations/{session_id}/{escalation_id}/...
# The stage's throttle: the link pages, and the inbox's polls (each signed-in expert asks for the list and for
# the conversation they have open every few seconds).
INBOX_RATE_LIMIT = 20
INBOX_BURST_LIMIT = 40


def definition_placeholders(text: str) -> set[str]:
    """The ${Name} placeholders of a definition file (a test checks the stack fills in every one)."""
    import re

    return set(re.findall(r"\$\{([A-Za-z]+)\}", text))


class EscalationStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, store: ConversationStore,
                 user_pool: cognito.IUserPool, site_url: str = "", alarm_topic: sns.ITopic | None = None,
                 **kwargs) -> None:
        """user_pool: where experts sign in to the inbox (the customers' pool; its `experts` group); site_url:
        the web app's address (WebStack.site_url), which the expert email and console link into."""
        super().__init__(scope, construct_id, **kwargs)
        self.site_url = site_url
        self.config = config
        self.user_pool = user_pool
        sns_key = kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns")
        self.experts_topic = sns.Topic(self, "Experts", display_name="Tandem experts", master_key=sns_key,
                                       enforce_ssl=True)
        self.fallback_topic = sns.Topic(self, "Fallback", display_name="Tandem fallback tier", master_key=sns_key,
                                        enforce_ssl=True)
        if config.expert_email:
            self.experts_topic.add_subscription(subscriptions.EmailSubscription(config.expert_email))
        if config.fallback_email:
            self.fallback_topic.add_subscription(subscriptions.EmailSubscription(config.fallback_email))

        self.signing_secret = secretsmanager.Secret(
            self, "LinkSigningKey", description="HMAC key of Tandem's expert links",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64, exclude_punctuation=True, include_space=False),
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.signing_secret, "AwsSolutions-SMG4",
            "Rotating the link-signing key would invalidate every link already mailed; links expire with the "
            "accept and resolve time-outs. Rotate by putting a new random value when no escalation is open.",
        )

        dead_letters = sqs.Queue(self, "WorkDeadLetters", encryption=sqs.QueueEncryption.SQS_MANAGED,
                                 enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(
            dead_letters, "AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the escalation work queue; it has none of its own.",
        )
        # The worker's timeout is 30 s; AWS advises a visibility timeout of six times it for event sources.
        self.work_queue = sqs.Queue(
            self, "Work", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            visibility_timeout=Duration.seconds(180),
            dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letters, max_receive_count=5))

        self.expert_api_function = self._expert_api_function(config, store)
        self.api = self._api(config)
        self.worker = self._worker(config, store)
        self.state_machine = self._state_machine(config, store)
        for function in (self.worker, self.expert_api_function):
            self._allow_task_results(function)
        self._allow_history_reads(self.expert_api_function)
        notify(self._alarms(dead_letters), alarm_topic)

        CfnOutput(self, "ExpertApiUrl", value=self.api.url)
        CfnOutput(self, "ExpertsTopicArn", value=self.experts_topic.topic_arn)
        CfnOutput(self, "FallbackTopicArn", value=self.fallback_topic.topic_arn)
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)

    def _alarms(self, dead_letters: sqs.IQueue) -> list[cloudwatch.Alarm]:
        five_minutes = Duration.minutes(5)
        return [
            self.state_machine.metric_failed(period=five_minutes).create_alarm(
                self, "WorkflowFailed", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="An escalation workflow failed: a customer who asked for a human may be waiting."),
            dead_letters.metric_approximate_number_of_messages_visible(period=five_minutes).create_alarm(
                self, "WorkDeadLettersWaiting", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The escalation worker gave up on a message (experts may not have been mailed)."),
            *[function.function.metric_errors(period=five_minutes).create_alarm(
                self, f"{function.node.id}Errors", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"The {function.node.id} Lambda raised errors.")
              for function in (self.worker, self.expert_api_function)],
            self.api.metric_server_error(period=five_minutes).create_alarm(
                self, "ExpertApiServerErrors", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The expert API answered 5xx."),
            *[cloudwatch.Metric(namespace="Tandem", metric_name=name, dimensions_map={"service": "tandem-expert_api"},
                                statistic="Sum", period=five_minutes).create_alarm(
                self, f"{name}Alarm", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
              for name, description in EXPERT_API_FAILURES.items()],
        ]

    # The workflow ---------------------------------------------------------------------------------------

    def _state_machine(self, config: TandemConfig, store: ConversationStore) -> sfn.StateMachine:
        role = iam.Role(self, "WorkflowRole", assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
                        description="Tandem human-escalation state machine")
        # Every integration of the definition, each scoped to its one resource.
        iam.Policy(self, "WorkflowIntegrations", roles=[role], statements=[
            iam.PolicyStatement(sid="EscalationAndSessionItems", actions=["dynamodb:UpdateItem"],
                                resources=[store.reference(self, "SessionsTableArn")]),
            iam.PolicyStatement(sid="WorkQueue", actions=["sqs:SendMessage"], resources=[self.work_queue.queue_arn]),
            iam.PolicyStatement(sid="FallbackTier", actions=["sns:Publish"],
                                resources=[self.fallback_topic.topic_arn]),
        ])
        return standard_workflow(
            self, "HumanEscalation", definition=DEFINITION, role=role, logs_id="WorkflowLogs",
            log_retention_days=config.log_retention_days,
            substitutions={
                "SessionsTable": store.reference(self, "SessionsTableName"),
                "WorkQueueUrl": self.work_queue.queue_url,
                "FallbackTopicArn": self.fallback_topic.topic_arn,
                "AcceptTimeoutSeconds": str(config.accept_timeout_minutes * 60),
                "ExpertReminderSeconds": str(config.expert_reminder_minutes * 60),
                "ResolveTimeoutSeconds": str(config.resolve_timeout_hours * 3600),
            },
        )

    # The worker and the expert API -------------------------------------------------------------------------

    def _worker(self, config: TandemConfig, store: ConversationStore) -> PythonFunction:
        settings = WorkerSettings(
            sessions_table=store.reference(self, "SessionsTableName"), experts_topic_arn=self.experts_topic.topic_arn,
            signing_secret_arn=self.signing_secret.secret_arn, expert_api_url=self.api.url,
            email_turns=config.email_turns,
            busy_message=config.busy_message, handback_message=config.handback_message,
            session_ttl_days=config.session_ttl_days, site_url=self.site_url)
        worker = PythonFunction(
            self, "Worker", name="escalation_worker",
            description="Tandem escalation worker: keeps task tokens server-side, mails experts signed links",
            memory_size=256, timeout=Duration.seconds(30), log_retention_days=config.log_retention_days,
            environment={**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Tandem"},
        )
        # Tokens and flags on the ESCALATION item, the latest turns for the email, the notice turn's transaction.
        store.grant_sessions(worker, policy_id="ConversationAccess",
                             actions=("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem"))
        self.signing_secret.grant_read(worker.role)
        # The topic uses the AWS-managed SNS key, whose key policy lets SNS use it for this account's callers:
        # sns:Publish is all the worker needs (grant_publish would add kms actions on key/*).
        worker.role.add_to_policy(iam.PolicyStatement(sid="MailExperts", actions=["sns:Publish"],
                                                      resources=[self.experts_topic.topic_arn]))
        worker.function.add_event_source(event_sources.SqsEventSource(
            self.work_queue, batch_size=10, report_batch_item_failures=True))
        return worker

    def _expert_api_function(self, config: TandemConfig, store: ConversationStore) -> PythonFunction:
        settings = ExpertApiSettings(
            sessions_table=store.reference(self, "SessionsTableName"),
            signing_secret_arn=self.signing_secret.secret_arn,
            knowledge_bucket=store.reference(self, "KnowledgeBucketName"),
            knowledge_prefix=config.knowledge_export_prefix, handback_message=config.handback_message,
            resolve_timeout_seconds=config.resolve_timeout_hours * 3600,
            session_ttl_days=config.session_ttl_days, max_reply_chars=config.max_message_chars,
            # Exported conversations feed a knowledge base other customers read: personal data is masked first.
            redact_pii=config.knowledge_export_redact_pii, language_code=config.language_code,
            site_url=self.site_url)
        api_function = PythonFunction(
            self, "ExpertApiFunction", name="expert_api",
            description="Tandem expert API: review, accept, reply, resolve through signed links or the inbox",
            # A resolve may wait on Comprehend (PII masking) after the workflow is told: room for it.
            memory_size=256, timeout=Duration.seconds(28), log_retention_days=config.log_retention_days,
            environment={**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Tandem"},
        )
        # Reading conversations, the accept/resolve transactions, and a reply's check that the expert still owns it.
        store.grant_sessions(api_function, policy_id="ConversationAccess", actions=(
            "dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem"))
        store.grant_open_escalations(api_function, policy_id="OpenEscalations")  # the inbox's list
        store.grant_knowledge_write(api_function, prefix=config.knowledge_export_prefix)
        if config.knowledge_export_redact_pii:
            redaction = iam.Policy(self, "ExpertApiPiiRedaction", roles=[api_function.role], statements=[
                iam.PolicyStatement(sid="DetectPii", actions=["comprehend:DetectPiiEntities"], resources=["*"])])
            acknowledge(
                redaction, "AwsSolutions-IAM5[Resource::*]",
                "comprehend:DetectPiiEntities supports no resource-level permissions; it only analyses the text "
                "sent, so that personal data is masked before a conversation becomes a knowledge document.",
            )
        self.signing_secret.grant_read(api_function.role)
        return api_function

    def _allow_task_results(self, function: PythonFunction) -> None:
        policy = iam.Policy(self, f"{function.node.id}TaskResults", roles=[function.role], statements=[
            iam.PolicyStatement(sid="CompleteCallbacks", actions=list(SEND_TASK_RESULT), resources=["*"])])
        acknowledge(
            policy, "AwsSolutions-IAM5[Resource::*]",
            "states:SendTaskSuccess supports no resource-level permissions; the task token is "
            "the capability, and it never leaves the sessions table (no email, URL or log carries it).",
        )

    def execution_arns(self) -> str:
        """Every execution of the escalation workflow (each is named after its escalation)."""
        return (f"arn:{self.partition}:states:{self.region}:{self.account}:execution:"
                f"{self.state_machine.state_machine_name}:*")

    def _allow_history_reads(self, function: PythonFunction) -> None:
        """The expert API reads an execution's history when an accept's SendTaskSuccess failed, to tell a
        lost response (the workflow took the accept) from a refusal (lambdas/expert_api/workflow.py)."""
        policy = iam.Policy(self, f"{function.node.id}WorkflowHistory", roles=[function.role], statements=[
            iam.PolicyStatement(sid="ReadEscalationExecutions",
                                actions=["states:DescribeExecution", "states:GetExecutionHistory"],
                                resources=[self.execution_arns()])])
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:"
                    f"execution:{arn_ref(self.state_machine, 'Name')}:*]",
            "Read-only access to the executions of the escalation workflow alone; each execution is named after "
            "an escalation created at run time, so no finer ARN exists.",
        )

    def _api(self, config: TandemConfig) -> apigw.RestApi:
        api = logged_rest_api(
            self, "ExpertApi", description="Tandem expert API (signed, expiring links; the inbox behind Cognito)",
            stage_name="experts", rate_limit=INBOX_RATE_LIMIT, burst_limit=INBOX_BURST_LIMIT,
            log_retention_days=config.log_retention_days, access_logs_id="ExpertApiAccessLogs", log_user=True,
            web_origin=self.site_url or None)
        integration = apigw.LambdaIntegration(self.expert_api_function.invocable, timeout=Duration.seconds(29))
        escalation = api.root.add_resource("escalations").add_resource("{escalation_id}")
        routes = [(escalation, "GET"), (escalation.add_resource("accept"), "POST"),
                  (escalation.add_resource("console"), "GET"), (escalation.add_resource("messages"), "GET"),
                  (escalation.add_resource("reply"), "POST"), (escalation.add_resource("resolve"), "POST")]
        for resource, method in routes:
            resource.add_method(method, integration, authorization_type=apigw.AuthorizationType.NONE)
        self._inbox(api, integration)
        acknowledge(
            api, "AwsSolutions-APIG4",
            "The link pages are for experts who are not API users: each route checks an HMAC-SHA256 link signature "
            "(key in Secrets Manager) and its expiry in the Lambda before reading or changing anything; GETs never "
            "change state. Every inbox route has the Cognito user-pool authorizer.",
        )
        acknowledge(
            api, "AwsSolutions-COG4",
            "The link pages are authorized by the HMAC-SHA256 signature of the link, checked in the Lambda with "
            "its expiry; the inbox routes use the Cognito user-pool authorizer.",
        )
        acknowledge(
            api, "AwsSolutions-APIG3",
            "No WAF web ACL by default (it bills per ACL and rule): requests need a valid signed link or a Cognito "
            "token, and the stage is throttled. Associate a web ACL with the stage for IP rules.",
        )
        acknowledge(
            api, "AwsSolutions-APIG2",
            "Requests are validated in the Lambda, which checks the link signature or the expert first and names "
            "the field of every rejected input (an unknown field too); the link pages post HTML forms.",
        )
        return api

    def _inbox(self, api: apigw.RestApi, integration: apigw.LambdaIntegration) -> None:
        """The experts' inbox (lambdas/expert_api/handler.py): every method behind the pool's authorizer (the
        function then requires the `experts` group)."""
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "ExpertAuthorizer", cognito_user_pools=[self.user_pool])
        listing = api.root.add_resource("inbox").add_resource("escalations")
        conversation = listing.add_resource("{session_id}").add_resource("{escalation_id}")
        routes = [(listing, "GET"), (conversation, "GET"),
                  *[(conversation.add_resource(action), "POST") for action in INBOX_ACTIONS]]
        for resource, method in routes:
            resource.add_method(method, integration, authorizer=authorizer,
                                authorization_type=apigw.AuthorizationType.COGNITO)
