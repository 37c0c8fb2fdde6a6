"""FinetuneStack: the workflow loaded inline, its substitutions, the dataset Lambda, the roles and their IAM,
the artifacts bucket and the notices topic. The training-code archive is tested in test_training_code.py."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from stacks.finetune_stack import DEFINITION, JOB_NAME_PREFIX, TRAINING_EVENTS_RULE
from tests.stacks.conftest import as_list, statements

S3_MODEL = "s3://my-models/base/flan-t5-xl/"


@pytest.fixture(scope="module")
def finetune(make_template) -> Template:
    return make_template("finetune")


@pytest.fixture(scope="module")
def with_import(make_template) -> Template:
    """Bedrock import on, the base model from S3, notices mailed."""
    return make_template("finetune", finetune_import_model=True, finetune_base_model=S3_MODEL,
                         finetune_notify_email="ml-team@example.com")


def machine(template: Template) -> dict[str, Any]:
    (props,) = [r["Properties"] for r in template.find_resources("AWS::StepFunctions::StateMachine").values()]
    return props


def resolved(value: Any) -> tuple[str, list[Any]]:
    """A template string value as text, each CloudFormation intrinsic replaced by @<n>@ (returned in order)."""
    if isinstance(value, str):
        return value, []
    if "Fn::Join" in value:
        parts = value["Fn::Join"][1]
        tokens = [p for p in parts if not isinstance(p, str)]
        text, n = "", 0
        for part in parts:
            if isinstance(part, str):
                text += part
            else:
                text += f"@{n}@"
                n += 1
        return text, tokens
    return "@0@", [value]


def hyperparameters(template: Template) -> tuple[dict[str, str], list[Any]]:
    """The HyperParameters substitution: a JSON object written inside a JSON string."""
    text, tokens = resolved(machine(template)["DefinitionSubstitutions"]["HyperParameters"])
    return json.loads(json.loads(f'"{text}"')), tokens


def role_statements(template: Template, role_prefix: str) -> list[dict[str, Any]]:
    (role_id,) = [k for k in template.find_resources("AWS::IAM::Role") if k.startswith(role_prefix)]
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def by_sid(template: Template, role_prefix: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in role_statements(template, role_prefix) if "Sid" in s}


def logical_id(template: Template, kind: str, prefix: str) -> str:
    (found,) = [k for k in template.find_resources(kind) if k.startswith(prefix)]
    return found


def text(value: Any) -> str:
    return json.dumps(value)


# The workflow ---------------------------------------------------------------------------------------

def test_workflow_is_standard_inline_from_the_file_and_logged_without_data(finetune):
    props = machine(finetune)
    assert props["StateMachineType"] == "STANDARD"
    assert "DefinitionS3Location" not in props
    assert json.loads(props["DefinitionString"]) == json.loads(DEFINITION.read_text())
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}


def test_every_placeholder_is_filled_in(finetune, with_import):
    placeholders = set(re.findall(r"\$\{([^}]+)\}", DEFINITION.read_text()))
    for template in (finetune, with_import):
        substitutions = machine(template)["DefinitionSubstitutions"]
        assert set(substitutions) == placeholders
        assert all(v not in ("", None) for v in substitutions.values())


def test_substitutions_follow_config(make_template):
    template = make_template("finetune", finetune_instance_type="ml.g5.12xlarge", finetune_volume_gb=250,
                             finetune_max_runtime_hours=3)
    subs = machine(template)["DefinitionSubstitutions"]
    assert (subs["InstanceType"], subs["VolumeSizeGb"]) == ("ml.g5.12xlarge", "250")
    assert (subs["MaxRuntimeSeconds"], subs["TrainTimeoutSeconds"]) == ("10800", str(3 * 3600 + 3600))
    assert subs["JobNamePrefix"] == JOB_NAME_PREFIX
    image, tokens = resolved(subs["TrainingImage"])
    assert image == "763104351884.dkr.ecr.@0@.amazonaws.com/huggingface-pytorch-training:2.9.0-transformers5.3.0-" \
                    "gpu-py312-cu130-ubuntu22.04"
    assert tokens == [{"Ref": "AWS::Region"}]  # the {region} placeholder is the stack's region
    models, tokens = resolved(subs["ModelsS3Uri"])
    assert models == "s3://@0@/models/" and tokens == [{"Ref": logical_id(template, "AWS::S3::Bucket", "Artifacts")}]


def test_hyperparameters_are_strings_for_the_training_toolkit(make_template):
    template = make_template("finetune", finetune_algorithm="reward-pg", finetune_good_min_rating=4.5,
                             finetune_hyperparameters={"epochs": 3, "learning-rate": "1e-5", "merge": True})
    values, tokens = hyperparameters(template)
    assert values == {"sagemaker_program": "train.py", "sagemaker_submit_directory": "@0@",
                      "sagemaker_region": "@1@", "algorithm": "reward-pg", "model_name_or_path": "google/flan-t5-xl",
                      "good_min_rating": "4.5", "bad_max_rating": "2.0",
                      "epochs": "3", "learning_rate": "1e-5", "merge": "true"}
    assert "cdk-hnb659fds-assets" in text(tokens[0])  # the training-code asset's S3 URI
    assert tokens[1] == {"Ref": "AWS::Region"}


def test_a_base_model_in_s3_is_a_channel_not_a_hub_id(finetune, with_import):
    assert machine(finetune)["DefinitionSubstitutions"]["UseModelChannel"] == "false"
    subs = machine(with_import)["DefinitionSubstitutions"]
    assert (subs["UseModelChannel"], subs["ModelChannelUri"]) == ("true", S3_MODEL)
    assert "model_name_or_path" not in hyperparameters(with_import)[0]


def test_it_starts_on_demand_only(finetune):
    for kind in ("AWS::Events::Rule", "AWS::Scheduler::Schedule", "AWS::Lambda::EventSourceMapping"):
        finetune.resource_count_is(kind, 0)


def test_outputs_name_the_workflow_and_the_artifacts_bucket(finetune):
    outputs = finetune.find_outputs("*")
    assert {"StateMachineArn", "ArtifactsBucketName", "NoticesTopicArn", "TrainingCodeS3Uri"} <= set(outputs)


# The dataset Lambda ---------------------------------------------------------------------------------

def dataset_env(template: Template) -> dict[str, Any]:
    (function,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                   if f["Properties"]["Handler"] == "lambdas.finetune_dataset.handler.handler"]
    return function["Environment"]["Variables"]


def test_dataset_lambda_gets_the_contracts_environment(make_template):
    env = dataset_env(make_template("finetune", finetune_good_min_rating=4.5, finetune_bad_max_rating=1.5,
                                    finetune_eval_fraction=0.25, finetune_min_train_rows=50,
                                    finetune_min_eval_rows=0, finetune_weight_by_agreement=True,
                                    finetune_split_seed="s1", finetune_thumbs_weight=0.25))
    assert (env["THUMBS_WEIGHT"], env["MIN_EVAL_ROWS"]) == ("0.25", "0")
    assert (env["GOOD_MIN_RATING"], env["BAD_MAX_RATING"], env["EVAL_FRACTION"]) == ("4.5", "1.5", "0.25")
    assert (env["MIN_TRAIN_ROWS"], env["WEIGHT_BY_AGREEMENT"], env["SPLIT_SEED"]) == ("50", "true", "s1")
    assert (env["RATINGS_PREFIX"], env["DATASET_PREFIX"]) == ("ratings/", "datasets/")
    assert env["RATINGS_BUCKET"] == {"Fn::ImportValue": "TandemData-LabelingBucketName"}
    assert env["DATASET_BUCKET"]["Ref"].startswith("Artifacts")
    assert env["SYSTEM_PROMPT"].startswith("You are a helpful")


def test_dataset_lambda_reads_ratings_thumbs_and_expert_answers_and_writes_only_datasets(finetune):
    sids = by_sid(finetune, "DatasetRole")
    assert sids["ReadLabeling"]["Action"] == "s3:GetObject"
    reads = sorted(text(read) for read in sids["ReadLabeling"]["Resource"])
    assert len(reads) == 3 and reads[0].endswith('"/expert-answers/*"]]}')
    assert reads[1].endswith('"/ratings/*"]]}') and reads[2].endswith('"/thumbs/*"]]}')
    assert "WriteLabeling" not in sids
    assert sids["WriteDatasets"]["Action"] == "s3:PutObject"
    assert text(sids["WriteDatasets"]["Resource"]).endswith('"/datasets/*"]]}')


# The training role ----------------------------------------------------------------------------------

def test_training_role_reads_datasets_and_code_and_writes_models(finetune):
    role = next(r for k, r in finetune.find_resources("AWS::IAM::Role").items() if k.startswith("TrainingRole"))
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"}
    assert "ManagedPolicyArns" not in role["Properties"]
    sids = by_sid(finetune, "TrainingRole")
    assert text(sids["ReadDatasets"]["Resource"]).endswith('"/datasets/*"]]}')
    assert sids["ListDatasets"]["Condition"] == {"StringLike": {"s3:prefix": ["datasets/*"]}}
    assert sids["WriteModels"]["Action"] == "s3:PutObject"
    assert text(sids["WriteModels"]["Resource"]).endswith('"/models/*"]]}')
    code = text(sids["ReadTrainingCode"]["Resource"])
    assert "cdk-hnb659fds-assets" in code and "*" not in code  # the one archive object
    assert "ReadBaseModel" not in sids


def test_training_role_pulls_only_the_training_image_repository(finetune):
    sids = by_sid(finetune, "TrainingRole")
    pull = sids["PullTrainingImage"]
    assert set(pull["Action"]) == {"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"}
    assert text(pull["Resource"]).endswith(':763104351884:repository/huggingface-pytorch-training"]]}')
    assert (sids["EcrToken"]["Action"], sids["EcrToken"]["Resource"]) == ("ecr:GetAuthorizationToken", "*")
    assert sids["JobMetrics"]["Condition"] == {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"}}
    assert text(sids["JobLogs"]["Resource"]).endswith(':log-group:/aws/sagemaker/TrainingJobs*"]]}')


def test_an_s3_base_model_may_be_read_by_prefix(with_import):
    sids = by_sid(with_import, "TrainingRole")
    assert text(sids["ReadBaseModel"]["Resource"]).endswith(':s3:::my-models/base/flan-t5-xl/*"]]}')
    assert sids["ListBaseModel"]["Condition"] == {"StringLike": {"s3:prefix": ["base/flan-t5-xl/*"]}}


# The import role ------------------------------------------------------------------------------------

def test_the_import_role_exists_only_when_import_is_on(finetune, with_import):
    assert not [k for k in finetune.find_resources("AWS::IAM::Role") if k.startswith("ImportRole")]
    assert machine(finetune)["DefinitionSubstitutions"]["ImportModel"] == "false"
    role = next(r for k, r in with_import.find_resources("AWS::IAM::Role").items() if k.startswith("ImportRole"))
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "bedrock.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert text(trust["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(':model-import-job/*"]]}')
    sids = by_sid(with_import, "ImportRole")
    assert set(sids) == {"ReadModels", "ListModels"}
    assert text(sids["ReadModels"]["Resource"]).endswith('"/models/*"]]}')
    assert sids["ListModels"]["Condition"] == {"StringLike": {"s3:prefix": ["models/*"]}}
    subs = machine(with_import)["DefinitionSubstitutions"]
    assert subs["ImportModel"] == "true"
    assert subs["ImportRoleArn"] == {"Fn::GetAtt": [logical_id(with_import, "AWS::IAM::Role", "ImportRole"), "Arn"]}


def test_substitutions_name_the_gate_function_and_the_chatbots_current_model(make_template):
    template = make_template("finetune", model_id="us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    subs = machine(template)["DefinitionSubstitutions"]
    assert subs["GateFunctionArn"] == {
        "Fn::GetAtt": [logical_id(template, "AWS::Lambda::Function", "GateFunction"), "Arn"]}
    assert subs["CurrentModelId"] == "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


# The evaluation gate --------------------------------------------------------------------------------

def gate_function(template: Template) -> dict[str, Any]:
    (props,) = [f["Properties"] for f in template.find_resources("AWS::Lambda::Function").values()
                if f["Properties"]["Handler"] == "lambdas.finetune_gate.handler.handler"]
    return props


def test_the_gate_function_has_the_configs_judge_and_thresholds_and_a_15_minute_timeout(make_template):
    template = make_template("finetune", finetune_judge_model_id="us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                             finetune_gate_min_lower_bound=0.45, finetune_gate_min_questions=50,
                             finetune_gate_max_judge_failures=0.05)
    props = gate_function(template)
    assert props["Timeout"] == 900
    env = props["Environment"]["Variables"]
    assert (env["JUDGE_MODEL_ID"], env["MIN_WIN_RATE_LOWER_BOUND"], env["MIN_QUESTIONS"],
            env["MAX_JUDGE_FAILURE_SHARE"]) == ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "0.45", "50", "0.05")
    assert env["REPORT_BUCKET"] == {"Ref": logical_id(template, "AWS::S3::Bucket", "Artifacts")}
    assert env["REPORT_PREFIX"] == "reports/"


def test_the_gate_reads_only_models_and_writes_only_reports(finetune):
    sids = by_sid(finetune, "GateRole")
    artifacts = logical_id(finetune, "AWS::S3::Bucket", "Artifacts")
    assert sids["ReadTrainingOutput"]["Action"] == "s3:GetObject"
    assert sids["ReadTrainingOutput"]["Resource"] == {"Fn::Join": ["", [
        {"Fn::GetAtt": [artifacts, "Arn"]}, "/models/*"]]}
    assert sids["WriteReports"]["Action"] == "s3:PutObject"
    assert sids["WriteReports"]["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [artifacts, "Arn"]}, "/reports/*"]]}
    s3 = {a for s in role_statements(finetune, "GateRole") for a in as_list(s["Action"]) if a.startswith("s3:")}
    assert s3 == {"s3:GetObject", "s3:PutObject"}


def bedrock_grants(template: Template) -> list[dict[str, Any]]:
    return [s for s in role_statements(template, "GateRole") if any(a.startswith("bedrock:")
                                                                     for a in as_list(s["Action"]))]


def test_the_gate_may_invoke_only_the_judge_through_its_global_profile(finetune):
    grants = bedrock_grants(finetune)
    assert {a for s in grants for a in as_list(s["Action"])} == {"bedrock:InvokeModel"}
    resources = text([s["Resource"] for s in grants])
    # The default judge is a global inference profile: the profile, and the model only through it.
    assert "inference-profile/global.anthropic.claude-haiku-4-5-20251001-v1:0" in resources
    assert "foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0" in resources
    assert all("bedrock:InferenceProfileArn" in s["Condition"]["StringEquals"]
               for s in grants if "foundation-model/" in text(s["Resource"]))
    assert "claude-sonnet" not in resources and '"*"' not in resources


def test_a_geographic_judge_is_granted_in_every_region_of_its_profile_only_through_it(make_template):
    template = make_template("finetune", finetune_judge_model_id="us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    grants = bedrock_grants(template)
    (routed,) = [s for s in grants if "foundation-model/" in text(s["Resource"])]
    assert text(routed["Resource"]).endswith(':bedrock:*::foundation-model/anthropic.claude-sonnet-4-5-20250929-v1:0"]]}')
    assert "inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0" in text(
        routed["Condition"]["StringEquals"]["bedrock:InferenceProfileArn"])
    assert "haiku" not in text(grants)


# The workflow role ----------------------------------------------------------------------------------

def test_workflow_role_may_only_do_what_the_definition_does(finetune):
    sids = by_sid(finetune, "PipelineRole")
    assert sids["BuildDataset"]["Action"] == "lambda:InvokeFunction"
    assert sids["BuildDataset"]["Resource"] == {
        "Fn::GetAtt": [logical_id(finetune, "AWS::Lambda::Function", "DatasetFunction"), "Arn"]}
    assert set(sids["TrainingJobs"]["Action"]) == {
        "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
        "sagemaker:AddTags", "sagemaker:ListTags"}
    assert text(sids["TrainingJobs"]["Resource"]).endswith(f':training-job/{JOB_NAME_PREFIX}-*"]]}}')
    assert set(sids["TrainingJobEvents"]["Action"]) == {"events:PutTargets", "events:PutRule", "events:DescribeRule"}
    assert text(sids["TrainingJobEvents"]["Resource"]).endswith(f':rule/{TRAINING_EVENTS_RULE}"]]}}')
    assert sids["Notices"] == {"Sid": "Notices", "Effect": "Allow", "Action": "sns:Publish",
                               "Resource": {"Ref": logical_id(finetune, "AWS::SNS::Topic", "Notices")}}
    assert sids["EvaluationGate"]["Action"] == "lambda:InvokeFunction"
    assert sids["EvaluationGate"]["Resource"] == {
        "Fn::GetAtt": [logical_id(finetune, "AWS::Lambda::Function", "GateFunction"), "Arn"]}
    # Without import, the workflow calls no Bedrock API (the gate's judge is the gate function's own grant).
    assert not [s for s in role_statements(finetune, "PipelineRole")
                if any(a.startswith("bedrock:") for a in as_list(s["Action"]))]
    # Besides those: only the log delivery and X-Ray actions CDK adds for the workflow itself.
    named = {a for s in sids.values() for a in as_list(s["Action"])}
    extra = {a for s in role_statements(finetune, "PipelineRole") for a in as_list(s["Action"])} - named
    assert extra and all(a.startswith(("logs:", "xray:")) for a in extra), extra


def test_workflow_passes_each_role_only_to_its_service(finetune, with_import):
    sids = by_sid(with_import, "PipelineRole")
    assert sids["PassTrainingRole"]["Resource"] == {
        "Fn::GetAtt": [logical_id(with_import, "AWS::IAM::Role", "TrainingRole"), "Arn"]}
    assert sids["PassTrainingRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert sids["PassImportRole"]["Resource"] == {
        "Fn::GetAtt": [logical_id(with_import, "AWS::IAM::Role", "ImportRole"), "Arn"]}
    assert sids["PassImportRole"]["Condition"] == {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}
    for template in (finetune, with_import):
        passes = [s for s in statements(template) if "iam:PassRole" in as_list(s["Action"])]
        assert passes and all("iam:PassedToService" in s.get("Condition", {}).get("StringEquals", {}) for s in passes)
        assert all(as_list(s["Action"]) == ["iam:PassRole"] for s in passes)


def test_workflow_may_start_and_watch_model_imports_when_import_is_on(with_import):
    sids = by_sid(with_import, "PipelineRole")
    # TagResource: the imported model is tagged with the model to switch back to when it is created.
    assert set(sids["StartModelImport"]["Action"]) == {"bedrock:CreateModelImportJob", "bedrock:TagResource"}
    starts = text(sids["StartModelImport"]["Resource"])
    assert ':model-import-job/*"' in starts and ':imported-model/*"' in starts
    assert sids["WatchModelImport"]["Action"] == "bedrock:GetModelImportJob"
    assert text(sids["WatchModelImport"]["Resource"]).endswith(':model-import-job/*"]]}')


# Wildcards, storage, notices ------------------------------------------------------------------------

# The statements allowed to name "*": actions without resource-level permissions, each acknowledged.
WILDCARD_SIDS = {"EcrToken", "JobMetrics"}


def test_no_statement_allows_every_resource_except_the_acknowledged_ones(finetune, with_import):
    for template in (finetune, with_import):
        for stmt in statements(template):
            if "*" not in as_list(stmt["Resource"]):
                continue
            actions = as_list(stmt["Action"])
            # CDK's own: X-Ray for the Lambda and the workflow, log delivery for the workflow.
            cdk_added = "Sid" not in stmt and all(a.startswith(("xray:", "logs:")) for a in actions)
            assert stmt.get("Sid") in WILDCARD_SIDS or cdk_added, stmt
        for stmt in statements(template):
            for action in as_list(stmt["Action"]):
                assert action not in ("s3:*", "s3:DeleteObject", "iam:*", "sagemaker:*", "bedrock:*"), stmt


def test_artifacts_bucket_is_encrypted_versioned_logged_and_ssl_only(finetune):
    artifacts = logical_id(finetune, "AWS::S3::Bucket", "Artifacts")
    finetune.has_resource_properties("AWS::S3::Bucket", {
        "BucketEncryption": Match.object_like({"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}),
        "VersioningConfiguration": {"Status": "Enabled"},
        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "artifacts/"}),
        "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True, "RestrictPublicBuckets": True}),
    })
    (policy,) = [p["Properties"] for p in finetune.find_resources("AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": artifacts}]
    deny = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_notices_topic_is_encrypted_and_mailed_only_when_configured(finetune, with_import):
    (topic,) = finetune.find_resources("AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"]
    finetune.resource_count_is("AWS::SNS::Subscription", 0)
    with_import.has_resource_properties("AWS::SNS::Subscription", {"Protocol": "email",
                                                                   "Endpoint": "ml-team@example.com"})
