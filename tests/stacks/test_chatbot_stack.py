"""ChatbotStack: resources, their properties and IAM scoped to the model, the table and the bucket."""

from __future__ import annotations

import json
from datetime import date

import pytest
from aws_cdk.assertions import Annotations, Match, Template

from lambdas.chatbot.handler import app as chatbot_app
from lambdas.chatbot.settings import ChatbotSettings
from local.cdk_app import tandem_stacks
from stacks.chatbot_stack import COUNTED_FAILURES
from stacks.config import TandemConfig
from stacks.model_lifecycle import lifecycle_warning
from tests.stacks.api_routes import api_methods
from tests.stacks.conftest import as_list, statement, statements

DEFAULT = TandemConfig()


def chatbot_function(template: Template) -> dict:
    functions = template.find_resources("AWS::Lambda::Function", {
        "Properties": {"Handler": "lambdas.chatbot.handler.handler"}})
    assert len(functions) == 1
    return next(iter(functions.values()))["Properties"]


def test_function_runtime_architecture_tracing_and_snapstart(template):
    props = chatbot_function(template)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert props["Timeout"] < 29  # inside API Gateway's integration timeout
    template.has_resource_properties("AWS::Lambda::Alias", {"Name": "live"})


def test_function_settings_are_the_config_values(template):
    env = chatbot_function(template)["Environment"]["Variables"]
    settings = json.loads(env["CHATBOT_SETTINGS"])
    assert set(settings) == set(ChatbotSettings.context_keys())
    assert settings["model_id"] == DEFAULT.model_id
    assert settings["vader_negative_threshold"] == DEFAULT.vader_negative_threshold
    assert settings["human_request_languages"] == list(DEFAULT.human_request_languages)
    assert "SESSIONS_TABLE" in env
    # The turn goes to the table only; the transcript and the workflow follow from its stream.
    assert "TRANSCRIPTS_BUCKET" not in env and "ESCALATION_STATE_MACHINE_ARN" not in env


def test_function_settings_follow_context_overrides(make_template):
    env = chatbot_function(make_template(temperature="0.7", sentiment_detector="vader"))["Environment"]["Variables"]
    settings = json.loads(env["CHATBOT_SETTINGS"])
    assert settings["temperature"] == 0.7
    assert settings["sentiment_detector"] == "vader"


def test_the_model_id_is_an_output_for_the_smoke_check(template, make_template):
    # tools/smoke asks Bedrock about this model when an answer carries a model error.
    assert template.to_json()["Outputs"]["ModelId"] == {"Value": DEFAULT.model_id}
    profile = "eu.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert make_template(model_id=profile).to_json()["Outputs"]["ModelId"] == {"Value": profile}


def test_log_group_has_configured_retention(make_template):
    template = make_template(log_retention_days=14)
    log_group_ref = chatbot_function(template)["LoggingConfig"]["LogGroup"]["Ref"]
    retention = template.to_json()["Resources"][log_group_ref]["Properties"]["RetentionInDays"]
    assert retention == 14
    assert chatbot_function(template)["LoggingConfig"]["LogFormat"] == "JSON"


def test_chat_method_requires_cognito_and_validates_the_body(make_template):
    template = make_template(max_message_chars=1234)
    template.has_resource_properties("AWS::ApiGateway::Method", {
        "HttpMethod": "POST", "AuthorizationType": "COGNITO_USER_POOLS",
        "RequestValidatorId": Match.any_value(),
        "RequestModels": {"application/json": Match.any_value()},
    })
    template.has_resource_properties("AWS::ApiGateway::RequestValidator", {"ValidateRequestBody": True})
    model = models(template)["ChatRequest"]
    assert model["required"] == ["message"]
    assert model["additionalProperties"] is False
    assert model["properties"]["message"]["maxLength"] == 1234
    assert model["properties"]["message"]["minLength"] == 1
    template.has_resource_properties("AWS::ApiGateway::Authorizer", {"Type": "COGNITO_USER_POOLS"})


def models(template: Template) -> dict[str, dict]:
    """The API's request models' schemas, by model name."""
    return {m["Properties"]["Name"]: m["Properties"]["Schema"]
            for m in template.find_resources("AWS::ApiGateway::Model").values()}


def test_the_thumb_method_requires_cognito_and_validates_the_body(template):
    resources = template.find_resources("AWS::ApiGateway::Resource")
    feedback = next(k for k, r in resources.items() if r["Properties"]["PathPart"] == "feedback")
    method = next(m["Properties"] for m in template.find_resources("AWS::ApiGateway::Method").values()
                  if m["Properties"]["ResourceId"] == {"Ref": feedback} and m["Properties"]["HttpMethod"] == "POST")
    assert method["AuthorizationType"] == "COGNITO_USER_POOLS"
    assert method["AuthorizerId"] == {"Ref": next(iter(template.find_resources("AWS::ApiGateway::Authorizer")))}
    assert method["RequestValidatorId"]
    assert method["RequestParameters"] == {"method.request.path.session_id": True}
    schema = models(template)["ThumbRequest"]
    assert schema["required"] == ["turn_id", "thumb"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["thumb"] == {"type": ["string", "null"], "pattern": "^(up|down)$"}
    assert schema["properties"]["comment"]["maxLength"] == 500


def test_every_method_of_the_api_is_a_route_of_the_function_and_the_reverse(template):
    assert api_methods(template) == chatbot_app.routes() == {
        ("POST", "/chat"), ("GET", "/chat/{session_id}/messages"), ("POST", "/chat/{session_id}/feedback")}


def test_no_method_is_open(template):
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        if method["Properties"]["HttpMethod"] != "OPTIONS":
            assert method["Properties"]["AuthorizationType"] == "COGNITO_USER_POOLS"


def test_stage_is_throttled_traced_and_logs_no_bodies(make_template):
    template = make_template(api_throttle_rate_limit=7, api_throttle_burst_limit=9)
    template.has_resource_properties("AWS::ApiGateway::Stage", {
        "TracingEnabled": True,
        "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        "MethodSettings": [Match.object_like({"ThrottlingRateLimit": 7, "ThrottlingBurstLimit": 9,
                                              "DataTraceEnabled": False})],
    })


def test_api_invokes_the_snapstart_alias(template):
    method = next(m for m in template.find_resources("AWS::ApiGateway::Method").values()
                  if m["Properties"]["HttpMethod"] == "POST")
    uri = json.dumps(method["Properties"]["Integration"]["Uri"])
    alias_id = next(iter(template.find_resources("AWS::Lambda::Alias")))
    assert alias_id in uri


def test_snapstart_off_has_no_alias(make_template):
    template = make_template(snapstart=False)
    template.resource_count_is("AWS::Lambda::Alias", 0)
    assert "SnapStart" not in chatbot_function(template)


def test_user_pool_is_admin_only_with_strong_passwords(make_template):
    template = make_template(mfa="required")
    template.has_resource_properties("AWS::Cognito::UserPool", {
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
        "MfaConfiguration": "ON",
        "Policies": {"PasswordPolicy": Match.object_like({"MinimumLength": 12, "RequireSymbols": True})},
    })
    template.has_resource_properties("AWS::Cognito::UserPoolClient", {"GenerateSecret": False})


# IAM ---------------------------------------------------------------------------------------------------

HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"


def model_statements(template: Template) -> dict[str, dict]:
    """The statements that let the chatbot invoke Bedrock models, by Sid."""
    found = {s["Sid"]: s for s in statements(template) if "bedrock:InvokeModel" in as_list(s["Action"])}
    assert all(as_list(s["Action"]) == ["bedrock:InvokeModel"] for s in found.values())
    return found


def text(value) -> str | list:
    """An ARN as CloudFormation will resolve it, with ${Ref} for references: '${AWS::Region}'."""
    if isinstance(value, list):
        return [text(v) for v in value]
    if isinstance(value, dict) and "Ref" in value:
        return "${" + value["Ref"] + "}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(str(text(p)) for p in parts)
    return value


PROFILE = "arn:${AWS::Partition}:bedrock:${AWS::Region}:${AWS::AccountId}:inference-profile/"
MODEL = "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/"


def test_the_default_model_is_active_and_reached_through_the_global_profile():
    assert DEFAULT.model_id == f"global.{HAIKU}"
    assert lifecycle_warning("model_id", DEFAULT.model_id, date(2026, 11, 30)) is None


def test_the_global_profile_gets_the_three_statements_aws_documents(template):
    """AWS: the profile in the Region, the model in the Region through the profile, and the Region-less
    global model ARN through the profile with aws:RequestedRegion "unspecified"."""
    found = {sid: text(s["Resource"]) for sid, s in model_statements(template).items()}
    profile = f"{PROFILE}global.{HAIKU}"
    assert found == {
        "InvokeGlobalProfiles": profile,
        "InvokeModelsThroughGlobalProfilesInRegion": f"{MODEL}{HAIKU}",
        "InvokeModelsThroughGlobalProfiles": f"arn:${{AWS::Partition}}:bedrock:::foundation-model/{HAIKU}",
    }
    region = {"Ref": "AWS::Region"}
    statements_ = model_statements(template)
    assert statements_["InvokeGlobalProfiles"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": region}}
    in_region = statements_["InvokeModelsThroughGlobalProfilesInRegion"]["Condition"]["StringEquals"]
    assert in_region["aws:RequestedRegion"] == region and text(in_region["bedrock:InferenceProfileArn"]) == [profile]
    everywhere = statements_["InvokeModelsThroughGlobalProfiles"]["Condition"]["StringEquals"]
    assert everywhere["aws:RequestedRegion"] == "unspecified"
    assert text(everywhere["bedrock:InferenceProfileArn"]) == [profile]


def test_a_geographic_profile_grants_the_profile_and_its_model_only_through_it(make_template):
    found = model_statements(make_template(model_id=f"eu.{HAIKU}"))
    assert set(found) == {"InvokeConfiguredModels", "InvokeModelsThroughGeographicProfiles"}
    profile = f"{PROFILE}eu.{HAIKU}"
    assert text(found["InvokeConfiguredModels"]["Resource"]) == profile
    assert "Condition" not in found["InvokeConfiguredModels"]
    through = found["InvokeModelsThroughGeographicProfiles"]
    assert text(through["Resource"]) == f"arn:${{AWS::Partition}}:bedrock:*::foundation-model/{HAIKU}"
    assert text(through["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"]) == [profile]
    assert list(through["Condition"]) == ["StringEquals"] and list(through["Condition"]["StringEquals"]) == [
        "bedrock:InferenceProfileArn"]


def test_a_foundation_model_id_is_granted_in_the_stacks_region_only(make_template):
    found = model_statements(make_template(model_id="amazon.nova-micro-v1:0"))
    assert set(found) == {"InvokeConfiguredModels"}
    assert text(found["InvokeConfiguredModels"]["Resource"]) == f"{MODEL}amazon.nova-micro-v1:0"
    assert "Condition" not in found["InvokeConfiguredModels"]


def test_an_imported_model_is_granted_by_its_arn_and_nothing_else(make_template):
    arn = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcd1234efgh"  # Custom Model Import's ARN
    found = model_statements(make_template(model_id=arn, model_provider="meta"))
    assert set(found) == {"InvokeConfiguredModels"}
    assert found["InvokeConfiguredModels"]["Resource"] == arn


def test_llm_detector_adds_the_gate_model(make_template):
    template = make_template(sentiment_detector="llm", gate_model_id="amazon.nova-micro-v1:0")
    found = model_statements(template)
    assert text(found["InvokeConfiguredModels"]["Resource"]) == f"{MODEL}amazon.nova-micro-v1:0"
    assert text(found["InvokeGlobalProfiles"]["Resource"]) == f"{PROFILE}global.{HAIKU}"


def test_a_gate_model_of_another_detector_is_not_granted(make_template):
    template = make_template(sentiment_detector="vader", gate_model_id="amazon.nova-micro-v1:0")
    assert "nova-micro" not in json.dumps(model_statements(template))


# Model lifecycle ---------------------------------------------------------------------------------------

def synth_warnings(**overrides) -> list[str]:
    annotations = Annotations.from_stack(tandem_stacks(**overrides)["chatbot"])
    return [w.entry.data for w in annotations.find_warning("*", Match.string_like_regexp("tandem:model-lifecycle"))]


def test_a_retired_model_warns_at_synth_naming_the_replacement_and_synth_still_succeeds(make_template):
    warnings = synth_warnings(model_id="anthropic.claude-3-haiku-20240307-v1:0")
    assert len(warnings) == 1
    assert "'model_id' = 'anthropic.claude-3-haiku-20240307-v1:0' has been end-of-life" in warnings[0]
    assert f"global.{HAIKU}" in warnings[0] and "get-foundation-model" in warnings[0]
    chatbot_function(make_template(model_id="anthropic.claude-3-haiku-20240307-v1:0"))  # the stack still synthesizes


def test_a_retired_gate_model_warns_only_with_the_llm_detector():
    legacy_sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert synth_warnings(sentiment_detector="vader", gate_model_id=legacy_sonnet) == []
    warnings = synth_warnings(sentiment_detector="llm", gate_model_id=legacy_sonnet)
    assert len(warnings) == 1 and f"'gate_model_id' = '{legacy_sonnet}'" in warnings[0]


def test_the_default_configuration_gives_no_lifecycle_warning():
    assert synth_warnings() == []


@pytest.mark.parametrize("detector, has_comprehend", [("comprehend", True), ("vader", False), ("llm", False)])
def test_comprehend_permission_only_for_the_comprehend_detector(make_template, detector, has_comprehend):
    actions = {a for s in statements(make_template(sentiment_detector=detector)) for a in as_list(s["Action"])}
    assert ("comprehend:DetectSentiment" in actions) is has_comprehend


def test_knowledge_base_and_guardrail_permissions_follow_config(make_template, template):
    configured = make_template(knowledge_base_id="ABCDEFGHIJ", guardrail_id="gr0abc123")
    assert "knowledge-base/ABCDEFGHIJ" in json.dumps(statement(configured, "RetrieveFromKnowledgeBase")["Resource"])
    assert "guardrail/gr0abc123" in json.dumps(statement(configured, "ApplyConfiguredGuardrail")["Resource"])
    sids = {s.get("Sid") for s in statements(template)}
    assert not sids & {"RetrieveFromKnowledgeBase", "ApplyConfiguredGuardrail"}


def test_table_access_is_the_item_operations_the_chatbot_uses(template):
    stmt = statement(template, "SessionItems")
    # Load a session and its turns, then one transaction of Puts and an Update; no ConditionCheck, no Delete.
    assert sorted(stmt["Action"]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    assert stmt["Resource"] == {"Fn::ImportValue": "TandemData-SessionsTableArn"}  # the DataStack's table


def test_the_chatbot_touches_no_bucket_and_no_workflow(template):
    actions = {a for s in statements(template) for a in as_list(s["Action"])}
    assert not [a for a in actions if a.startswith(("s3:", "states:"))]


def test_no_statement_allows_every_action(template):
    for stmt in statements(template):
        for action in as_list(stmt["Action"]):
            assert action != "*" and not action.endswith(":*"), stmt


def test_wildcard_resources_are_only_xray_and_comprehend(template):
    wildcard_actions = {a for s in statements(template) if "*" in as_list(s["Resource"]) for a in as_list(s["Action"])}
    assert wildcard_actions == {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "comprehend:DetectSentiment"}


def test_function_role_has_no_managed_policy(template):
    role_id = chatbot_function(template)["Role"]["Fn::GetAtt"][0]
    assert "ManagedPolicyArns" not in template.to_json()["Resources"][role_id]["Properties"]


# Alarms -------------------------------------------------------------------------------------------------

def test_every_counted_failure_has_an_alarm(template):
    alarmed = {a["Properties"].get("MetricName") for a in template.find_resources("AWS::CloudWatch::Alarm").values()}
    assert set(COUNTED_FAILURES) <= alarmed
    template.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "GateFailures", "Namespace": "Tandem", "Dimensions": [{"Name": "service", "Value": "tandem-chatbot"}]})


def test_alarm_email_gets_an_encrypted_topic_that_every_alarm_uses(make_template, template):
    template.resource_count_is("AWS::SNS::Topic", 0)
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert "AlarmActions" not in alarm["Properties"]
    data = make_template("data", alarm_email="ops@example.com")
    data.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    data.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"})
    for stack in ("chatbot", "escalation"):
        alarms = make_template(stack, alarm_email="ops@example.com").find_resources("AWS::CloudWatch::Alarm").values()
        assert alarms and all("AlarmsTopic" in json.dumps(a["Properties"]["AlarmActions"]) for a in alarms)


def test_schema_rejections_use_the_lambdas_error_shape(template):
    template.has_resource_properties("AWS::ApiGateway::GatewayResponse", {
        "ResponseType": "BAD_REQUEST_BODY", "StatusCode": "400",
        "ResponseTemplates": {"application/json": '{"error": {"field": "body", "message": $context.error.messageString}}'},
    })


def test_the_web_apps_origin_alone_may_call_the_chat_api_from_the_browser(template):
    # The origin is a token of the web stack (its distribution's domain): rendered, it names TandemWeb.
    origin_of = json.dumps
    preflights = [m["Properties"] for m in template.find_resources("AWS::ApiGateway::Method").values()
                  if m["Properties"]["HttpMethod"] == "OPTIONS"]
    assert preflights and all(p["Integration"]["Type"] == "MOCK" for p in preflights)
    for preflight in preflights:
        (answer,) = preflight["Integration"]["IntegrationResponses"]
        allowed = answer["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"]
        assert "TandemWeb" in origin_of(allowed) and "*" not in origin_of(allowed)
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in template.find_resources("AWS::ApiGateway::GatewayResponse").values()}
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX", "BAD_REQUEST_BODY"):
        assert "TandemWeb" in origin_of(responses[kind]["ResponseParameters"][
            "gatewayresponse.header.Access-Control-Allow-Origin"])
    (function,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "lambdas.chatbot.handler.handler"]
    assert "TandemWeb" in origin_of(function["Environment"]["Variables"]["SITE_URL"])
