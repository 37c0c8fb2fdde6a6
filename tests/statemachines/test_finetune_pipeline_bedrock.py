"""The fine-tuning pipeline's Bedrock path (finetune_path "bedrock"): its Bedrock requests checked against
botocore's service model, and every branch executed under moto with the test stand-ins of
finetune_pipeline_helpers (moto runs no Bedrock integration; the Lambda answers are queued in moto's
lambda-simple backend): a custom model that passes the gate keeps its deployment, a refused one loses it, and
an error after the deployment deletes it before the run fails."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest

from tests.statemachines.finetune_pipeline_helpers import (
    BEDROCK_BASE_MODEL,
    BEDROCK_HYPERPARAMETERS,
    BEDROCK_PATH,
    BUCKET,
    CURRENT_MODEL_ID,
    CUSTOMIZATION_ROLE,
    Pipeline,
    answers_result,
    custom_model_arn,
    customization_job,
    customization_job_arn,
    dataset_result,
    definition,
    deployment,
    deployment_arn,
    gate_result,
    lambda_error,
    lambda_invocations,
    output_has_path,
    requests_sent,
    stand_in,
    validation_errors,
)

BEDROCK_TASKS = ("CustomizeModel", "CheckCustomization", "DeployCustomModel", "CheckDeployment",
                 "DeleteRefusedDeployment", "DeleteDeploymentAfterError")
_BEDROCK = botocore.session.get_session().get_service_model("bedrock")


@pytest.fixture
def moto_config(moto_config):
    return {**moto_config, "lambda": {"use_docker": False}}


@pytest.fixture
def pipeline(aws):
    return Pipeline(aws)


def bedrock_machine(pipeline: Pipeline, **overrides: str) -> dict[str, Any]:
    return pipeline.machine(**{**BEDROCK_PATH, **overrides})


def stand_ins(machine: dict[str, Any], name: str, *, customization: str = "Completed", deployed: str = "Active",
              failure: str | None = None, delete_fails: bool = False) -> None:
    """Bedrock as the run meets it: the job and the deployment are created, then read with these statuses."""
    job = f"tandem-ft-{name}"
    stand_in(machine, "CustomizeModel", returns={"JobArn": customization_job_arn()})
    stand_in(machine, "CheckCustomization", returns=customization_job(job, status=customization, failure=failure))
    stand_in(machine, "DeployCustomModel", returns={"CustomModelDeploymentArn": deployment_arn()})
    stand_in(machine, "CheckDeployment", returns=deployment(job, status=deployed, failure=failure))
    stand_in(machine, "DeleteRefusedDeployment", returns={})
    if delete_fails:
        stand_in(machine, "DeleteDeploymentAfterError", error="Bedrock.AccessDeniedException", cause="not allowed")
    else:
        stand_in(machine, "DeleteDeploymentAfterError", returns={})


def sent(pipeline: Pipeline, state: str) -> list[dict[str, Any]]:
    """The requests stand-in `state` received, each checked against botocore's model of its operation."""
    found = requests_sent(pipeline.history, state)
    for request in found:
        assert validation_errors(definition(**BEDROCK_PATH)["States"][state]["Resource"], request) == ""
    return found


def matches_pattern(operation: str, member: str, value: str) -> bool:
    """Whether `value` matches the pattern botocore's model gives the member (ParamValidator checks none)."""
    shape = _BEDROCK.operation_model(operation).input_shape.members[member]
    return re.fullmatch(shape.metadata["pattern"], value) is not None


# (a) request and response shapes ------------------------------------------------------------------------

def test_the_paths_read_from_bedrocks_responses_exist_in_its_output_shapes():
    machine = definition(**BEDROCK_PATH)
    reads = {"CustomizeModel": ["$.JobArn"], "CheckCustomization": ["$.Status", "$.OutputModelArn", "$.FailureMessage"],
             "DeployCustomModel": ["$.CustomModelDeploymentArn"], "CheckDeployment": ["$.Status", "$.FailureMessage"]}
    for state, paths in reads.items():
        for path in paths:
            assert output_has_path(machine["States"][state]["Resource"], path), f"{state} reads {path}"
    assert not output_has_path(machine["States"]["CheckDeployment"]["Resource"], "$.status")


def test_the_stand_in_responses_have_bedrocks_shapes():
    machine = definition(**BEDROCK_PATH)
    resource = {state: machine["States"][state]["Resource"] for state in BEDROCK_TASKS}
    assert validation_errors(resource["CustomizeModel"], {"JobArn": customization_job_arn()}, output=True) == ""
    for status in ("InProgress", "Completed", "Failed", "Stopped"):
        assert validation_errors(resource["CheckCustomization"], customization_job("j", status=status),
                                 output=True) == ""
    assert validation_errors(resource["DeployCustomModel"], {"CustomModelDeploymentArn": deployment_arn()},
                             output=True) == ""
    for status in ("Creating", "Active", "Failed"):
        assert validation_errors(resource["CheckDeployment"], deployment("j", status=status), output=True) == ""


def test_the_request_check_catches_a_wrong_field_in_a_bedrock_request():
    resource = definition(**BEDROCK_PATH)["States"]["CustomizeModel"]["Resource"]
    good = {"JobName": "j", "CustomModelName": "m", "RoleArn": CUSTOMIZATION_ROLE, "BaseModelIdentifier": "b",
            "TrainingDataConfig": {"S3Uri": "s3://b/t"}, "OutputDataConfig": {"S3Uri": "s3://b/o/"}}
    assert validation_errors(resource, good) == ""
    assert "Unknown parameter" in validation_errors(resource, {**good, "TrainingDataConfig": {"S3URI": "s3://b/t"}})
    assert "Missing required parameter" in validation_errors(resource, {k: v for k, v in good.items()
                                                                       if k != "CustomModelName"})


# (b) every branch under moto ------------------------------------------------------------------------------

def test_a_passed_custom_model_keeps_its_deployment_and_the_notice_names_the_model_id_to_switch_to(pipeline):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-21")

    described = pipeline.run(machine, "run-21", lambdas=[dataset_result("run-21"), answers_result("run-21"),
                                                         gate_result("run-21")])

    assert described["status"] == "SUCCEEDED"
    entered = [s for s in pipeline.states_entered() if not s.endswith(("Request", "Answer", "Result"))]
    assert entered == ["Configure", "BuildDataset", "ChoosePath", "CustomizeModel", "WaitForCustomization",
                       "CheckCustomization", "CustomizationDone", "RecordCustomModel", "DeployCustomModel",
                       "WaitForDeployment", "CheckDeployment", "DeploymentDone", "AnswerHeldOut", "GateCustomModel",
                       "GateDecided", "ChooseImport", "SummarizeCustomModel", "NotifySuccess", "Done"]
    (create,) = sent(pipeline, "CustomizeModel")
    dataset = f"s3://{BUCKET}/datasets/run-21/"
    assert create == {
        "JobName": "tandem-ft-run-21", "CustomModelName": "tandem-ft-run-21", "ClientRequestToken": "run-21",
        "RoleArn": CUSTOMIZATION_ROLE, "BaseModelIdentifier": BEDROCK_BASE_MODEL, "CustomizationType": "FINE_TUNING",
        "HyperParameters": BEDROCK_HYPERPARAMETERS,
        "TrainingDataConfig": {"S3Uri": f"{dataset}bedrock-conversation/train.jsonl"},
        "ValidationDataConfig": {"Validators": [{"S3Uri": f"{dataset}bedrock-conversation/validation.jsonl"}]},
        "OutputDataConfig": {"S3Uri": f"s3://{BUCKET}/models/tandem-ft-run-21/"},
        "CustomModelTags": [{"Key": "tandem:previous-model-id", "Value": CURRENT_MODEL_ID},
                            {"Key": "tandem:execution", "Value": "run-21"}],
        "JobTags": [{"Key": "project", "Value": "tandem"}]}
    # Names Bedrock constrains beyond botocore's checks: the patterns of its model.
    for operation, member, value in (("CreateModelCustomizationJob", "jobName", create["JobName"]),
                                     ("CreateModelCustomizationJob", "customModelName", create["CustomModelName"]),
                                     ("CreateModelCustomizationJob", "clientRequestToken", create["ClientRequestToken"]),
                                     ("CreateModelCustomizationJob", "baseModelIdentifier", BEDROCK_BASE_MODEL)):
        assert matches_pattern(operation, member, value), (member, value)
    assert sent(pipeline, "CheckCustomization") == [{"JobIdentifier": customization_job_arn()}]
    (deploy,) = sent(pipeline, "DeployCustomModel")
    assert (deploy["ModelDeploymentName"], deploy["ModelArn"], deploy["ClientRequestToken"]) == (
        "tandem-ft-run-21", custom_model_arn(), "run-21")
    assert matches_pattern("CreateCustomModelDeployment", "modelDeploymentName", deploy["ModelDeploymentName"])
    assert matches_pattern("CreateCustomModelDeployment", "modelArn", deploy["ModelArn"])
    assert deploy["Tags"][0] == {"Key": "tandem:previous-model-id", "Value": CURRENT_MODEL_ID}
    assert sent(pipeline, "CheckDeployment") == [{"CustomModelDeploymentIdentifier": deployment_arn()}]
    assert requests_sent(pipeline.history, "DeleteRefusedDeployment") == []

    _, answers, gate = lambda_invocations(pipeline)
    assert answers == {"FunctionName": pipeline.answers, "Payload": {
        "evaluation_id": "run-21", "eval_uri": f"{dataset}eval/", "tuned_model_id": deployment_arn()}}
    # No metrics.json on this path: Bedrock's job records no training checks or import check.
    assert gate == {"FunctionName": pipeline.gate, "Payload": {
        "evaluation_id": "run-21", "answers_uri": f"s3://{BUCKET}/reports/run-21/gate_answers.jsonl"}}
    (notice,) = pipeline.notices()
    assert notice["subject"] == "Tandem fine-tuning succeeded"
    message = notice["message"]
    assert (message["deployment_arn"], message["custom_model_arn"], message["previous_model_id"]) == (
        deployment_arn(), custom_model_arn(), CURRENT_MODEL_ID)
    assert message["gate_report"] == f"s3://{BUCKET}/reports/run-21/report.html"


REFUSALS = [("failed", "GateRefused", ["the tuned model's win rate's lower bound must be above 50.0%"]),
            ("judge_unavailable", "JudgeUnavailable", ["judge unavailable: AccessDeniedException x40"])]


@pytest.mark.parametrize(("outcome", "state", "reasons"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_a_refused_custom_model_loses_its_deployment_and_the_notice_gives_the_reasons(pipeline, outcome, state,
                                                                                     reasons):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-22")

    described = pipeline.run(machine, "run-22", lambdas=[dataset_result("run-22"), answers_result("run-22"),
                                                         gate_result("run-22", outcome, reasons)])

    assert described["status"] == "SUCCEEDED"
    entered = pipeline.states_entered()
    assert entered[entered.index("GateDecided"):] == [
        "GateDecided", state, "WithdrawRefusedModel", "DeleteRefusedDeployment", "DeleteRefusedDeploymentRequest",
        "DeleteRefusedDeploymentAnswer", "DeleteRefusedDeploymentResult", "NotifyNotImported", "NotImported"]
    assert sent(pipeline, "DeleteRefusedDeployment") == [{"CustomModelDeploymentIdentifier": deployment_arn()}]
    (notice,) = pipeline.notices()
    message = notice["message"]
    assert (message["status"], message["gate_outcome"], message["gate_reasons"]) == ("not_imported", outcome, reasons)
    assert message["model_artifacts"] == custom_model_arn()  # kept, and named, for a later look
    assert message["current_model_id"] == CURRENT_MODEL_ID


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_failed_customization_fails_the_run_with_bedrocks_message_and_deploys_nothing(pipeline, status):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-23", customization=status, failure="The training data has 3 records; at least 8 ...")

    described = pipeline.run(machine, "run-23", lambdas=[dataset_result("run-23")])

    assert described["status"] == "FAILED"
    failed = pipeline.execution_failed()
    assert failed["error"] == "ModelCustomizationFailed"
    assert "at least 8" in failed["cause"] and status in failed["cause"]
    assert "DeployCustomModel" not in pipeline.states_entered()
    (notice,) = pipeline.notices()
    assert (notice["subject"], notice["message"]["error"]) == ("Tandem fine-tuning failed", "ModelCustomizationFailed")


def test_a_customization_still_running_after_the_last_check_fails_the_run(pipeline):
    machine = bedrock_machine(pipeline, CustomizationMaxPolls="2")
    stand_ins(machine, "run-24", customization="InProgress")

    described = pipeline.run(machine, "run-24", lambdas=[dataset_result("run-24")])

    assert described["status"] == "FAILED"
    assert pipeline.execution_failed()["error"] == "ModelCustomizationTimedOut"
    assert len(requests_sent(pipeline.history, "CheckCustomization")) == 3  # the first check and two more


@pytest.mark.parametrize(("deployed", "error"), [("Failed", "ModelDeploymentFailed"),
                                                 ("Creating", "ModelDeploymentTimedOut")])
def test_a_deployment_that_never_becomes_active_is_deleted_and_the_run_fails(pipeline, deployed, error):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-25", deployed=deployed, failure="capacity" if deployed == "Failed" else None)

    described = pipeline.run(machine, "run-25", lambdas=[dataset_result("run-25")])

    assert described["status"] == "FAILED"
    assert pipeline.execution_failed()["error"] == error
    assert sent(pipeline, "DeleteDeploymentAfterError") == [{"CustomModelDeploymentIdentifier": deployment_arn()}]
    assert "AnswerHeldOut" not in pipeline.states_entered()


def test_unanswered_questions_delete_the_deployment_and_fail_the_run_with_the_answers_error(pipeline):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-26")
    message = "7 of 40 held-out questions went unanswered (ModelNotReadyException x7)"
    stand_in(machine, "AnswerHeldOut", error="AnswersUnavailable", cause=lambda_error("AnswersUnavailable", message))

    described = pipeline.run(machine, "run-26", lambdas=[dataset_result("run-26")])

    assert described["status"] == "FAILED"
    failed = pipeline.execution_failed()
    assert failed["error"] == "AnswersUnavailable" and message in failed["cause"]
    entered = pipeline.states_entered()
    assert entered[entered.index("WithdrawAfterError"):] == [
        "WithdrawAfterError", "DeleteDeploymentAfterError", "DeleteDeploymentAfterErrorRequest",
        "DeleteDeploymentAfterErrorAnswer", "DeleteDeploymentAfterErrorResult", "RecordFailure", "Failed"]
    assert "GateCustomModel" not in entered


def test_the_run_keeps_the_original_error_when_deleting_the_deployment_fails_too(pipeline):
    machine = bedrock_machine(pipeline)
    stand_ins(machine, "run-27", delete_fails=True)
    stand_in(machine, "AnswerHeldOut", error="AnswersUnavailable", cause=lambda_error("AnswersUnavailable", "x"))

    described = pipeline.run(machine, "run-27", lambdas=[dataset_result("run-27")])

    assert described["status"] == "FAILED"
    assert pipeline.execution_failed()["error"] == "AnswersUnavailable"
    (recorded,) = [json.loads(e["stateEnteredEventDetails"]["input"]) for e in pipeline.history
                   if e.get("stateEnteredEventDetails", {}).get("name") == "RecordFailure"]
    assert recorded["cleanup_error"]["Error"] == "Bedrock.AccessDeniedException"
