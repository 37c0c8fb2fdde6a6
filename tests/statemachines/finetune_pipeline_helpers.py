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
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import requests
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.validate import ParamValidator

from testing.moto_aws import MotoAws

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
        "TrainingPath": "sagemaker",
        "BedrockBaseModel": "unused",
        "BedrockDataFolder": "unused",
        "BedrockHyperParameters": "{}",
        "CustomizationRoleArn": "unused",
        "CustomizationPollSeconds": "0",
        "CustomizationMaxPolls": "2",
        "DeploymentPollSeconds": "0",
        "DeploymentMaxPolls": "2",
        "AnswersFunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tandem-finetune-answers",
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


CUSTOMIZATION_ROLE = f"arn:aws:iam::{ACCOUNT}:role/tandem-finetune-customization"
BEDROCK_BASE_MODEL = "amazon.nova-micro-v1:0:128k"
BEDROCK_HYPERPARAMETERS = {"epochCount": "2", "learningRate": "0.00001"}
BEDROCK_PATH = {"TrainingPath": "bedrock", "BedrockBaseModel": BEDROCK_BASE_MODEL,
                "BedrockDataFolder": "bedrock-conversation", "CustomizationRoleArn": CUSTOMIZATION_ROLE,
                "BedrockHyperParameters": json.dumps(json.dumps(BEDROCK_HYPERPARAMETERS))[1:-1],
                "TrainingRoleArn": "unused", "HyperParameters": "{}"}


def customization_job_arn() -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/amazon.nova-micro-v1:0:128k/a1b2c3d4e5f6"


def custom_model_arn() -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/amazon.nova-micro-v1:0:128k/f6e5d4c3b2a1"


def deployment_arn() -> str:
    return f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model-deployment/0a1b2c3d4e5f"


def customization_job(name: str, *, status: str, failure: str | None = None) -> dict[str, Any]:
    """GetModelCustomizationJob in Step Functions' PascalCase (AWS SDK integration)."""
    job: dict[str, Any] = {
        "JobArn": customization_job_arn(), "JobName": name, "OutputModelName": name, "RoleArn": CUSTOMIZATION_ROLE,
        "Status": status, "CreationTime": "2026-11-25T05:00:00Z", "BaseModelArn":
            f"arn:aws:bedrock:{REGION}::foundation-model/{BEDROCK_BASE_MODEL}",
        "HyperParameters": BEDROCK_HYPERPARAMETERS, "CustomizationType": "FINE_TUNING",
        "TrainingDataConfig": {"S3Uri": f"s3://{BUCKET}/datasets/x/bedrock-conversation/train.jsonl"},
        "ValidationDataConfig": {"Validators": [
            {"S3Uri": f"s3://{BUCKET}/datasets/x/bedrock-conversation/validation.jsonl"}]},
        "OutputDataConfig": {"S3Uri": f"s3://{BUCKET}/models/{name}/"},
    }
    if status == "Completed":
        job["OutputModelArn"] = custom_model_arn()
    if failure:
        job["FailureMessage"] = failure
    return job


def deployment(name: str, *, status: str, failure: str | None = None) -> dict[str, Any]:
    """GetCustomModelDeployment in Step Functions' PascalCase."""
    found: dict[str, Any] = {"CustomModelDeploymentArn": deployment_arn(), "ModelDeploymentName": name,
                             "ModelArn": custom_model_arn(), "CreatedAt": "2026-11-25T08:00:00Z", "Status": status}
    if failure:
        found["FailureMessage"] = failure
    return found


def answers_result(evaluation_id: str) -> dict[str, Any]:
    """What lambdas/finetune_answers returns to the workflow."""
    return {"evaluation_id": evaluation_id, "answers_uri": f"s3://{BUCKET}/reports/{evaluation_id}/gate_answers.jsonl",
            "questions": 40, "answered": 40, "failures_by_code": {}}


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


# The workflow under moto ------------------------------------------------------------------------------

class Pipeline:
    """The workflow's AWS surroundings in moto: the notices topic with an SQS inbox, the dataset function."""

    def __init__(self, aws: MotoAws) -> None:
        self.sfn, self.sns, self.sqs = aws.sfn, aws.sns, aws.sqs
        self.topic = aws.create("finetune_notices_topic", "tandem-finetune-notices")
        self.inbox = self.sqs.create_queue(QueueName="notices-inbox")["QueueUrl"]
        self.subscribe(self.topic)
        role = boto3.client("iam").create_role(RoleName="dataset", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="tandem-finetune-dataset", Runtime="python3.14", Role=role,
            Handler="lambdas.finetune_dataset.handler.handler", Code={"ZipFile": b"stand-in"})["FunctionArn"]
        self.gate = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="tandem-finetune-gate", Runtime="python3.14", Role=role,
            Handler="lambdas.finetune_gate.handler.handler", Code={"ZipFile": b"stand-in"})["FunctionArn"]
        self.answers = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="tandem-finetune-answers", Runtime="python3.14", Role=role,
            Handler="lambdas.finetune_answers.handler.handler", Code={"ZipFile": b"stand-in"})["FunctionArn"]

    def subscribe(self, topic: str) -> None:
        inbox_arn = self.sqs.get_queue_attributes(QueueUrl=self.inbox,
                                                  AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)

    def current_history(self) -> list[dict[str, Any]]:
        """The events of every execution so far (for a test acting while one runs)."""
        return [event for machine in self.sfn.list_state_machines()["stateMachines"]
                for execution in self.sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
                for event in self.sfn.get_execution_history(executionArn=execution["executionArn"],
                                                            maxResults=1000)["events"]]

    def machine(self, **overrides: str) -> dict[str, Any]:
        return definition(**{"DatasetFunctionArn": self.function, "GateFunctionArn": self.gate,
                             "AnswersFunctionArn": self.answers, "TopicArn": self.topic, **overrides})

    def run(self, machine: dict[str, Any], name: str, *, dataset: dict[str, Any] | None = None,
            gate: dict[str, Any] | None = None, lambdas: list[dict[str, Any]] | None = None,
            timeout: float = 20) -> dict[str, Any]:
        """Creates the state machine, queues the answers of the dataset Lambda and then of the gate Lambda (the
        gate passes unless told otherwise), or exactly `lambdas` in order when given, and runs one execution to
        its end."""
        answers = [dataset] if dataset is not None else []
        if dataset is not None and "Gate" in machine["States"] and machine["States"]["Gate"]["Type"] == "Task":
            answers.append(gate if gate is not None else gate_result(name))
        if lambdas is not None:
            answers = lambdas
        if answers:
            requests.post("http://motoapi.amazonaws.com/moto-api/static/lambda-simple/response",
                          json={"results": [json.dumps(a) for a in answers], "region": REGION, "account_id": ACCOUNT})
        arn = self.sfn.create_state_machine(name=f"finetune-{name}", definition=json.dumps(machine), type="STANDARD",
                                            roleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline")["stateMachineArn"]
        execution = self.sfn.start_execution(stateMachineArn=arn, name=name, input="{}")["executionArn"]
        deadline = time.monotonic() + timeout
        while (described := self.sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "the execution did not end"
            time.sleep(0.05)
        self.history = self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        return described

    def states_entered(self) -> list[str]:
        return [e["stateEnteredEventDetails"]["name"] for e in self.history if "stateEnteredEventDetails" in e]

    def notices(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [{"subject": (body := json.loads(m["Body"]))["Subject"], "message": json.loads(body["Message"])}
                for m in received]

    def execution_failed(self) -> dict[str, str]:
        (event,) = [e for e in self.history if e["type"] == "ExecutionFailed"]
        return event["executionFailedEventDetails"]


def lambda_invocations(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The parameters of every lambda:invoke task the execution scheduled, in order."""
    return [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in pipeline.history
            if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "lambda"]


def assert_valid_requests(pipeline: Pipeline, state: str) -> list[dict[str, Any]]:
    """The requests stand-in `state` received, each checked against the service model."""
    sent = requests_sent(pipeline.history, state)
    assert sent, f"{state} was not called"
    for request in sent:
        assert validation_errors(definition()["States"][state]["Resource"], request) == ""
    return sent
