"""Helpers for tests/statemachines/test_finetune_pipeline.py: the definition with its placeholders filled in,
test stand-ins for the tasks moto cannot run, and request/response checks against botocore's service models.

Stand-ins (moto runs no SageMaker or Bedrock task, and its Lambda backend cannot return a function error):
a task state becomes a Parallel state that keeps the task's Parameters, Retry, Catch and Next. Its one branch
passes the resolved request through a Pass state (so the test can read it from the execution history and
check it against the service model) and then answers like the service: a Pass with the service's response,
or a Fail with the error and cause Step Functions reports. On success a Pass state after it applies the
task's own ResultSelector and ResultPath to that response. Everything else runs as written.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

DEFINITION = Path(__file__).resolve().parents[2] / "statemachines" / "finetune_pipeline.asl.json"
ACCOUNT, REGION = "123456789012", "us-east-1"
BUCKET = "tandem-finetune-artifacts"
TRAINING_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tandem-finetune-training"
IMPORT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tandem-finetune-import"
CURRENT_MODEL_ID = "global.anthropic.claude-haiku-4-5-20251001-v1:0"  # the chatbot's model_id before an import
CODE_URI = f"s3://cdk-assets-{ACCOUNT}-{REGION}/0123abcd.gz"
HYPERPARAMETERS = {
    "sagemaker_program": "train.py", "sagemaker_submit_directory": CODE_URI, "sagemaker_region": REGION,
    "algorithm": "reward-pg", "model_name_or_path": "google/flan-t5-xl", "epochs": "3",
}

_SESSION = botocore.session.get_session()


def placeholders() -> set[str]:
    return set(re.findall(r"\$\{([^}]*)\}", DEFINITION.read_text()))


def substitutions(**overrides: str) -> dict[str, str]:
    """A value for every ${Placeholder}, as stacks/finetune_stack.py fills them in (with test resources)."""
    values = {
        "JobNamePrefix": "tandem-ft",
        "DatasetFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tandem-finetune-dataset",
        "HyperParameters": json.dumps(json.dumps(HYPERPARAMETERS))[1:-1],
        "UseModelChannel": "false",
        "ModelChannelUri": "unused",
        "TrainingImage": f"763104351884.dkr.ecr.{REGION}.amazonaws.com/huggingface-pytorch-training:2.9.0-"
                         "transformers5.3.0-gpu-py312-cu130-ubuntu22.04",
        "InstanceType": "ml.g5.2xlarge",
        "VolumeSizeGb": "100",
        "MaxRuntimeSeconds": "28800",
        "TrainTimeoutSeconds": "32400",
        "ModelsS3Uri": f"s3://{BUCKET}/models/",
        "TrainingRoleArn": TRAINING_ROLE,
        "ImportModel": "false",
        "ImportRoleArn": "unused",
        "ImportPollSeconds": "0",
        "ImportMaxPolls": "2",
        "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:tandem-finetune-notices",
        "GateFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tandem-finetune-gate",
        "CurrentModelId": CURRENT_MODEL_ID,
    }
    unknown = set(overrides) - set(values)
    assert not unknown, f"no such placeholder: {unknown}"
    return {**values, **overrides}


def definition(**overrides: str) -> dict[str, Any]:
    """The definition as deployed: every placeholder replaced (CloudFormation does the same text replacement)."""
    values = substitutions(**overrides)
    assert placeholders() == set(values), "the definition's placeholders changed: update substitutions()"
    text = DEFINITION.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return json.loads(text)


# Stand-ins ------------------------------------------------------------------------------------------------

def stand_in(machine: dict[str, Any], name: str, *, returns: Any = None, error: str | None = None,
             cause: str = "", first_fails_with: str | None = None, counter_table: str = "") -> None:
    """Replaces task `name` (see the module docstring); exactly one of returns / error. With
    `first_fails_with`, the first call fails with that error and later calls answer `returns` (a transient
    fault): the branch counts its calls in `counter_table` (a moto DynamoDB table keyed by `id`)."""
    assert (returns is None) != (error is None)
    task = machine["States"][name]
    request, answer = f"{name}Request", f"{name}Answer"
    if error is not None:
        respond = {"Type": "Fail", "Error": error, "Cause": cause}
    else:
        respond = {"Type": "Pass", "Result": returns, "End": True}
    states: dict[str, Any] = {request: {"Type": "Pass", "Next": answer}, answer: respond}
    if first_fails_with is not None:
        count, choose = f"{name}Count", f"{name}FirstCall"
        states[request]["Next"] = count
        states[count] = {
            "Type": "Task", "Resource": "arn:aws:states:::dynamodb:updateItem", "ResultPath": "$.calls",
            "Parameters": {"TableName": counter_table, "Key": {"id": {"S": name}}, "ReturnValues": "UPDATED_NEW",
                           "UpdateExpression": "ADD calls :one", "ExpressionAttributeValues": {":one": {"N": "1"}}},
            "Next": choose}
        states[choose] = {"Type": "Choice", "Default": answer, "Choices": [
            {"Variable": "$.calls.Attributes.calls.N", "StringEquals": "1", "Next": f"{name}Transient"}]}
        states[f"{name}Transient"] = {"Type": "Fail", "Error": first_fails_with, "Cause": "a transient fault"}
    parallel = {
        "Type": "Parallel",
        "Comment": f"test stand-in for {task['Resource']}",
        "Parameters": task["Parameters"],
        "Branches": [{"StartAt": request, "States": states}],
        **({"Retry": task["Retry"]} if "Retry" in task else {}),
        "Catch": task["Catch"],
        "ResultPath": f"$.stand_in.{name}",
        "Next": f"{name}Result",
    }
    # The Parallel state's result is a one-element array: unwrap it, then apply the task's own selector.
    result = {"Type": "Pass", "InputPath": f"$.stand_in.{name}[0]", "ResultPath": task["ResultPath"],
              "Next": task["Next"]}
    if "ResultSelector" in task:
        result["Parameters"] = task["ResultSelector"]
    machine["States"][name] = parallel
    machine["States"][f"{name}Result"] = result


def requests_sent(history: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The resolved Parameters of every call stand-in `name` received (its Request state's output)."""
    return [json.loads(e["stateExitedEventDetails"]["output"]) for e in history
            if e.get("stateExitedEventDetails", {}).get("name") == f"{name}Request"]


# Service shapes -------------------------------------------------------------------------------------------

def service_model(resource: str, *, response: bool = False):
    """The botocore operation model of a task Resource (optimised or aws-sdk integration). With response=True,
    the operation whose output the task returns: a .sync SageMaker job returns its Describe* output."""
    service, action = resource.split(":::")[1].split(":")[-2:]
    action, _, pattern = action.partition(".")  # createTrainingJob.sync -> createTrainingJob, sync
    operation = action[0].upper() + action[1:]
    if response and pattern == "sync" and service == "sagemaker":
        operation = "Describe" + operation.removeprefix("Create")
    return _SESSION.get_service_model(service).operation_model(operation)


def to_api_names(value: Any, shape: Shape) -> Any:
    """AWS SDK integrations take and return PascalCase names even for camelCase APIs (jobName -> JobName):
    maps them back to the API's member names. A key that matches no member is kept, so the validator
    reports it as unknown."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        converted = {}
        for key, item in value.items():
            member = next((m for m in shape.members if m[0].upper() + m[1:] == key), None)
            converted[member or key] = to_api_names(item, shape.members[member]) if member else item
        return converted
    if isinstance(shape, ListShape) and isinstance(value, list):
        return [to_api_names(item, shape.member) for item in value]
    if isinstance(shape, MapShape) and isinstance(value, dict):
        return {key: to_api_names(item, shape.value) for key, item in value.items()}
    return value


def _aws_sdk(resource: str) -> bool:
    return ":::aws-sdk:" in resource


def validation_errors(resource: str, params: dict[str, Any], *, output: bool = False) -> str:
    """botocore's report on a request (or, with output=True, a response) of the task's operation; "" if valid."""
    operation = service_model(resource, response=output)
    shape = operation.output_shape if output else operation.input_shape
    if _aws_sdk(resource):
        params = to_api_names(copy.deepcopy(params), shape)
    report = ParamValidator().validate(params, shape)
    return report.generate_report() if report.has_errors() else ""


def output_has_path(resource: str, path: str) -> bool:
    """Whether a JSONPath such as $.ModelArtifacts.S3ModelArtifacts names a member of the task's response."""
    shape = service_model(resource, response=True).output_shape
    for key in path.removeprefix("$.").split("."):
        if not isinstance(shape, StructureShape):
            return False
        names = {(m[0].upper() + m[1:]) if _aws_sdk(resource) else m: m for m in shape.members}
        if key not in names:
            return False
        shape = shape.members[names[key]]
    return True


# What the services answer (checked against the output shapes by a test) ----------------------------------

def training_job(name: str, *, status: str = "Completed", failure: str | None = None) -> dict[str, Any]:
    """DescribeTrainingJob, which the .sync integration returns when the job ends."""
    job = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/{name}",
        "ModelArtifacts": {"S3ModelArtifacts": f"s3://{BUCKET}/models/{name}/output/model/"},
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "AlgorithmSpecification": {"TrainingImage": substitutions()["TrainingImage"], "TrainingInputMode": "File"},
        "RoleArn": TRAINING_ROLE,
        "HyperParameters": HYPERPARAMETERS,
        "ResourceConfig": {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100},
        "StoppingCondition": {"MaxRuntimeInSeconds": 28800},
        "CreationTime": "2026-11-25T03:00:00Z",
    }
    if failure:
        job["FailureReason"] = failure
    return job


def import_job_arn() -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-import-job/abcdef123456"


def import_job(name: str, *, status: str, failure: str | None = None) -> dict[str, Any]:
    """GetModelImportJob in Step Functions' PascalCase."""
    job = {
        "JobArn": import_job_arn(), "JobName": name, "ImportedModelName": name, "RoleArn": IMPORT_ROLE,
        "ModelDataSource": {"S3DataSource": {"S3Uri": f"s3://{BUCKET}/models/{name}/output/model/merged/"}},
        "Status": status, "CreationTime": "2026-11-25T05:00:00Z",
    }
    if status == "Completed":
        job["ImportedModelArn"] = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:imported-model/zyxw98765432"
    if failure:
        job["FailureMessage"] = failure
    return job


def dataset_result(dataset_id: str) -> dict[str, Any]:
    """What lambdas/finetune_dataset returns to the workflow."""
    base = f"s3://{BUCKET}/datasets/{dataset_id}/"
    return {"dataset_id": dataset_id, "dataset_uri": base, "train_uri": f"{base}train/", "eval_uri": f"{base}eval/",
            "report_uri": f"{base}report.json", "counts": {"train": {"reward": 40}, "eval": {"reward": 9}},
            "bad_rows": 0}


def lambda_error(error_type: str, message: str) -> str:
    """The cause Step Functions reports for a Lambda function error: the function's error document."""
    return json.dumps({"errorMessage": message, "errorType": error_type, "requestId": "0f1e2d3c",
                       "stackTrace": ['  File "/var/task/lambdas/finetune_dataset/handler.py", line 1, in handler']})


def gate_result(evaluation_id: str, outcome: str = "passed", reasons: list[str] | None = None) -> dict[str, Any]:
    """What lambdas/finetune_gate returns to the workflow (docs/evaluation-gate.md)."""
    uri = f"s3://{BUCKET}/reports/{evaluation_id}/"
    return {"evaluation_id": evaluation_id, "passed": outcome == "passed", "outcome": outcome,
            "reasons": reasons or [],
            "win_rate": {"value": 0.7, "ci_low": 0.52, "ci_high": 0.83, "judged": 30, "confidence": 0.95,
                         "interval": "wilson", "ties": "counted as half a win"},
            "counts": {"questions": 30, "judged": 30, "wins": 21, "losses": 9, "ties": 0, "failures": 0,
                       "failures_by_code": {}, "orders_disagreed": 2},
            "report_uri": f"{uri}report.json", "report_page_uri": f"{uri}report.html"}
