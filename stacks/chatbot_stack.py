"""ChatbotStack: the chat API (POST /chat, GET messages, POST a thumb on an answer) behind Cognito, the chatbot Lambda (lambdas/chatbot) with access to the
sessions table (DataStack), and alarms on the failures the Lambda counts.

The customer user pool lives here, with its managed login domain, the web app's client (authorization code
with PKCE, back to the site WebStack serves) and the groups of the people who answer and rate (experts,
raters).

The chatbot only writes the table: the escalation workflow and the transcripts follow from its stream
(stacks/outbox_stack.py), so this stack needs neither the workflow nor the transcripts bucket."""

from __future__ import annotations

from datetime import date

from aws_cdk import Annotations, CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from constructs import Construct

from lambdas.chatbot.request import SESSION_ID
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.thumbs import MAX_COMMENT_CHARS, THUMBS
from lambdas.common.transcript import IDENTIFIER
from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import notify
from stacks.constructs.bedrock_access import BedrockAccess
from stacks.constructs.conversation_store import ConversationStore
from stacks.constructs.nag import acknowledge
from stacks.constructs.python_function import PythonFunction
from stacks.constructs.rest_api import logged_rest_api
from stacks.model_lifecycle import lifecycle_warning
from stacks.sign_in import domain_prefix

METRICS_NAMESPACE = "Tandem"
# Failures the chatbot counts (Powertools metrics); each gets an alarm.
COUNTED_FAILURES = ("GateFailures", "ModelFailures", "StorageFailures")
# What the chatbot does with the sessions table: load a session and its turns, and one transaction per turn.
SESSION_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")
# The pool's groups: who may take conversations over, and who may rate answers. The APIs check the
# `cognito:groups` claim themselves; the pages only show what it says.
GROUPS = {
    "experts": "Experts: take escalated conversations over from the bot and answer customers.",
    "raters": "Raters: rate the bot's logged answers for fine-tuning.",
    "rating-admins": "Rating admins: follow rating batches, read and export their records, close them.",
}
# Token lifetimes, the same for every client of the pool.
ID_TOKEN_VALIDITY = Duration.hours(1)
ACCESS_TOKEN_VALIDITY = Duration.hours(1)
REFRESH_TOKEN_VALIDITY = Duration.days(30)


class ChatbotStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, store: ConversationStore,
                 sign_in_urls: list[str], site_url: str | None = None, alarm_topic: sns.ITopic | None = None,
                 **kwargs) -> None:
        """sign_in_urls: the web app's pages the managed login may return to (WebStack.sign_in_urls);
        site_url: the web app's address (WebStack.site_url), whose pages call the chat API."""
        super().__init__(scope, construct_id, **kwargs)
        self.site_url = site_url
        self.config = config

        self.store = store
        self.chatbot = self._chatbot_function(config)
        store.grant_sessions(self.chatbot, policy_id="ConversationAccess", actions=SESSION_ACTIONS)
        self.user_pool, self.user_pool_client = self._user_pool(config)
        self.sign_in_domain, self.web_client = self._managed_login(config, sign_in_urls)
        self.api = self._api(config)
        self._alarms(alarm_topic)

        CfnOutput(self, "ChatUrl", value=self.api.url_for_path("/chat"))
        CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=self.user_pool_client.user_pool_client_id)
        CfnOutput(self, "WebClientId", value=self.web_client.user_pool_client_id)
        CfnOutput(self, "ManagedLoginUrl", value=self.sign_in_domain.base_url(),
                  description="The managed login domain: the web app sends people here to sign in")
        # The model the chatbot calls: `make smoke` asks Bedrock about it when an answer carries a model error.
        CfnOutput(self, "ModelId", value=config.model_id)

    # The function and what it may touch ---------------------------------------------------------

    def _chatbot_function(self, config: TandemConfig) -> PythonFunction:
        settings = ChatbotSettings.from_config(config, sessions_table=self.store.reference(self, "SessionsTableName"),
                                               site_url=self.site_url or "")
        chatbot = PythonFunction(
            self, "Chatbot", name="chatbot",
            description="Tandem chatbot: Bedrock answer with a concurrent escalation gate",
            # More memory is more CPU: the langchain import and two concurrent calls want it.
            memory_size=1024, timeout=Duration.seconds(28),
            log_retention_days=config.log_retention_days, snapstart=config.snapstart,
            environment={**settings.to_env(), "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE},
        )
        role = chatbot.role
        model_ids = {config.model_id}
        if config.sentiment_detector == "llm":
            model_ids.add(config.effective_gate_model_id)
        BedrockAccess(self, "ChatbotModels", role=role, model_ids=model_ids)
        self._warn_about_retired_models(config)
        if config.knowledge_base_id:
            role.add_to_policy(iam.PolicyStatement(
                sid="RetrieveFromKnowledgeBase", actions=["bedrock:Retrieve"],
                resources=[f"arn:{self.partition}:bedrock:{self.region}:{self.account}:knowledge-base/"
                           f"{config.knowledge_base_id}"]))
        if config.guardrail_id:
            guardrail_arn = config.guardrail_id if config.guardrail_id.startswith("arn:") else (
                f"arn:{self.partition}:bedrock:{self.region}:{self.account}:guardrail/{config.guardrail_id}")
            role.add_to_policy(iam.PolicyStatement(
                sid="ApplyConfiguredGuardrail", actions=["bedrock:ApplyGuardrail"], resources=[guardrail_arn]))
        if config.sentiment_detector == "comprehend":
            comprehend = iam.Policy(self, "ChatbotSentiment", roles=[role], statements=[iam.PolicyStatement(
                sid="DetectSentiment", actions=["comprehend:DetectSentiment"], resources=["*"])])
            acknowledge(
                comprehend, "AwsSolutions-IAM5[Resource::*]",
                "comprehend:DetectSentiment supports no resource-level permissions, so it needs '*'. It is a "
                "stateless analysis of the text sent and reads or changes no resource.",
            )

        return chatbot

    # Who may call ----------------------------------------------------------------------------------

    def _warn_about_retired_models(self, config: TandemConfig) -> None:
        keys = {"model_id": config.model_id}
        if config.sentiment_detector == "llm" and config.gate_model_id:
            keys["gate_model_id"] = config.gate_model_id
        for key, model_id in keys.items():
            warning = lifecycle_warning(key, model_id, date.today())
            if warning:
                Annotations.of(self).add_warning_v2("tandem:model-lifecycle", warning)

    def _user_pool(self, config: TandemConfig) -> tuple[cognito.UserPool, cognito.UserPoolClient]:
        mfa = {"off": cognito.Mfa.OFF, "optional": cognito.Mfa.OPTIONAL, "required": cognito.Mfa.REQUIRED}[config.mfa]
        pool = cognito.UserPool(
            self, "Customers",
            self_sign_up_enabled=False,  # accounts are created by an administrator (see README)
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(min_length=12, require_digits=True, require_lowercase=True,
                                                   require_uppercase=True, require_symbols=True,
                                                   temp_password_validity=Duration.days(3)),
            mfa=mfa,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False) if mfa != cognito.Mfa.OFF else None,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            pool, "AwsSolutions-COG8",
            "Threat protection (the Plus feature plan) is billed per monthly active user; accounts are "
            "admin-created only, passwords are strong and MFA is configurable (cdk.json 'mfa').",
        )
        if config.mfa != "required":
            acknowledge(
                pool, "AwsSolutions-COG2",
                f"MFA is '{config.mfa}' by configuration (cdk.json 'mfa'); TOTP is offered to every user and "
                "set 'mfa' to 'required' to enforce it. Self sign-up is off: every account is admin-created.",
            )
        client = pool.add_client(
            "ChatClient",
            auth_flows=cognito.AuthFlow(user_srp=True, user_password=True),
            # Signs in through the API (a CLI, `make smoke`); the pool's domain is for the web client alone, so
            # this client takes no part in OAuth (CDK would otherwise allow the implicit grant to example.com).
            disable_o_auth=True,
            generate_secret=False,  # public clients (a browser, a CLI) cannot keep a secret
            prevent_user_existence_errors=True,
            id_token_validity=ID_TOKEN_VALIDITY, access_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
        )
        for name, description in GROUPS.items():
            construct = "".join(part.capitalize() for part in name.split("-"))
            cognito.CfnUserPoolGroup(self, f"{construct}Group", user_pool_id=pool.user_pool_id,
                                     group_name=name, description=description)
        return pool, client

    def _managed_login(self, config: TandemConfig,
                       sign_in_urls: list[str]) -> tuple[cognito.UserPoolDomain, cognito.UserPoolClient]:
        """The managed login pages (version 2, Cognito's own look) and the web app's client: a browser
        cannot keep a secret, so the authorization code grant with PKCE (the page's code_verifier) and
        nothing else; the implicit grant would put tokens in the address bar."""
        domain = self.user_pool.add_domain(
            "SignInDomain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=domain_prefix(config)),
            managed_login_version=cognito.ManagedLoginVersion.NEWER_MANAGED_LOGIN)
        client = self.user_pool.add_client(
            "WebClient",
            generate_secret=False,
            # Sign-in happens on the managed login pages only; the client keeps just the refresh of its tokens.
            auth_flows=cognito.AuthFlow(user_srp=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=False,
                                         client_credentials=False),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, cognito.OAuthScope.PROFILE],
                callback_urls=sign_in_urls, logout_urls=sign_in_urls),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=ID_TOKEN_VALIDITY, access_token_validity=ACCESS_TOKEN_VALIDITY,
            refresh_token_validity=REFRESH_TOKEN_VALIDITY,
        )
        branding = cognito.CfnManagedLoginBranding(
            self, "SignInBranding", user_pool_id=self.user_pool.user_pool_id,
            client_id=client.user_pool_client_id, use_cognito_provided_values=True)
        branding.node.add_dependency(domain)  # branding applies to managed login (version 2) domains
        return domain, client

    def _api(self, config: TandemConfig) -> apigw.RestApi:
        api = logged_rest_api(self, "ChatApi", description="Tandem chat API", stage_name="prod",
                              rate_limit=config.api_throttle_rate_limit,
                              burst_limit=config.api_throttle_burst_limit,
                              log_retention_days=config.log_retention_days, access_logs_id="ApiAccessLogs",
                              log_user=True, web_origin=self.site_url)
        authorizer = apigw.CognitoUserPoolsAuthorizer(self, "CustomerAuthorizer", cognito_user_pools=[self.user_pool])
        model = api.add_model(
            "ChatRequest", content_type="application/json", model_name="ChatRequest",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT,
                required=["message"], additional_properties=False,
                properties={
                    "message": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, min_length=1,
                                                max_length=config.max_message_chars),
                    "session_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING, pattern=SESSION_ID.pattern),
                }),
        )
        validator = api.add_request_validator("BodyValidator", validate_request_body=True,
                                              validate_request_parameters=True)
        integration = apigw.LambdaIntegration(self.chatbot.invocable, timeout=Duration.seconds(29))
        chat = api.root.add_resource("chat")
        chat.add_method(
            "POST", integration, authorizer=authorizer, authorization_type=apigw.AuthorizationType.COGNITO,
            request_models={"application/json": model}, request_validator=validator,
        )
        # Polling for what an expert said: GET /chat/{session_id}/messages?after=<created_at>
        session = chat.add_resource("{session_id}")
        session.add_resource("messages").add_method(
            "GET", integration, authorizer=authorizer, authorization_type=apigw.AuthorizationType.COGNITO,
            request_parameters={"method.request.path.session_id": True,
                                "method.request.querystring.after": False},
            request_validator=validator,
        )
        # A customer's thumb on one of the assistant's answers: POST /chat/{session_id}/feedback
        thumb_model = api.add_model(
            "ThumbRequest", content_type="application/json", model_name="ThumbRequest",
            schema=apigw.JsonSchema(
                schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT,
                required=["turn_id", "thumb"], additional_properties=False,
                properties={
                    "turn_id": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING,
                                                pattern=f"^{IDENTIFIER.pattern}$"),
                    # null takes the thumb back; a pattern checks strings only (an enum cannot hold null here:
                    # CDK drops it, and null would then fail the enum).
                    "thumb": apigw.JsonSchema(type=[apigw.JsonSchemaType.STRING, apigw.JsonSchemaType.NULL],
                                              pattern=f"^({'|'.join(THUMBS)})$"),
                    "comment": apigw.JsonSchema(type=apigw.JsonSchemaType.STRING,
                                                max_length=MAX_COMMENT_CHARS),
                }),
        )
        session.add_resource("feedback").add_method(
            "POST", integration, authorizer=authorizer, authorization_type=apigw.AuthorizationType.COGNITO,
            request_parameters={"method.request.path.session_id": True},
            request_models={"application/json": thumb_model}, request_validator=validator,
        )
        # A body that fails the schema gets the same JSON error shape as the Lambda's own 400s. messageString
        # is already a quoted, escaped JSON string; the raw validation text may hold quotes that break JSON.
        api.add_gateway_response(
            "InvalidBody", type=apigw.ResponseType.BAD_REQUEST_BODY, status_code="400",
            templates={"application/json": '{"error": {"field": "body", "message": $context.error.messageString}}'},
            response_headers={"Access-Control-Allow-Origin": f"'{self.site_url}'", "Vary": "'Origin'"}
            if self.site_url else None)
        acknowledge(
            api, "AwsSolutions-APIG3",
            "No WAF web ACL by default (it bills per ACL and rule): every call needs a Cognito token, the stage "
            "is throttled and bodies are schema-validated. Associate a web ACL with the stage for IP rules.",
        )
        return api

    # Who is told when it breaks ------------------------------------------------------------------------

    def _alarms(self, alarm_topic: sns.ITopic | None) -> None:
        alarms = [
            self.chatbot.function.metric_errors(period=Duration.minutes(5)).create_alarm(
                self, "ChatbotErrors", threshold=1, evaluation_periods=1,
                alarm_description="The chatbot Lambda raised errors (customers got 502s)."),
            self.api.metric_server_error(period=Duration.minutes(5)).create_alarm(
                self, "ApiServerErrors", threshold=5, evaluation_periods=1,
                alarm_description="POST /chat answered 5xx."),
        ]
        service = {"service": "tandem-chatbot"}  # Powertools puts the service name on every metric
        for name in COUNTED_FAILURES:
            metric = cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map=service,
                                       statistic="Sum", period=Duration.minutes(5))
            alarms.append(metric.create_alarm(
                self, f"{name}Alarm", threshold=1, evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"The chatbot counted {name} (see its logs for each case)."))
        notify(alarms, alarm_topic)
