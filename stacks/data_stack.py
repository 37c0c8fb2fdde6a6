"""DataStack: the conversation store (stacks/constructs/conversation_store.py) every other stack uses, and
the alarm topic every stack's alarms go to.

Kept apart so the escalation workflow and the chatbot can both use it without depending on each other
the wrong way round (the chatbot starts the workflow; the workflow writes to the conversations).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import AlarmTopic
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = ConversationStore(self, "Conversations",
                                       transcript_retention_days=config.transcript_retention_days)
        self.alarm_topic = AlarmTopic(self, "Alarms", email=config.alarm_email).topic if config.alarm_email else None
        self._api_gateway_logging()

    def _api_gateway_logging(self) -> None:
        """API Gateway's account-wide CloudWatch role. Stage execution logging fails to deploy without it, so
        it lives here, in the stack every API stack deploys after."""
        role = iam.Role(self, "ApiGatewayLogging", assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                        managed_policies=[iam.ManagedPolicy.from_aws_managed_policy_name(
                            "service-role/AmazonAPIGatewayPushToCloudWatchLogs")])
        apigw.CfnAccount(self, "ApiGatewayAccount", cloud_watch_role_arn=role.role_arn)
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role uses AWS's AmazonAPIGatewayPushToCloudWatchLogs, "
            "which only lets API Gateway write its own execution and access logs.",
        )
