"""LiveStack: the live channel. An API Gateway WebSocket API whose $connect is authorized by the customer's
or expert's Cognito ID token (lambdas/socket_authorizer), the connections table, and the function that keeps
it (lambdas/chat_socket). Events are pushed by the stream consumer (stacks/outbox_stack.py), which this stack
allows to post to its connections (`grant_push`).

docs/live-channel.md describes the protocol: the subprotocol `tandem.v1`, the rooms, the event envelope.
"""

from __future__ import annotations

import jsii
from aws_cdk import CfnOutput, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambdas.chat_socket.settings import SocketSettings
from lambdas.common.connections import BY_LISTENER, BY_ROOM
from lambdas.socket_authorizer.settings import AuthorizerSettings
from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import notify
from stacks.constructs.nag import acknowledge
from stacks.constructs.python_function import PythonFunction, retention

STAGE = "live"
# What the stream consumer does with the connections table: find who listens, forget who is gone.
PUSH_TABLE_ACTIONS = ("dynamodb:Query", "dynamodb:DeleteItem")


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLog:
    def __init__(self, log_group: logs.ILogGroup):
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        # Who connected, to which route, and the outcome; never a header (the ID token travels in one).
        return apigw.AccessLogFormat.custom(
            '{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
            '"requestTime":"$context.requestTime","routeKey":"$context.routeKey","status":"$context.status",'
            '"connectionId":"$context.connectionId","eventType":"$context.eventType",'
            '"principalId":"$context.authorizer.principalId","error":"$context.error.messageString",'
            '"authorizerError":"$context.authorizer.error"}')


class LiveStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, user_pool: cognito.IUserPool,
                 client_ids: list[str], alarm_topic: sns.ITopic | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.connections = self._connections_table()
        self.authorizer_function = PythonFunction(
            self, "SocketAuthorizer", name="socket_authorizer",
            description="Tandem live channel: verifies the Cognito ID token at $connect",
            memory_size=256, timeout=Duration.seconds(10), log_retention_days=config.log_retention_days,
            environment={**AuthorizerSettings(
                issuer=f"https://cognito-idp.{self.region}.{self.url_suffix}/{user_pool.user_pool_id}",
                client_ids=client_ids).to_env(), "POWERTOOLS_METRICS_NAMESPACE": "Tandem"})
        self.socket_function = PythonFunction(
            self, "ChatSocket", name="chat_socket",
            description="Tandem live channel: keeps the connections table ($connect, $disconnect, keep-alive)",
            memory_size=256, timeout=Duration.seconds(10), log_retention_days=config.log_retention_days,
            environment={**SocketSettings(connections_table=self.connections.table_name).to_env(),
                         "POWERTOOLS_METRICS_NAMESPACE": "Tandem"})
        iam.Policy(self, "KeepConnections", roles=[self.socket_function.role], statements=[iam.PolicyStatement(
            sid="AddAndRemoveConnections", actions=["dynamodb:PutItem", "dynamodb:DeleteItem"],
            resources=[self.connections.table_arn])])

        self.api = self._api()
        self.stage = self._stage(config)
        # Where the stream consumer posts (API Gateway's @connections API of this stage).
        self.management_url = self.stage.callback_url
        notify(self._alarms(), alarm_topic)
        CfnOutput(self, "LiveUrl", value=self.stage.url)
        self._export("LiveApiId", self.api.api_id)
        self._export("ConnectionsTableArn", self.connections.table_arn)
        self._export("ConnectionsTableName", self.connections.table_name)
        self._export("LiveManagementUrl", self.management_url)

    def _connections_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self, "Connections",
            partition_key=dynamodb.Attribute(name="connection_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute="expires_at",
            removal_policy=RemovalPolicy.DESTROY,  # open connections only: nothing to keep
        )
        for name, key in ((BY_LISTENER, "listener"), (BY_ROOM, "room")):
            table.add_global_secondary_index(
                index_name=name, partition_key=dynamodb.Attribute(name=key, type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.INCLUDE, non_key_attributes=["expires_at"])
        acknowledge(
            table, "AwsSolutions-DDB3",
            "The table holds open WebSocket connections only (at most two hours each, removed on disconnect): "
            "a restored copy would name connections that no longer exist, so point-in-time recovery buys nothing.",
        )
        return table

    def _api(self) -> apigwv2.WebSocketApi:
        authorizer = authorizers.WebSocketLambdaAuthorizer(
            "IdTokenAuthorizer", self.authorizer_function.function,
            # The browser offers `tandem.v1` and its ID token as subprotocols; a connection without the header
            # is refused by API Gateway before the function runs.
            identity_source=["route.request.header.Sec-WebSocket-Protocol"])
        socket = self.socket_function.function
        api = apigwv2.WebSocketApi(
            self, "LiveApi", description="Tandem live channel: conversation events pushed to browsers",
            connect_route_options=apigwv2.WebSocketRouteOptions(
                integration=integrations.WebSocketLambdaIntegration("ConnectIntegration", socket), authorizer=authorizer),
        )
        for key, integration_id in (("$disconnect", "DisconnectIntegration"), ("$default", "KeepAliveIntegration")):
            route = api.add_route(key, integration=integrations.WebSocketLambdaIntegration(integration_id, socket))
            acknowledge(
                route, "AwsSolutions-APIG4",
                "API Gateway authorizes a WebSocket connection once, at $connect (authorizers attach to $connect "
                "only); $disconnect and the keep-alive run on a connection that was already authorized.",
            )
        return api

    def _stage(self, config: TandemConfig) -> apigwv2.WebSocketStage:
        access_log = logs.LogGroup(self, "LiveAccessLogs", retention=retention(config.log_retention_days),
                                   removal_policy=RemovalPolicy.DESTROY)
        return apigwv2.WebSocketStage(
            self, "LiveStage", web_socket_api=self.api, stage_name=STAGE, auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=config.api_throttle_rate_limit,
                                              burst_limit=config.api_throttle_burst_limit),
            access_log_settings=_AccessLog(access_log))

    def _alarms(self) -> list[cloudwatch.Alarm]:
        # The authorizer is left out: a refused token is an error of its invocation (API Gateway's 401 needs the
        # function to raise), so its error count is the count of bad tokens, not of faults.
        return [self.socket_function.function.metric_errors(period=Duration.minutes(5)).create_alarm(
            self, "ChatSocketErrors", threshold=1, evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The live channel's connection handler failed: connections may not be kept, so "
                              "browsers fall back to polling.")]

    def _export(self, name: str, value: str) -> None:
        CfnOutput(self, name, value=value, export_name=f"{self.stack_name}-{name}")

    def reference(self, consumer: Construct, name: str) -> str:
        """An exported value as the consumer's stack refers to it (and cdk-nag prints it: the export's name)."""
        stack = Stack.of(consumer)
        stack.add_stack_dependency(self, "imports the live channel's exports")
        return Fn.import_value(f"{self.stack_name}-{name}")

    def grant_push(self, function: PythonFunction) -> None:
        """Posting to this stage's connections, and reading and pruning the connections table (a policy in the
        function's own stack, so the live channel never depends on its pusher)."""
        api_id = self.reference(function, "LiveApiId")
        table_arn = self.reference(function, "ConnectionsTableArn")
        policy = iam.Policy(function, "LivePush", roles=[function.role], statements=[
            iam.PolicyStatement(
                sid="PostToConnections", actions=["execute-api:ManageConnections"],
                resources=[Stack.of(function).format_arn(service="execute-api", resource=api_id,
                                                         resource_name=f"{STAGE}/POST/@connections/*")]),
            iam.PolicyStatement(
                sid="FindAndForgetConnections", actions=list(PUSH_TABLE_ACTIONS),
                resources=[table_arn, f"{table_arn}/index/*"]),
        ])
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                    f"{self.stack_name}-LiveApiId/{STAGE}/POST/@connections/*]",
            "Connection ids are made by API Gateway as browsers connect; the pusher may POST to any connection of "
            "this one stage, and to nothing else of the API.",
        )
        acknowledge(
            policy, f"AwsSolutions-IAM5[Resource::{self.stack_name}-ConnectionsTableArn/index/*]",
            "Query on the connections table's two indexes (by listener, by room), which exist to find whom to "
            "push to; no other table is reachable.",
        )
