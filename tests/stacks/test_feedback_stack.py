"""FeedbackStack: the sampler, the two Ground Truth Lambdas, the template asset and the labeling role."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Template

from tests.stacks.conftest import as_list, statements


@pytest.fixture(scope="module")
def feedback(make_template) -> Template:
    return make_template("feedback")


def function_env(template: Template, name: str) -> dict:
    (function,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == f"lambdas.{name}.handler.handler"]
    return function["Environment"]["Variables"]


def role_statements(template: Template, role_prefix: str) -> list[dict]:
    role_id = next(k for k in template.find_resources("AWS::IAM::Role") if k.startswith(role_prefix))
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def test_the_schedule_is_off_by_default_and_follows_config(feedback, make_template):
    (rule,) = feedback.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["State"] == "DISABLED"
    assert rule["Properties"]["ScheduleExpression"] == "rate(7 days)"
    enabled = make_template("feedback", labeling_schedule_enabled=True, labeling_schedule="cron(0 3 ? * MON *)")
    (rule,) = enabled.find_resources("AWS::Events::Rule").values()
    assert (rule["Properties"]["State"], rule["Properties"]["ScheduleExpression"]) == ("ENABLED", "cron(0 3 ? * MON *)")


def test_the_sampler_gets_the_job_parameters_from_config(make_template):
    env = function_env(make_template("feedback", labeling_budget=250, labeling_strategy="random", labeling_seed=7,
                                     labeling_workers_per_object=5), "feedback_sampler")
    assert (env["BUDGET"], env["STRATEGY"], env["SEED"], env["WORKERS_PER_OBJECT"]) == ("250", "random", "7", "5")
    assert env["LABEL_ATTRIBUTE_NAME"] == "relevance"
    for name in ("LABELING_ROLE_ARN", "TEMPLATE_S3_URI", "PRE_ANNOTATION_LAMBDA_ARN", "CONSOLIDATION_LAMBDA_ARN",
                 "TRANSCRIPTS_BUCKET", "LABELING_BUCKET", "RATINGS_BUCKET"):
        assert env[name], name


def test_without_a_workteam_the_sampler_only_writes_manifests(feedback, make_template):
    assert function_env(feedback, "feedback_sampler")["WORKTEAM_ARN"] == ""
    feedback.resource_count_is("AWS::SageMaker::Workteam", 0)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/raters"
    assert function_env(make_template("feedback", labeling_workteam_arn=arn), "feedback_sampler")["WORKTEAM_ARN"] == arn


def test_a_workteam_from_an_existing_cognito_pool(make_template):
    template = make_template("feedback", workteam_user_pool_id="us-east-1_AbC123", workteam_user_group="raters",
                             workteam_client_id="1example23456789")
    (team,) = template.find_resources("AWS::SageMaker::Workteam").values()
    member = team["Properties"]["MemberDefinitions"][0]["CognitoMemberDefinition"]
    assert member == {"CognitoUserPool": "us-east-1_AbC123", "CognitoUserGroup": "raters",
                      "CognitoClientId": "1example23456789"}
    assert "GetAtt" in json.dumps(function_env(template, "feedback_sampler")["WORKTEAM_ARN"])


def test_the_labeling_role_names_our_lambdas_not_the_managed_policy(feedback):
    role = next(r for k, r in feedback.find_resources("AWS::IAM::Role").items() if k.startswith("LabelingRole"))
    assert "ManagedPolicyArns" not in role["Properties"]
    invoke = [s for s in role_statements(feedback, "LabelingRole") if "lambda:InvokeFunction" in as_list(s["Action"])]
    assert len(invoke) == 1
    targets = json.dumps(invoke[0]["Resource"])
    assert "PreAnnotation" in targets and "Consolidation" in targets
    assert "*" not in targets


def test_the_sampler_may_start_jobs_and_pass_only_the_labeling_role(feedback):
    sampler = role_statements(feedback, "Sampler")
    by_sid = {s.get("Sid"): s for s in sampler}
    assert by_sid["StartLabelingJobs"]["Action"] == "sagemaker:CreateLabelingJob"
    assert json.dumps(by_sid["StartLabelingJobs"]["Resource"]).endswith(':labeling-job/tandem-feedback-*"]]}')
    assert by_sid["PassLabelingRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert "LabelingRole" in json.dumps(by_sid["PassLabelingRole"]["Resource"])
    assert "DetectPii" in by_sid


def test_pii_masking_permission_follows_config(make_template):
    actions = {a for s in statements(make_template("feedback", labeling_redact_pii=False)) for a in as_list(s["Action"])}
    assert "comprehend:DetectPiiEntities" not in actions
    env = function_env(make_template("feedback", labeling_redact_pii=False), "feedback_sampler")
    assert env["REDACT_PII"] == "false"


def test_the_consolidation_lambda_may_describe_labeling_jobs_of_this_account_only(feedback):
    consolidation = role_statements(feedback, "Consolidation")
    (describe,) = [s for s in consolidation if "sagemaker:DescribeLabelingJob" in as_list(s["Action"])]
    assert as_list(describe["Action"]) == ["sagemaker:DescribeLabelingJob"] and describe["Effect"] == "Allow"
    resource = json.dumps(describe["Resource"])
    assert ":sagemaker:" in resource and resource.endswith(':labeling-job/*"]]}')
    assert all(ref in resource for ref in ('"AWS::Partition"', '"AWS::Region"', '"AWS::AccountId"'))
    # It also reads the job's input manifest under manifests/ (and nothing else of SageMaker).
    reads = [json.dumps(s["Resource"]) for s in consolidation if "s3:GetObject" in as_list(s["Action"])]
    assert any("manifests/*" in r for r in reads)
    assert [s for s in statements(feedback) if "sagemaker:DescribeLabelingJob" in as_list(s["Action"])] == [describe]


def test_the_consolidation_lambda_has_room_in_tmp_for_the_manifest_and_the_ratings_file(feedback):
    (post,) = [f["Properties"] for f in feedback.find_resources("AWS::Lambda::Function").values()
               if f["Properties"]["Handler"] == "lambdas.groundtruth_post.handler.handler"]
    assert post["EphemeralStorage"] == {"Size": 4096}


def test_the_sampler_writes_manifests_and_the_customers_thumbs_and_nothing_else(feedback):
    (write,) = [s for s in role_statements(feedback, "Sampler") if s.get("Sid") == "WriteLabeling"]
    resources = json.dumps(write["Resource"])
    assert as_list(write["Action"]) == ["s3:PutObject"]
    assert "/manifests/*" in resources and "/thumbs/*" in resources and "/ratings/" not in resources


def test_the_rating_function_writes_console_records_and_accepted_expert_answers_only(feedback):
    (write,) = [s for s in role_statements(feedback, "RatingApiFunction") if s.get("Sid") == "WriteLabeling"]
    resources = sorted(json.dumps(r) for r in as_list(write["Resource"]))
    assert as_list(write["Action"]) == ["s3:PutObject"] and len(resources) == 2
    assert resources[0].endswith('/expert-answers/*"]]}') and resources[1].endswith('/ratings/console/*"]]}')


def test_bucket_access_is_by_prefix(feedback):
    writes = {json.dumps(s["Resource"]) for s in statements(feedback) if s.get("Sid") == "WriteLabeling"}
    assert writes and all("manifests/" in w or "ratings/" in w or "output/" in w or "thumbs/" in w
                          or "expert-answers/" in w for w in writes)
    for stmt in statements(feedback):
        for action in as_list(stmt["Action"]):
            assert action not in ("s3:*", "s3:DeleteObject"), stmt


def test_the_ratings_table_keeps_ratings_and_indexes_only_open_items(feedback):
    [table] = feedback.find_resources("AWS::DynamoDB::Table").values()
    properties = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["KeySchema"] == [{"AttributeName": "batch_id", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert {index["IndexName"]: index["KeySchema"] for index in properties["GlobalSecondaryIndexes"]} == {
        "open-items": [{"AttributeName": "batch_id", "KeyType": "HASH"},
                       {"AttributeName": "open_sk", "KeyType": "RANGE"}],
        "batches-by-status": [{"AttributeName": "status", "KeyType": "HASH"},
                              {"AttributeName": "created_at", "KeyType": "RANGE"}]}


def test_every_rating_route_is_behind_the_user_pool_and_matches_the_function(feedback):
    from lambdas.rating_api.handler import app
    from tests.stacks.api_routes import api_methods

    assert api_methods(feedback) == app.routes()
    proxied = [m["Properties"] for m in feedback.find_resources("AWS::ApiGateway::Method").values()
               if m["Properties"]["Integration"]["Type"] == "AWS_PROXY"]
    assert len(proxied) == 10 and {m["AuthorizationType"] for m in proxied} == {"COGNITO_USER_POOLS"}


def test_the_rating_function_may_update_the_table_but_never_scan_or_delete_it(feedback):
    actions = {action for statement in role_statements(feedback, "RatingApiFunction")
               for action in as_list(statement["Action"]) if action.startswith("dynamodb:")}
    assert actions == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:TransactWriteItems"}


def test_the_sampler_may_create_rating_batches_and_nothing_more_in_the_table(feedback):
    table = [s for s in role_statements(feedback, "Sampler") if any(a.startswith("dynamodb:")
                                                                     for a in as_list(s["Action"]))]
    assert [sorted(as_list(s["Action"])) for s in table] == [
        ["dynamodb:BatchWriteItem", "dynamodb:GetItem", "dynamodb:PutItem"]]
    env = function_env(feedback, "feedback_sampler")
    assert env["RATINGS_PER_ITEM"] == "3" and env["RATING_HOLD_SECONDS"] == "600" and "RATINGS_TABLE" in env


def test_the_rating_function_publishes_its_metrics_in_tandems_namespace(feedback):
    # Its handler adds metrics (RatingsGiven, ...): Powertools raises when it flushes them without a namespace.
    assert function_env(feedback, "rating_api")["POWERTOOLS_METRICS_NAMESPACE"] == "Tandem"
