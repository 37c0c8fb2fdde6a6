"""OutboxStack: what follows a stored item of the sessions table, driven by the table's stream (the
transactional outbox). The stream consumer (lambdas/stream_consumer) starts the escalation workflow for each
escalation the chatbot records, withdraws one whose workflow cannot start in time, and materialises every
session's S3 transcript from the table.

Delivery: the stream event source retries a failing batch from its first failed record (ReportBatchItemFailures),
halves a batch that fails as a whole (bisect), and keeps retrying for up to MAX_RECORD_AGE; a batch given up
on is recorded in the on-failure queue (shard and sequence numbers, no item data), which raises an alarm.
docs/OPERATIONS.md says what each alarm means and what to do.
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.stream_consumer.settings import ConsumerSettings
from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import notify
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge
from stacks.constructs.python_function import PythonFunction
from stacks.live_stack import LiveStack

METRICS_NAMESPACE = "Tandem"
# The stream keeps records 24 hours; a failing record is retried for this long before it is given up on.
# Longer than any escalation_start_timeout_seconds, so an escalation that cannot start is always withdrawn
# by the consumer (a customer is told) before its record could be dropped.
MAX_RECORD_AGE = Duration.hours(6)
RETRY_ATTEMPTS = 10_000  # the most Lambda allows: in practice MAX_RECORD_AGE is the bound
# The consumer's item operations: reading a session's items, and the withdrawal's transaction.
SESSION_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")
# Outcomes the consumer counts that a person should look at (Powertools metrics, service tandem-stream_consumer).
COUNTED = {
    "EscalationsWithdrawn": "An escalation was withdrawn: its workflow could not be started in time, and the "
                            "customer was told no expert is available. Check Step Functions and the consumer's log.",
    "MalformedStreamRecords": "The stream consumer skipped a record it could not read (see its log).",
    "UnreadableTableItems": "A turn or escalation item of the sessions table could not be read and was left out "
                            "of its transcript (see the consumer's log for the session).",
}


class OutboxStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, store: ConversationStore,
                 escalation_workflow: sfn.IStateMachine, live: LiveStack | None = None,
                 alarm_topic: sns.ITopic | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = ConsumerSettings(
            sessions_table=store.reference(self, "SessionsTableName"),
            transcripts_bucket=store.reference(self, "TranscriptsBucketName"),
            state_machine_arn=escalation_workflow.state_machine_arn,
            start_timeout_seconds=config.escalation_start_timeout_seconds, busy_message=config.busy_message,
            session_ttl_days=config.session_ttl_days,
            live_endpoint=live.reference(self, "LiveManagementUrl") if live else "",
            connections_table=live.reference(self, "ConnectionsTableName") if live else "")
        self.consumer = PythonFunction(
            self, "StreamConsumer", name="stream_consumer",
            description="Tandem stream consumer: starts escalation workflows, materialises transcripts",
            # A batch may wait RETRY_PAUSE_SECONDS on a failing start and rewrite several transcripts.
            memory_size=256, timeout=Duration.seconds(60), log_retention_days=config.log_retention_days,
            environment={**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE},
        )
        store.grant_sessions(self.consumer, policy_id="ConversationAccess", actions=SESSION_ACTIONS)
        store.grant_transcript_write(self.consumer, policy_id="TranscriptWrite")
        self._allow_starts(escalation_workflow)
        if live is not None:
            live.grant_push(self.consumer)

        self.failed_batches = sqs.Queue(self, "FailedBatches", encryption=sqs.QueueEncryption.SQS_MANAGED,
                                        enforce_ssl=True, retention_period=Duration.days(14))
        acknowledge(
            self.failed_batches, "AwsSolutions-SQS3",
            "This queue is itself the on-failure destination of the stream event source; it needs none of its own.",
        )
        sessions = dynamodb.Table.from_table_attributes(
            self, "Sessions", table_arn=store.reference(self, "SessionsTableArn"),
            table_stream_arn=store.reference(self, "SessionsTableStreamArn"))
        self.consumer.function.add_event_source(event_sources.DynamoEventSource(
            sessions, starting_position=lambda_.StartingPosition.TRIM_HORIZON, batch_size=100,
            max_batching_window=Duration.seconds(0), bisect_batch_on_error=True, report_batch_item_failures=True,
            retry_attempts=RETRY_ATTEMPTS, max_record_age=MAX_RECORD_AGE,
            on_failure=event_sources.SqsDlq(self.failed_batches)))
        notify(self._alarms(), alarm_topic)
        CfnOutput(self, "FailedBatchesQueueUrl", value=self.failed_batches.queue_url)

    def _allow_starts(self, workflow: sfn.IStateMachine) -> None:
        """StartExecution on the escalation workflow, nothing else of Step Functions."""
        iam.Policy(self, "StartEscalations", roles=[self.consumer.role], statements=[
            iam.PolicyStatement(sid="StartEscalationWorkflow", actions=["states:StartExecution"],
                                resources=[workflow.state_machine_arn])])

    def _alarms(self) -> list[cloudwatch.Alarm]:
        five_minutes = Duration.minutes(5)
        function = self.consumer.function
        return [
            self.failed_batches.metric_approximate_number_of_messages_visible(period=five_minutes).create_alarm(
                self, "StreamBatchesGivenUp", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The stream consumer gave up on a batch after retrying it for hours: some "
                                  "transcripts or escalation starts were not done. See docs/OPERATIONS.md."),
            cloudwatch.Metric(namespace="AWS/Lambda", metric_name="IteratorAge",
                              dimensions_map={"FunctionName": function.function_name}, statistic="Maximum",
                              period=Duration.minutes(1)).create_alarm(
                self, "StreamBehind", threshold=120_000, evaluation_periods=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The stream consumer is more than 2 minutes behind the table: escalation "
                                  "workflows and transcripts are late (a record keeps failing, or a burst)."),
            function.metric_errors(period=five_minutes).create_alarm(
                self, "StreamConsumerErrors", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description="The stream consumer failed as a whole (bad settings or a bug); its records "
                                  "wait and are retried."),
            *[cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name,
                                dimensions_map={"service": "tandem-stream_consumer"}, statistic="Sum",
                                period=five_minutes).create_alarm(
                self, f"{name}Alarm", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING, alarm_description=description)
              for name, description in COUNTED.items()],
        ]
