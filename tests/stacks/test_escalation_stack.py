"""EscalationStack: the workflow loaded inline from its file, the worker, the expert API, and their IAM."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.expert_api.handler import app as expert_app
from stacks.escalation_stack import DEFINITION, EXPERT_API_FAILURES, definition_placeholders
from tests.stacks.api_routes import api_methods
from tests.stacks.conftest import as_list, statements


@pytest.fixture(scope="module")
def escalation(make_template) -> Template:
    return make_template("escalation")


def state_machine(template: Template) -> dict:
    (machine,) = template.find_resources("AWS::StepFunctions::StateMachine").values()
    return machine["Properties"]


def definition_text(template: Template) -> str:
    """The DefinitionString with CloudFormation references shown as {Ref}/{GetAtt} markers."""
    definition = state_machine(template)["DefinitionString"]
    if isinstance(definition, str):
        return definition
    return "".join(p if isinstance(p, str) else json.dumps(p) for p in definition["Fn::Join"][1])


def function_props(template: Template, name: str) -> dict:
    (function,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == f"lambdas.{name}.handler.handler"]
    return function


def policy_actions_of(template: Template, role_fragment: str) -> set[str]:
    actions = set()
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if role_fragment in json.dumps(policy["Properties"]["Roles"]):
            for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions.update(as_list(stmt["Action"]))
    return actions


def test_workflow_is_standard_and_inline_from_the_file(escalation):
    props = state_machine(escalation)
    assert props["StateMachineType"] == "STANDARD"
    text = definition_text(escalation)
    states = json.loads(DEFINITION.read_text())["States"]
    for name in states:  # every state of the file is in the template, readable by tests and cfn-lint
        assert f'"{name}"' in text
    assert "DefinitionS3Location" not in props


def test_every_placeholder_is_filled_in(escalation):
    # CloudFormation fills the ${Name}s in at deploy from DefinitionSubstitutions; each must have a value.
    placeholders = definition_placeholders(DEFINITION.read_text())
    assert placeholders == {"SessionsTable", "WorkQueueUrl", "FallbackTopicArn", "AcceptTimeoutSeconds",
                            "ExpertReminderSeconds", "ResolveTimeoutSeconds"}
    substitutions = state_machine(escalation)["DefinitionSubstitutions"]
    assert set(substitutions) == placeholders
    assert all(substitutions.values())


def test_time_outs_come_from_config(make_template):
    substitutions = state_machine(make_template("escalation", accept_timeout_minutes=7, expert_reminder_minutes=3,
                                                resolve_timeout_hours=2))["DefinitionSubstitutions"]
    assert (substitutions["AcceptTimeoutSeconds"], substitutions["ExpertReminderSeconds"],
            substitutions["ResolveTimeoutSeconds"]) == ("420", "180", "7200")


def test_workflow_logs_never_include_execution_data(escalation):
    props = state_machine(escalation)
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_workflow_role_may_only_do_what_the_definition_does(escalation):
    integrations = next(p["Properties"]["PolicyDocument"]["Statement"]
                        for name, p in escalation.find_resources("AWS::IAM::Policy").items()
                        if name.startswith("WorkflowIntegrations"))
    by_sid = {s["Sid"]: s for s in integrations}
    assert by_sid["EscalationAndSessionItems"]["Action"] == "dynamodb:UpdateItem"
    assert by_sid["EscalationAndSessionItems"]["Resource"] == {"Fn::ImportValue": "TandemData-SessionsTableArn"}
    assert by_sid["WorkQueue"]["Action"] == "sqs:SendMessage"
    assert "GetAtt" in json.dumps(by_sid["WorkQueue"]["Resource"])
    assert by_sid["FallbackTier"]["Action"] == "sns:Publish"
    assert by_sid["FallbackTier"]["Resource"] == {"Ref": next(k for k in escalation.find_resources("AWS::SNS::Topic")
                                                              if k.startswith("Fallback"))}
    # Besides those: only the log delivery and X-Ray actions CDK adds for the workflow itself.
    extra = policy_actions_of(escalation, "WorkflowRole") - {"dynamodb:UpdateItem", "sqs:SendMessage", "sns:Publish"}
    assert all(a.startswith(("logs:", "xray:")) for a in extra), extra


def test_topics_are_encrypted_and_subscribed_from_config(escalation, make_template):
    for topic in escalation.find_resources("AWS::SNS::Topic").values():
        assert topic["Properties"]["KmsMasterKeyId"]
    escalation.resource_count_is("AWS::SNS::Subscription", 0)
    subscribed = make_template("escalation", expert_email="experts@example.com", fallback_email="lead@example.com")
    endpoints = {s["Properties"]["Endpoint"] for s in subscribed.find_resources("AWS::SNS::Subscription").values()}
    assert endpoints == {"experts@example.com", "lead@example.com"}


def test_work_queue_is_encrypted_with_a_dead_letter_queue(escalation):
    escalation.has_resource_properties("AWS::SQS::Queue", {
        "SqsManagedSseEnabled": True, "RedrivePolicy": Match.object_like({"maxReceiveCount": 5}),
        "VisibilityTimeout": 180})
    escalation.has_resource_properties("AWS::Lambda::EventSourceMapping", {
        "FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10})


def test_link_signing_key_is_generated_at_deploy(escalation):
    escalation.has_resource_properties("AWS::SecretsManager::Secret", {
        "GenerateSecretString": Match.object_like({"PasswordLength": 64, "ExcludePunctuation": True})})


def test_worker_mails_only_the_experts_topic(escalation):
    env = function_props(escalation, "escalation_worker")["Environment"]["Variables"]
    for name in ("EXPERT_API_URL", "EXPERTS_TOPIC_ARN", "SIGNING_SECRET_ARN", "SESSIONS_TABLE"):
        assert name in env
    assert env["SESSION_TTL_DAYS"] == "90"
    publish = [s for s in statements(escalation) if "sns:Publish" in as_list(s["Action"])]
    experts = next(k for k in escalation.find_resources("AWS::SNS::Topic") if k.startswith("Experts"))
    worker_publish = [s for s in publish if s["Resource"] == {"Ref": experts}]
    assert len(worker_publish) == 1


def test_only_the_worker_and_the_expert_api_may_complete_callbacks(escalation, make_template):
    holders = [name for name, p in escalation.find_resources("AWS::IAM::Policy").items()
               if "states:SendTaskSuccess" in json.dumps(p)]
    assert len(holders) == 2
    chatbot = make_template("chatbot")
    assert "states:SendTaskSuccess" not in json.dumps(chatbot.to_json())


def authorization_by_route(template: Template) -> dict[tuple[str, str], dict]:
    """Each of the function's methods' properties by (HTTP method, resource path); a CORS preflight (a MOCK
    integration) is API Gateway's own answer, tested on its own."""
    methods = template.find_resources("AWS::ApiGateway::Method")
    resources = template.find_resources("AWS::ApiGateway::Resource")

    def path(reference: dict) -> str:
        if "Fn::GetAtt" in reference:
            return ""
        resource = resources[reference["Ref"]]["Properties"]
        return f"{path(resource['ParentId'])}/{resource['PathPart']}"

    return {(m["Properties"]["HttpMethod"], path(m["Properties"]["ResourceId"])): m["Properties"]
            for m in methods.values() if m["Properties"]["Integration"]["Type"] == "AWS_PROXY"}


def test_the_inbox_pages_origin_alone_may_call_the_expert_api_from_the_browser(escalation):
    preflights = [m["Properties"] for m in escalation.find_resources("AWS::ApiGateway::Method").values()
                  if m["Properties"]["HttpMethod"] == "OPTIONS"]
    assert preflights and all(p["Integration"]["Type"] == "MOCK" for p in preflights)
    for preflight in preflights:
        (answer,) = preflight["Integration"]["IntegrationResponses"]
        allowed = json.dumps(answer["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"])
        assert "TandemWeb" in allowed and "*" not in allowed
    env = function_props(escalation, "expert_api")["Environment"]["Variables"]
    assert "TandemWeb" in json.dumps(env["SITE_URL"])  # the function names the same origin on its answers


def test_the_link_pages_need_no_credentials_and_the_inbox_the_user_pools_authorizer(escalation):
    routes = authorization_by_route(escalation)
    # Experts hold signed links, not API credentials: the Lambda checks every signature (see lambdas/expert_api).
    links = {route: props for route, props in routes.items() if route[1].startswith("/escalations")}
    assert len(links) == 6 and {props["AuthorizationType"] for props in links.values()} == {"NONE"}
    inbox = {route: props for route, props in routes.items() if route[1].startswith("/inbox/")}
    assert set(inbox) == {("GET", "/inbox/escalations"), ("GET", "/inbox/escalations/{session_id}/{escalation_id}"),
                          *[("POST", f"/inbox/escalations/{{session_id}}/{{escalation_id}}/{action}")
                            for action in ("accept", "reply", "handback", "close")]}
    assert {props["AuthorizationType"] for props in inbox.values()} == {"COGNITO_USER_POOLS"}
    (authorizer_id,) = {json.dumps(props["AuthorizerId"]) for props in inbox.values()}
    (authorizer,) = [a for logical_id, a in escalation.find_resources("AWS::ApiGateway::Authorizer").items()
                     if logical_id in authorizer_id]
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    # The pool is the chatbot stack's (customers and experts sign in to one pool; experts are its group).
    assert "TandemChatbot" in json.dumps(authorizer["Properties"]["ProviderARNs"])
    assert set(routes) == set(links) | set(inbox)
    escalation.has_resource_properties("AWS::ApiGateway::Stage", {
        "MethodSettings": [Match.object_like({"DataTraceEnabled": False})]})


def test_every_method_of_the_expert_api_is_a_route_of_the_function_and_the_reverse(escalation):
    assert api_methods(escalation) == expert_app.routes()
    assert len(expert_app.routes()) == 12


def test_the_expert_api_may_query_the_index_of_escalations_by_status_and_no_other(escalation):
    (stmt,) = [s for s in statements(escalation) if s.get("Sid") == "EscalationsByStatus"]
    assert stmt["Action"] == "dynamodb:Query"
    assert json.dumps(stmt["Resource"]).endswith('/index/escalations_by_status"]]}')
    # Every other sessions-table grant is on the table alone: no index is readable otherwise.
    others = [s for s in statements(escalation) if s.get("Sid") == "SessionItems"]
    assert others and all("/index/" not in json.dumps(s["Resource"]) for s in others)


def test_the_email_and_the_console_link_to_the_inbox_at_the_web_apps_address(make_template):
    template = make_template("escalation")
    for name in ("escalation_worker", "expert_api"):
        site = json.dumps(function_props(template, name)["Environment"]["Variables"]["SITE_URL"])
        assert site.startswith('{"Fn::Join": ["", ["https://", {"Fn::ImportValue": "TandemWeb:')


def test_expert_api_may_write_knowledge_documents_under_the_prefix_only(make_template):
    template = make_template("escalation", knowledge_export_prefix="kb/resolved/")
    (stmt,) = [s for s in statements(template) if s.get("Sid") == "KnowledgeDocuments"]
    assert stmt["Action"] == "s3:PutObject"
    assert json.dumps(stmt["Resource"]).endswith('/kb/resolved/*"]]}')
    env = function_props(template, "expert_api")["Environment"]["Variables"]
    assert env["KNOWLEDGE_PREFIX"] == "kb/resolved/"


def test_the_expert_api_may_read_the_history_of_the_workflows_executions_only(escalation):
    (stmt,) = [s for s in statements(escalation) if s.get("Sid") == "ReadEscalationExecutions"]
    assert sorted(as_list(stmt["Action"])) == ["states:DescribeExecution", "states:GetExecutionHistory"]
    resource = json.dumps(stmt["Resource"])
    assert ":execution:" in resource and "HumanEscalation" in resource and resource.endswith(':*"]]}')


def test_neither_function_of_this_stack_reads_transcripts(escalation):
    for name in ("escalation_worker", "expert_api"):
        assert "TRANSCRIPTS_BUCKET" not in function_props(escalation, name)["Environment"]["Variables"]
    assert not [s for s in statements(escalation) if s.get("Sid") in ("TranscriptObjects", "TranscriptListing")]


def test_customers_poll_for_expert_replies_with_their_token(make_template):
    chatbot = make_template("chatbot")
    gets = [m["Properties"] for m in chatbot.find_resources("AWS::ApiGateway::Method").values()
            if m["Properties"]["HttpMethod"] == "GET"]
    assert len(gets) == 1 and gets[0]["AuthorizationType"] == "COGNITO_USER_POOLS"


@pytest.mark.parametrize("redact", [True, False])
def test_knowledge_export_masks_personal_data_unless_switched_off(make_template, redact):
    template = make_template("escalation", knowledge_export_redact_pii=redact)
    env = function_props(template, "expert_api")["Environment"]["Variables"]
    assert env["REDACT_PII"] == ("true" if redact else "false")
    actions = {a for s in statements(template) for a in as_list(s["Action"])}
    assert ("comprehend:DetectPiiEntities" in actions) is redact


def test_every_failure_of_the_escalation_path_has_an_alarm(escalation):
    alarms = [a["Properties"] for a in escalation.find_resources("AWS::CloudWatch::Alarm").values()]
    by_metric = {a.get("MetricName"): a for a in alarms}
    for name in EXPERT_API_FAILURES:
        assert by_metric[name]["Dimensions"] == [{"Name": "service", "Value": "tandem-expert_api"}]
    assert {"ExecutionsFailed", "ApproximateNumberOfMessagesVisible", "Errors", "5XXError"} <= set(by_metric)
