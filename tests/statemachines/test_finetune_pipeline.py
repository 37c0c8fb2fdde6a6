"""statemachines/finetune_pipeline.asl.json: its requests checked against botocore's service models, and
its control flow executed for real under moto.

(a) Request shapes. The CreateTrainingJob, CreateModelImportJob and GetModelImportJob Parameters are filled
    with a sample value for every JSONPath and intrinsic and validated with botocore's ParamValidator
    against the operation's input shape (AWS SDK integrations use PascalCase names, mapped back to the
    API's); the paths the workflow reads from the responses must exist in the output shapes. The moto runs
    below check the requests the executions actually resolved the same way.
(b) Control flow under moto (`execute_state_machine`, Lambda without Docker). What moto cannot run is
    replaced IN THE TEST ONLY by stand-ins that answer with the shapes the real services return
    (finetune_pipeline_helpers.stand_in; the responses are validated against the output shapes too):
    - the Train task (sagemaker:createTrainingJob.sync) and the Bedrock tasks (aws-sdk:bedrock:
      createModelImportJob / getModelImportJob): moto runs no SageMaker or Bedrock integration;
    - BuildDataset and Gate when they must fail: moto's Lambda backend without Docker always succeeds, so a
      function error is a stand-in; on the other paths both are the real lambda:invoke tasks, answered in
      turn through moto's lambda-simple response queue (the gate with each of its outcomes).
    Choice, Pass, Wait, the sns:publish notices (read from an SQS queue subscribed to the topic), the
    Catch routing and the Fail state's ErrorPath/CausePath run as written. moto reports the Fail state's
    error and cause in describe_execution and in the history's ExecutionFailed event, as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from moto.sns.exceptions import InternalError
from moto.sns.models import SNSBackend

from tests.statemachines.finetune_pipeline_helpers import (
    ACCOUNT,
    BUCKET,
    CURRENT_MODEL_ID,
    HYPERPARAMETERS,
    IMPORT_ROLE,
    REGION,
    Pipeline,
    assert_valid_requests,
    dataset_result,
    definition,
    gate_result,
    import_job,
    import_job_arn,
    lambda_error,
    lambda_invocations,
    output_has_path,
    requests_sent,
    stand_in,
    training_job,
    validation_errors,
)

SERVICE_TASKS = ("Train", "ImportModel", "CheckImport")
# A failed .sync training job reports States.TaskFailed with the job's description as the cause. A Fail
# state may not raise a States.* name (moto and AWS reject it), so the stand-in raises this name instead;
# the workflow catches States.ALL, so it takes the same path.
TRAINING_FAILED = "TrainingJobFailed"


# (a) request shapes -----------------------------------------------------------------------------------

def sample_values(machine: dict[str, Any]) -> dict[str, Any]:
    """A value for every path and intrinsic the service tasks use, of the type the earlier states give it."""
    channels = machine["States"]["ChannelsWithModel"]["Parameters"]["channels"]
    values: dict[str, Any] = {
        "$.config.training_job_name": "tandem-ft-run-1",
        "States.StringToJson($.config.hyperparameters_json)": HYPERPARAMETERS,
        "$.config.volume_gb": 100,
        "$.config.max_runtime_seconds": 28800,
        "$.import.job_arn": import_job_arn(),
        "$$.Execution.Name": "run-1",
        "$.dataset.train_uri": f"s3://{BUCKET}/datasets/run-1/train/",
        "$.dataset.eval_uri": f"s3://{BUCKET}/datasets/run-1/eval/",
        "$.config.model_channel_uri": "s3://base-models/flan-t5-xl/",
        f"States.Format('s3://{BUCKET}/models/{{}}/output/model/merged/', $.config.training_job_name)":
            f"s3://{BUCKET}/models/tandem-ft-run-1/output/model/merged/",
    }
    values["$.inputs.channels"] = fill(channels, values)
    return values


def fill(template: Any, values: dict[str, Any]) -> Any:
    """A Parameters template with each "key.$": expression replaced by "key": its sample value."""
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    if not isinstance(template, dict):
        return template
    filled = {}
    for key, value in template.items():
        if key.endswith(".$"):
            assert value in values, f"no sample value for {value!r}: add one to sample_values()"
            filled[key[:-2]] = values[value]
        else:
            filled[key] = fill(value, values)
    return filled


def filled_request(state: str, **overrides: str) -> tuple[str, dict[str, Any]]:
    machine = definition(**overrides)
    task = machine["States"][state]
    return task["Resource"], fill(task["Parameters"], sample_values(machine))


@pytest.mark.parametrize("state", SERVICE_TASKS)
def test_service_requests_match_the_service_models(state):
    resource, params = filled_request(state)
    assert validation_errors(resource, params) == ""


def test_the_request_check_catches_a_misspelled_field():
    resource, params = filled_request("Train")
    params["StoppingCondition"] = {"MaxRuntimeInSecond": 3600}
    assert "Unknown parameter in StoppingCondition" in validation_errors(resource, params)
    resource, params = filled_request("ImportModel")
    params["ModelDataSource"] = {"S3Datasource": {"S3Uri": "s3://b/m/"}}  # wrong case: not the API's name
    assert "Unknown parameter in modelDataSource" in validation_errors(resource, params)
    params.pop("ModelDataSource")
    assert "Missing required parameter" in validation_errors(resource, params)


def test_the_training_request_names_the_contract_layout():
    _, params = filled_request("Train")
    assert params["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/models/", "CompressionType": "NONE"}
    assert params["AlgorithmSpecification"]["TrainingInputMode"] == "File"
    assert [c["ChannelName"] for c in params["InputDataConfig"]] == ["train", "eval", "model"]
    assert params["HyperParameters"]["sagemaker_program"] == "train.py"
    assert all(isinstance(v, str) for v in params["HyperParameters"].values())


def test_the_paths_read_from_responses_exist_in_the_output_shapes():
    machine = definition()
    for state in SERVICE_TASKS:
        task = machine["States"][state]
        for path in task.get("ResultSelector", {}).values():
            if isinstance(path, str) and path.startswith("$."):
                assert output_has_path(task["Resource"], path), f"{state} reads {path}"
    check = machine["States"]["CheckImport"]["Resource"]
    for path in ("$.Status", "$.ImportedModelArn", "$.JobArn"):  # ImportDone and SummarizeImport read these
        assert output_has_path(check, path), path
    assert not output_has_path(check, "$.status")  # the check is case-sensitive, so it can fail


def test_the_stand_in_responses_have_the_services_shapes():
    machine = definition()
    train, create, check = (machine["States"][s]["Resource"] for s in SERVICE_TASKS)
    assert validation_errors(train, training_job("tandem-ft-run-1"), output=True) == ""
    assert validation_errors(train, training_job("tandem-ft-run-1", status="Failed", failure="x"), output=True) == ""
    assert validation_errors(create, {"JobArn": import_job_arn()}, output=True) == ""
    for status in ("InProgress", "Completed", "Failed"):
        assert validation_errors(check, import_job("tandem-ft-run-1", status=status), output=True) == ""


# (b) control flow under moto --------------------------------------------------------------------------

@pytest.fixture
def moto_config(moto_config):
    return {**moto_config, "lambda": {"use_docker": False}}


@pytest.fixture
def pipeline(aws):
    return Pipeline(aws)


def test_success_without_import_trains_and_notifies(pipeline):
    machine = pipeline.machine()
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-1"))

    described = pipeline.run(machine, "run-1", dataset=dataset_result("run-1"))

    assert described["status"] == "SUCCEEDED"
    assert pipeline.states_entered() == [
        "Configure", "BuildDataset", "ChoosePath", "ChooseChannels", "DataChannels", "Train", "TrainRequest",
        "TrainAnswer", "TrainResult", "Gate", "GateDecided", "ChooseImport", "SummarizeTraining", "NotifySuccess",
        "Done"]
    invoke, gate = lambda_invocations(pipeline)
    assert invoke == {"FunctionName": pipeline.function, "Payload": {"dataset_id": "run-1"}}
    assert gate == {"FunctionName": pipeline.gate, "Payload": {
        "evaluation_id": "run-1",
        "answers_uri": f"s3://{BUCKET}/models/tandem-ft-run-1/output/model/gate_answers.jsonl",
        "metrics_uri": f"s3://{BUCKET}/models/tandem-ft-run-1/output/model/metrics.json"}}
    (request,) = assert_valid_requests(pipeline, "Train")
    assert request["TrainingJobName"] == "tandem-ft-run-1"
    assert request["HyperParameters"] == HYPERPARAMETERS
    assert [(c["ChannelName"], c["DataSource"]["S3DataSource"]["S3Uri"]) for c in request["InputDataConfig"]] == [
        ("train", f"s3://{BUCKET}/datasets/run-1/train/"), ("eval", f"s3://{BUCKET}/datasets/run-1/eval/")]
    assert request["ResourceConfig"] == {"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 100}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 28800}
    assert request["OutputDataConfig"] == {"S3OutputPath": f"s3://{BUCKET}/models/", "CompressionType": "NONE"}
    (notice,) = pipeline.notices()
    assert notice["subject"] == "Tandem fine-tuning succeeded"
    assert notice["message"] == {
        "status": "succeeded", "execution": "run-1", "training_job": "tandem-ft-run-1",
        "model_artifacts": f"s3://{BUCKET}/models/tandem-ft-run-1/output/model/",
        "dataset": f"s3://{BUCKET}/datasets/run-1/", "dataset_report": f"s3://{BUCKET}/datasets/run-1/report.json",
        "gate_outcome": "passed", "win_rate": gate_result("run-1")["win_rate"],
        "gate_report": f"s3://{BUCKET}/reports/run-1/report.html",
        "gate_report_json": f"s3://{BUCKET}/reports/run-1/report.json", "current_model_id": CURRENT_MODEL_ID}


def test_a_base_model_in_s3_is_a_third_channel(pipeline):
    machine = pipeline.machine(UseModelChannel="true", ModelChannelUri="s3://base-models/flan-t5-xl/")
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-2"))

    assert pipeline.run(machine, "run-2", dataset=dataset_result("run-2"))["status"] == "SUCCEEDED"

    assert "ChannelsWithModel" in pipeline.states_entered()
    (request,) = assert_valid_requests(pipeline, "Train")
    assert [c["ChannelName"] for c in request["InputDataConfig"]] == ["train", "eval", "model"]
    assert request["InputDataConfig"][2]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://base-models/flan-t5-xl/"


def test_import_path_imports_the_merged_model_and_names_it_in_the_notice(pipeline):
    machine = pipeline.machine(ImportModel="true", ImportRoleArn=IMPORT_ROLE)
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-3"))
    stand_in(machine, "ImportModel", returns={"JobArn": import_job_arn()})
    stand_in(machine, "CheckImport", returns=import_job("tandem-ft-run-3", status="Completed"))

    described = pipeline.run(machine, "run-3", dataset=dataset_result("run-3"))

    assert described["status"] == "SUCCEEDED"
    entered = pipeline.states_entered()
    assert entered[entered.index("Gate"):] == [
        "Gate", "GateDecided", "ChooseImport", "ImportModel", "ImportModelRequest", "ImportModelAnswer", "ImportModelResult",
        "WaitForImport", "CheckImport", "CheckImportRequest", "CheckImportAnswer", "CheckImportResult",
        "ImportDone", "SummarizeImport", "NotifySuccess", "Done"]
    (create,) = assert_valid_requests(pipeline, "ImportModel")
    assert create == {"JobName": "tandem-ft-run-3", "ImportedModelName": "tandem-ft-run-3", "RoleArn": IMPORT_ROLE,
                      "ModelDataSource": {"S3DataSource": {
                          "S3Uri": f"s3://{BUCKET}/models/tandem-ft-run-3/output/model/merged/"}},
                      "ImportedModelTags": [{"Key": "tandem:previous-model-id", "Value": CURRENT_MODEL_ID},
                                            {"Key": "tandem:execution", "Value": "run-3"}]}
    (check,) = assert_valid_requests(pipeline, "CheckImport")
    assert check == {"JobIdentifier": import_job_arn()}
    (notice,) = pipeline.notices()
    assert notice["subject"] == "Tandem fine-tuning succeeded"
    assert notice["message"]["imported_model_arn"] == import_job("x", status="Completed")["ImportedModelArn"]
    # The way back: the model the chatbot used when the pipeline was deployed, beside the imported one.
    assert notice["message"]["previous_model_id"] == CURRENT_MODEL_ID
    assert notice["message"]["gate_report"] == f"s3://{BUCKET}/reports/run-3/report.html"
    output = json.loads(described["output"])
    assert (output["summary"]["imported_model_arn"], output["summary"]["previous_model_id"]) == (
        notice["message"]["imported_model_arn"], CURRENT_MODEL_ID)


REFUSALS = [
    ("failed", ["the tuned model's win rate is 55.0% (95% interval 42.0% to 67.4%, 60 questions); its lower bound "
                "must be above 50.0%",
                "Bedrock Custom Model Import would not load the merged model (chat_template): tokenizer_config.json "
                "has no chat_template"],
     "GateRefused", "Tandem fine-tuning: the gate refused the tuned model, nothing was imported"),
    ("judge_unavailable", ["judge unavailable: none of the 40 questions could be judged (AccessDeniedException x40)"],
     "JudgeUnavailable", "Tandem fine-tuning: the judge was unavailable, nothing was imported"),
]


@pytest.mark.parametrize(("outcome", "reasons", "state", "subject"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_gate_refusal_imports_nothing_and_the_notice_gives_the_reasons_and_the_report(pipeline, outcome, reasons,
                                                                                      state, subject):
    machine = pipeline.machine(ImportModel="true", ImportRoleArn=IMPORT_ROLE)
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-11"))
    stand_in(machine, "ImportModel", returns={"JobArn": import_job_arn()})  # must not be reached

    described = pipeline.run(machine, "run-11", dataset=dataset_result("run-11"),
                             gate=gate_result("run-11", outcome, reasons))

    assert described["status"] == "SUCCEEDED"  # a refusal is an outcome, not a failure
    entered = pipeline.states_entered()
    assert entered[entered.index("Gate"):] == ["Gate", "GateDecided", state, "WithdrawRefusedModel",
                                               "NotifyNotImported", "NotImported"]
    assert "ImportModel" not in entered and requests_sent(pipeline.history, "ImportModel") == []
    (notice,) = pipeline.notices()
    assert notice["subject"] == subject
    message = notice["message"]
    assert (message["status"], message["gate_outcome"], message["gate_reasons"]) == ("not_imported", outcome, reasons)
    assert message["gate_report"] == f"s3://{BUCKET}/reports/run-11/report.html"
    assert message["gate_report_json"] == f"s3://{BUCKET}/reports/run-11/report.json"
    assert message["current_model_id"] == CURRENT_MODEL_ID
    assert ("unavailable" in message["why"]) == (outcome == "judge_unavailable")
    assert json.loads(described["output"])["summary"]["message"] == message


def test_a_gate_refusal_without_import_configured_also_says_nothing_was_imported(pipeline):
    machine = pipeline.machine()
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-12"))

    described = pipeline.run(machine, "run-12", dataset=dataset_result("run-12"),
                             gate=gate_result("run-12", "failed", ["too few questions"]))

    assert described["status"] == "SUCCEEDED"
    assert "ChooseImport" not in pipeline.states_entered()
    (notice,) = pipeline.notices()
    assert (notice["message"]["status"], notice["message"]["gate_reasons"]) == ("not_imported", ["too few questions"])


def test_an_error_in_the_gate_fails_the_run_with_the_error_and_imports_nothing(pipeline):
    machine = pipeline.machine(ImportModel="true", ImportRoleArn=IMPORT_ROLE)
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-13"))
    cause = lambda_error("NoSuchKey", "An error occurred (NoSuchKey) when calling the GetObject operation")
    stand_in(machine, "Gate", error="NoSuchKey", cause=cause)

    described = pipeline.run(machine, "run-13", dataset=dataset_result("run-13"))

    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "NoSuchKey", cause)
    entered = pipeline.states_entered()
    assert entered[-3:] == ["GateAnswer", "RecordFailure", "Failed"]
    assert "GateDecided" not in entered and "ImportModel" not in entered
    (request,) = requests_sent(pipeline.history, "Gate")
    assert request["Payload"]["answers_uri"] == f"s3://{BUCKET}/models/tandem-ft-run-13/output/model/gate_answers.jsonl"
    assert pipeline.execution_failed() == {"error": "NoSuchKey", "cause": cause}
    (notice,) = pipeline.notices()
    assert notice["message"] == {"status": "failed", "execution": "run-13", "error": "NoSuchKey", "cause": cause}


def test_an_import_still_running_after_the_last_check_fails_the_run(pipeline):
    machine = pipeline.machine(ImportModel="true", ImportRoleArn=IMPORT_ROLE, ImportMaxPolls="2")
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-4"))
    stand_in(machine, "ImportModel", returns={"JobArn": import_job_arn()})
    stand_in(machine, "CheckImport", returns=import_job("tandem-ft-run-4", status="InProgress"))

    described = pipeline.run(machine, "run-4", dataset=dataset_result("run-4"))

    assert described["status"] == "FAILED"
    assert pipeline.states_entered().count("CheckImport") == 3  # after 0, 1 and 2 counted polls
    assert described["error"] == "ModelImportTimedOut"
    assert described["cause"] == f"The model import job {import_job_arn()} was still in progress after 2 status checks."
    assert pipeline.execution_failed() == {"error": described["error"], "cause": described["cause"]}


def test_a_failed_import_fails_the_run_with_the_jobs_description(pipeline):
    machine = pipeline.machine(ImportModel="true", ImportRoleArn=IMPORT_ROLE)
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-5"))
    stand_in(machine, "ImportModel", returns={"JobArn": import_job_arn()})
    stand_in(machine, "CheckImport", returns=import_job("tandem-ft-run-5", status="Failed",
                                                         failure="Unsupported model architecture"))

    described = pipeline.run(machine, "run-5", dataset=dataset_result("run-5"))

    assert (described["status"], described["error"]) == ("FAILED", "ModelImportFailed")
    assert json.loads(described["cause"])["FailureMessage"] == "Unsupported model architecture"
    (notice,) = pipeline.notices()
    assert (notice["message"]["error"], notice["message"]["cause"]) == ("ModelImportFailed", described["cause"])


def test_a_failed_training_job_is_recorded_with_its_error_and_cause(pipeline):
    machine = pipeline.machine()
    job = training_job("tandem-ft-run-6", status="Failed", failure="AlgorithmError: CUDA out of memory")
    stand_in(machine, "Train", error=TRAINING_FAILED, cause=json.dumps(job))

    described = pipeline.run(machine, "run-6", dataset=dataset_result("run-6"))

    assert described["status"] == "FAILED"
    assert pipeline.states_entered()[-3:] == ["TrainAnswer", "RecordFailure", "Failed"]
    assert pipeline.states_entered().count("TrainRequest") == 1  # a failed job is not retried: its name is taken
    assert described["error"] == TRAINING_FAILED
    assert json.loads(described["cause"])["FailureReason"] == "AlgorithmError: CUDA out of memory"
    assert pipeline.execution_failed() == {"error": described["error"], "cause": described["cause"]}
    (notice,) = pipeline.notices()
    assert notice["subject"] == "Tandem fine-tuning failed"
    assert notice["message"] == {"status": "failed", "execution": "run-6", "error": TRAINING_FAILED,
                                 "cause": described["cause"]}


def test_not_enough_training_data_fails_with_the_lambdas_message(pipeline):
    machine = pipeline.machine()
    message = "Not enough training data: 7 reward rows in the train split, at least 20 needed"
    stand_in(machine, "BuildDataset", error="NotEnoughTrainingData",
             cause=lambda_error("NotEnoughTrainingData", message))

    described = pipeline.run(machine, "run-7")

    assert (described["status"], described["error"], described["cause"]) == ("FAILED", "NotEnoughTrainingData", message)
    entered = pipeline.states_entered()
    assert entered[-4:] == ["ReadDatasetError", "KeepDatasetMessage", "RecordFailure", "Failed"]
    assert "Train" not in entered
    assert pipeline.execution_failed() == {"error": "NotEnoughTrainingData", "cause": message}
    (notice,) = pipeline.notices()
    assert notice["message"]["cause"] == message


def test_a_transient_sagemaker_fault_is_retried_and_the_run_goes_on(pipeline):
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName="stand-in-calls", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    machine = pipeline.machine()
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-9"), counter_table="stand-in-calls",
             first_fails_with="SageMaker.AmazonSageMakerException")  # e.g. CreateTrainingJob throttled

    described = pipeline.run(machine, "run-9", dataset=dataset_result("run-9"), timeout=40)

    assert described["status"] == "SUCCEEDED"
    assert pipeline.states_entered().count("TrainRequest") == 2
    assert pipeline.states_entered()[-2:] == ["NotifySuccess", "Done"]


def test_a_notice_that_fails_once_is_retried_and_sent(pipeline, monkeypatch):
    machine = pipeline.machine()
    stand_in(machine, "Train", returns=training_job("tandem-ft-run-10"))
    publish = SNSBackend.publish
    attempts: list[str] = []

    def unavailable_once(self: SNSBackend, *args: Any, **kwargs: Any) -> str:  # SNS was briefly unavailable
        attempts.append("publish")
        if len(attempts) == 1:
            raise InternalError("SNS is unavailable")
        return publish(self, *args, **kwargs)

    monkeypatch.setattr(SNSBackend, "publish", unavailable_once)
    described = pipeline.run(machine, "run-10", dataset=dataset_result("run-10"), timeout=40)

    assert described["status"] == "SUCCEEDED"
    assert [e["type"] for e in pipeline.history].count("TaskFailed") == 1
    assert len(attempts) == 2
    (notice,) = pipeline.notices()
    assert notice["subject"] == "Tandem fine-tuning succeeded"


def test_the_run_still_records_the_error_when_the_failure_notice_fails(pipeline):
    machine = pipeline.machine(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic")
    stand_in(machine, "Train", error=TRAINING_FAILED, cause="the job failed")

    described = pipeline.run(machine, "run-8", dataset=dataset_result("run-8"))

    assert (described["status"], described["error"], described["cause"]) == ("FAILED", TRAINING_FAILED,
                                                                               "the job failed")
    assert pipeline.states_entered()[-2:] == ["RecordFailure", "Failed"]
    assert pipeline.notices() == []
