"""The answers function under moto, its Converse calls answered by Stubber: the held-out questions of the eval
split asked of the base model and the custom model's deployment as the chatbot asks them, the file written in
the format the gate reads (checked with the gate's own reader), unanswered questions left out and counted, too
many of them refused, a custom model that is still loading retried by the client."""

from __future__ import annotations

import pytest
from botocore.stub import ANY

from lambdas.common import clients
from lambdas.common.training_data import DatasetError
from lambdas.finetune_answers import handler as answers_handler
from lambdas.finetune_answers.handler import ANSWERING, AnswersUnavailable, InvalidRequest
from lambdas.finetune_gate.answers import Question, read_questions
from testing.bedrock_replies import converse_text
from tests.lambdas.chatbot.helpers import http_json, script_http
from tests.lambdas.finetune_answers.conftest import (
    BASE_MODEL_ID,
    BUCKET,
    DEPLOYMENT,
    EVALUATION_ID,
    SYSTEM,
    event,
    reward_row,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def expect(aws, model_id: str, question: str, answer: str) -> None:
    aws.bedrock.add_response("converse", converse_text(answer), {
        "modelId": model_id, "messages": [{"role": "user", "content": [{"text": question}]}],
        "system": [{"text": SYSTEM}], "inferenceConfig": {"maxTokens": 300, "temperature": 0.0}})


def test_both_models_answer_each_distinct_held_out_question_and_the_gate_can_read_the_file(aws, invoke):
    aws.put_eval(reward_row(1, "How do I reset my password?", 5), reward_row(1, "How do I reset my password?", 1),
                 reward_row(2, "Where is my invoice?", 4))
    expect(aws, BASE_MODEL_ID, "How do I reset my password?", "Call us.")
    expect(aws, DEPLOYMENT, "How do I reset my password?", "Open Settings, then Security.")
    expect(aws, BASE_MODEL_ID, "Where is my invoice?", "No idea.")
    expect(aws, DEPLOYMENT, "Where is my invoice?", "Under Billing, Invoices.")

    result = invoke(event())

    assert result == {"evaluation_id": EVALUATION_ID,
                      "answers_uri": f"s3://{BUCKET}/reports/{EVALUATION_ID}/gate_answers.jsonl",
                      "questions": 2, "answered": 2, "failures_by_code": {}}
    assert read_questions(aws.answers_file()) == [
        Question("held-out-0001", "How do I reset my password?", "Call us.", "Open Settings, then Security.", SYSTEM),
        Question("held-out-0002", "Where is my invoice?", "No idea.", "Under Billing, Invoices.", SYSTEM)]
    aws.bedrock.assert_no_pending_responses()


def test_an_unanswered_question_is_left_out_and_counted_never_written_with_an_empty_answer(aws, invoke,
                                                                                         set_environment):
    set_environment({"MAX_FAILURE_SHARE": "0.5"})
    aws.put_eval(reward_row(1, "Q one?"), reward_row(2, "Q two?"))
    expect(aws, BASE_MODEL_ID, "Q one?", "base one")
    aws.bedrock.add_client_error("converse", service_error_code="AccessDeniedException", http_status_code=403,
                                 expected_params={"modelId": DEPLOYMENT, "messages": ANY, "system": ANY,
                                                  "inferenceConfig": ANY})
    expect(aws, BASE_MODEL_ID, "Q two?", "base two")
    expect(aws, DEPLOYMENT, "Q two?", "tuned two")

    result = invoke(event())

    assert (result["questions"], result["answered"], result["failures_by_code"]) == (
        2, 1, {"AccessDeniedException": 1})
    (only,) = read_questions(aws.answers_file())
    assert (only.question_id, only.tuned_answer) == ("held-out-0002", "tuned two")


def test_more_unanswered_questions_than_the_gate_accepts_refuse_the_run_and_write_nothing(aws, invoke):
    aws.put_eval(*(reward_row(i, f"Q {i}?") for i in range(3)))
    for _ in range(3):
        aws.bedrock.add_client_error("converse", service_error_code="ValidationException", http_status_code=400)

    with pytest.raises(AnswersUnavailable, match=r"3 of 3 held-out questions went unanswered \(ValidationException x3\)"):
        invoke(event())
    assert aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/").get("KeyCount") == 0


def test_a_custom_model_that_is_still_loading_is_retried_by_the_client(aws, invoke, set_environment, monkeypatch):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    aws.put_eval(reward_row(1, "Q one?"))
    clients.reset()  # the handler's real client with its retry configuration, scripted over HTTP
    answers_handler.dependencies.get()
    not_ready = http_json(429, {"message": "Model is not ready for inference."}, "ModelNotReadyException")
    sent = script_http(clients.client("bedrock-runtime", purpose=ANSWERING), "Converse",
                       [http_json(200, converse_text("base")), not_ready, not_ready,
                        http_json(200, converse_text("tuned"))])

    result = invoke(event())

    assert len(sent) == 4 and result["answered"] == 1
    assert [q.tuned_answer for q in read_questions(aws.answers_file())] == ["tuned"]


def test_at_most_max_questions_are_answered(aws, invoke, set_environment):
    set_environment({"MAX_QUESTIONS": "1"})
    aws.put_eval(reward_row(1, "Q one?"), reward_row(2, "Q two?"))
    expect(aws, BASE_MODEL_ID, "Q one?", "b")
    expect(aws, DEPLOYMENT, "Q one?", "t")

    assert invoke(event())["questions"] == 1
    aws.bedrock.assert_no_pending_responses()


@pytest.mark.parametrize(("change", "field"), [
    ({"evaluation_id": "../x"}, "evaluation_id"),
    ({"eval_uri": "s3://bucket/datasets/run/eval/reward.jsonl"}, "eval_uri"),
    ({"tuned_model_id": "amazon.nova-micro-v1:0"}, "tuned_model_id"),
    ({"tuned_model_id": None}, "tuned_model_id"),
])
def test_a_bad_request_is_refused_naming_the_field(aws, invoke, change, field):
    with pytest.raises(InvalidRequest, match=field):
        invoke(event(**change))


def test_an_eval_file_that_is_not_the_datasets_is_refused_naming_the_line(aws, invoke):
    aws.s3.put_object(Bucket=BUCKET, Key="datasets/run-31/eval/reward.jsonl", Body=b'{"prompt": "q"}\n')
    with pytest.raises(DatasetError, match=r"reward.jsonl:1: response"):
        invoke(event())


def test_logs_and_the_result_carry_no_question_or_answer(aws, invoke, logs):
    secret = "my card number is 4111"
    aws.put_eval(reward_row(1, secret))
    expect(aws, BASE_MODEL_ID, secret, secret)
    expect(aws, DEPLOYMENT, secret, secret)

    result = invoke(event())

    assert secret not in str(result) and secret not in logs.text
    assert logs.entries("held-out questions answered")[0]["questions"] == 1
