"""Each function's environment, as the stacks synthesize it, is its settings contract (lambdas/*/settings.py):
every variable the contract declares and no other, with values the function's own from_env accepts."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lambdas.chat_socket.settings import SocketSettings
from lambdas.chatbot.settings import ENV_VAR as CHATBOT_SETTINGS
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.env_settings import declared
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.feedback_sampler.settings import JobSettings, SamplerSettings
from lambdas.finetune_dataset.settings import DatasetSettings
from lambdas.finetune_gate.settings import GateSettings
from lambdas.groundtruth_post.settings import PostSettings
from lambdas.groundtruth_pre.settings import PreSettings
from lambdas.rating_api.settings import RatingApiSettings
from lambdas.socket_authorizer.settings import AuthorizerSettings
from lambdas.stream_consumer.settings import ConsumerSettings

# (stack, function folder, its settings class, the classes declaring its variables)
FUNCTIONS = [
    ("chatbot", "chatbot", ChatbotSettings, (ChatbotSettings,)),
    ("escalation", "escalation_worker", WorkerSettings, (WorkerSettings,)),
    ("escalation", "expert_api", ExpertApiSettings, (ExpertApiSettings,)),
    ("outbox", "stream_consumer", ConsumerSettings, (ConsumerSettings,)),
    ("feedback", "feedback_sampler", SamplerSettings, (SamplerSettings, JobSettings)),
    ("feedback", "groundtruth_pre", PreSettings, (PreSettings,)),
    ("feedback", "groundtruth_post", PostSettings, (PostSettings,)),
    ("feedback", "rating_api", RatingApiSettings, (RatingApiSettings,)),
    ("finetune", "finetune_dataset", DatasetSettings, (DatasetSettings,)),
    ("finetune", "finetune_gate", GateSettings, (GateSettings,)),
    ("live", "socket_authorizer", AuthorizerSettings, (AuthorizerSettings,)),
    ("live", "chat_socket", SocketSettings, (SocketSettings,)),
]
POWERTOOLS = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
# What a CloudFormation reference (an import, a Ref, an attribute) resolves to at deploy, for from_env.
DEPLOYED = {
    "SESSIONS_TABLE": "TandemData-Sessions", "TRANSCRIPTS_BUCKET": "tandem-transcripts",
    "KNOWLEDGE_BUCKET": "tandem-knowledge", "RATINGS_BUCKET": "tandem-labeling", "LABELING_BUCKET": "tandem-labeling",
    "DATASET_BUCKET": "tandem-artifacts", "REPORT_BUCKET": "tandem-artifacts",
    "SIGNING_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:LinkSigningKey-AbCdEf",
    "EXPERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:TandemEscalation-Experts",
    "EXPERT_API_URL": "https://abcdef1234.execute-api.us-east-1.amazonaws.com/experts/",
    "ESCALATION_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:HumanEscalation",
    "WORKTEAM_ARN": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/tandem-raters",
    "LABELING_ROLE_ARN": "arn:aws:iam::123456789012:role/TandemFeedback-LabelingRole",
    "TEMPLATE_S3_URI": "s3://cdk-assets-bucket/relevance.liquid.html",
    "PRE_ANNOTATION_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:TandemFeedback-Pre",
    "CONSOLIDATION_LAMBDA_ARN": "arn:aws:lambda:us-east-1:123456789012:function:TandemFeedback-Post",
    "SITE_URL": "https://d1234abcd.cloudfront.net",
    "LIVE_ENDPOINT": "https://abcdef1234.execute-api.us-east-1.amazonaws.com/live",
    "CONNECTIONS_TABLE": "TandemLive-Connections",
    "RATINGS_TABLE": "TandemFeedback-Ratings",
    "TOKEN_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC123",
    "TOKEN_AUDIENCES": "1example23456789,2example23456789",
}
CONFIGS = {
    "defaults": {},
    "a workteam, no masking": {
        "workteam_user_pool_id": "us-east-1_AbC123", "workteam_user_group": "raters",
        "workteam_client_id": "1example23456789", "knowledge_export_redact_pii": False,
        "labeling_redact_pii": False, "language_code": "fr", "knowledge_export_prefix": "kb/resolved/"},
}


def environment_of(template: Any, function: str) -> dict[str, Any]:
    (props,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                if f["Properties"]["Handler"] == f"lambdas.{function}.handler.handler"]
    return props["Environment"]["Variables"]


def declared_names(*classes: type) -> set[str]:
    return {v.name for cls in classes for f in dataclasses.fields(cls) if (v := declared(f)) is not None}


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("stack, function, settings, contracts", FUNCTIONS)
def test_a_function_gets_exactly_the_variables_its_settings_declare(make_template, config, stack, function,
                                                                     settings, contracts):
    variables = environment_of(make_template(stack, **CONFIGS[config]), function)

    expected = declared_names(*contracts) | ({CHATBOT_SETTINGS} if settings is ChatbotSettings else set())
    assert set(variables) - POWERTOOLS == expected


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("stack, function, settings, contracts", FUNCTIONS)
def test_the_function_reads_what_its_stack_writes(make_template, config, stack, function, settings, contracts):
    variables = environment_of(make_template(stack, **CONFIGS[config]), function)
    deployed = {name: value if isinstance(value, str) else DEPLOYED[name] for name, value in variables.items()}

    assert isinstance(settings.from_env(deployed), settings)
