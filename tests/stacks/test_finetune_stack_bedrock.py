"""FinetuneStack on the Bedrock path (finetune_path "bedrock"): the substitutions that send the workflow down
it, the customization role Bedrock assumes, the answers function, the workflow's Bedrock grants, and no
SageMaker resource at all; a base model the path cannot evaluate, or a Region that does not tune it, stops
synth with the reason."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from local.cdk_app import app_context
from stacks.config import ConfigError, load_config
from stacks.data_stack import DataStack
from stacks.finetune_stack import FinetuneStack
from tests.stacks.conftest import as_list, statements
from tests.stacks.test_finetune_stack import by_sid, logical_id, machine, resolved, role_statements, text


@pytest.fixture(scope="module")
def bedrock(make_template) -> Template:
    return make_template("finetune", finetune_path="bedrock",
                         finetune_bedrock_hyperparameters={"epochCount": 2, "learningRate": "0.00001"})


def function_environment(template: Template, prefix: str) -> dict[str, Any]:
    (props,) = [r["Properties"] for k, r in template.find_resources("AWS::Lambda::Function").items()
                if k.startswith(prefix)]
    return props["Environment"]["Variables"]


def test_the_substitutions_send_the_workflow_down_the_bedrock_path(bedrock):
    subs = machine(bedrock)["DefinitionSubstitutions"]
    assert (subs["TrainingPath"], subs["BedrockBaseModel"], subs["BedrockDataFolder"]) == (
        "bedrock", "amazon.nova-micro-v1:0:128k", "bedrock-conversation")
    assert json.loads(json.loads(f'"{subs["BedrockHyperParameters"]}"')) == {"epochCount": "2",
                                                                           "learningRate": "0.00001"}
    assert subs["CustomizationRoleArn"] == {
        "Fn::GetAtt": [logical_id(bedrock, "AWS::IAM::Role", "CustomizationRole"), "Arn"]}
    assert subs["AnswersFunctionArn"] == {
        "Fn::GetAtt": [logical_id(bedrock, "AWS::Lambda::Function", "AnswersFunction"), "Arn"]}
    assert subs["TrainingRoleArn"] == "unused"


def test_the_sagemaker_path_leaves_the_bedrock_placeholders_unused(make_template):
    subs = machine(make_template("finetune"))["DefinitionSubstitutions"]
    assert subs["TrainingPath"] == "sagemaker"
    assert {subs[k] for k in ("BedrockBaseModel", "CustomizationRoleArn", "AnswersFunctionArn")} == {"unused"}


def test_no_sagemaker_resource_exists_on_the_bedrock_path(bedrock):
    roles = bedrock.find_resources("AWS::IAM::Role")
    assert not [k for k in roles if k.startswith(("TrainingRole", "ImportRole"))]
    assert "TrainingCodeS3Uri" not in bedrock.find_outputs("*")
    assert not [a for s in statements(bedrock) for a in as_list(s["Action"]) if a.startswith(("sagemaker:", "ecr:"))]


def test_only_bedrock_customization_jobs_of_this_account_may_assume_the_customization_role(bedrock):
    (role,) = [r for k, r in bedrock.find_resources("AWS::IAM::Role").items() if k.startswith("CustomizationRole")]
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert text(trust["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(':model-customization-job/*"]]}')
    sids = by_sid(bedrock, "CustomizationRole")
    assert sids["ReadDatasets"]["Action"] == "s3:GetObject" and text(sids["ReadDatasets"]).count("/datasets/*") == 1
    assert sids["ListDatasets"]["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*"]}}
    assert sids["WriteOutput"]["Action"] == "s3:PutObject" and "/models/*" in text(sids["WriteOutput"]["Resource"])
    actions = {a for s in role_statements(bedrock, "CustomizationRole") for a in as_list(s["Action"])}
    assert actions == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}


def test_the_workflow_may_customize_deploy_and_withdraw_and_pass_only_the_customization_role(bedrock):
    sids = by_sid(bedrock, "PipelineRole")
    start = text(sids["StartCustomization"]["Resource"])
    assert set(sids["StartCustomization"]["Action"]) == {"bedrock:CreateModelCustomizationJob", "bedrock:TagResource"}
    assert "::foundation-model/amazon.nova-micro-v1:0:128k" in start and ":model-customization-job/*" in start
    assert sids["WatchCustomization"]["Action"] == "bedrock:GetModelCustomizationJob"
    assert set(sids["DeployCustomModel"]["Action"]) == {"bedrock:CreateCustomModelDeployment", "bedrock:TagResource"}
    assert set(sids["WatchAndWithdrawDeployment"]["Action"]) == {"bedrock:GetCustomModelDeployment",
                                                                  "bedrock:DeleteCustomModelDeployment"}
    assert text(sids["WatchAndWithdrawDeployment"]["Resource"]).endswith(':custom-model-deployment/*"]]}')
    assert sids["PassCustomizationRole"]["Resource"] == {
        "Fn::GetAtt": [logical_id(bedrock, "AWS::IAM::Role", "CustomizationRole"), "Arn"]}
    assert sids["PassCustomizationRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    assert sids["AnswerHeldOut"]["Resource"] == {
        "Fn::GetAtt": [logical_id(bedrock, "AWS::Lambda::Function", "AnswersFunction"), "Arn"]}
    bedrock_actions = {a for s in role_statements(bedrock, "PipelineRole") for a in as_list(s["Action"])
                       if a.startswith("bedrock:")}
    assert bedrock_actions == {"bedrock:CreateModelCustomizationJob", "bedrock:TagResource",
                               "bedrock:GetModelCustomizationJob", "bedrock:CreateCustomModelDeployment",
                               "bedrock:GetCustomModelDeployment", "bedrock:DeleteCustomModelDeployment"}


def test_the_answers_function_asks_the_base_model_and_the_deployments_and_writes_only_reports(bedrock, make_template):
    env = function_environment(bedrock, "AnswersFunction")
    assert env["BASE_MODEL_ID"] == "amazon.nova-micro-v1:0" and env["MAX_QUESTIONS"] == "100"
    assert env["ANSWERS_PREFIX"] == "reports/" and env["MAX_FAILURE_SHARE"] == "0.1"
    stricter = make_template("finetune", finetune_path="bedrock", finetune_gate_max_judge_failures=0.05, max_tokens=700)
    assert (function_environment(stricter, "AnswersFunction")["MAX_FAILURE_SHARE"],
            function_environment(stricter, "AnswersFunction")["MAX_ANSWER_TOKENS"]) == ("0.05", "700")
    found = role_statements(bedrock, "AnswersRole")
    invoke = [s for s in found if "bedrock:InvokeModel" in as_list(s["Action"])]
    resources = text([s["Resource"] for s in invoke])
    assert "::foundation-model/amazon.nova-micro-v1:0" in resources and ":custom-model-deployment/*" in resources
    writes = [s for s in found if "s3:PutObject" in as_list(s["Action"])]
    assert len(writes) == 1 and resolved(writes[0]["Resource"])[0].endswith("/reports/*")


def test_a_base_model_the_path_cannot_evaluate_stops_synth_with_the_reason():
    with pytest.raises(ConfigError, match="Provisioned Throughput"):
        load_config(app_context(finetune_path="bedrock",
                                finetune_bedrock_base_model="meta.llama3-1-8b-instruct-v1:0:128k"))
    with pytest.raises(ConfigError, match="one of amazon.nova-micro"):
        load_config(app_context(finetune_path="bedrock", finetune_bedrock_base_model="amazon.titan-text-express-v1"))
    with pytest.raises(ConfigError, match="nothing to import"):
        load_config(app_context(finetune_path="bedrock", finetune_import_model=True))
    with pytest.raises(ConfigError, match="one of sagemaker, bedrock"):
        load_config(app_context(finetune_path="glue"))
    with pytest.raises(ConfigError, match="as Bedrock spells them"):
        load_config(app_context(finetune_bedrock_hyperparameters={"epoch-count": 2}))


def finetune_stack_in(region: str) -> FinetuneStack:
    context = app_context(finetune_path="bedrock")
    config = load_config(context)
    app = cdk.App(context=context)
    env = cdk.Environment(account="123456789012", region=region)
    store = DataStack(app, "TandemData", config=config, env=env).store
    return FinetuneStack(app, "TandemFinetune", config=config, store=store, env=env)


def test_a_region_where_bedrock_does_not_tune_the_model_stops_synth():
    with pytest.raises(ConfigError, match="only in us-east-1, not in eu-west-1"):
        finetune_stack_in("eu-west-1")
    assert finetune_stack_in("us-east-1").bedrock_model is not None
