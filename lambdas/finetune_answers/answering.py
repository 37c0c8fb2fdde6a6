"""The Bedrock path's side of the evaluation gate: the base model and the custom model Bedrock tuned answer the
same held-out questions, and the answers are written in the format the gate reads
(lambdas/finetune_gate/answers.py), as the training job writes them on the SageMaker path.

The questions are the first distinct ones of the dataset's eval split (eval/reward.jsonl: sessions the model
was never trained on), picked by the rule both paths share (lambdas/common/training_data.py
held_out_questions), each with the chatbot's system prompt the rows carry. Each model answers once, by
Converse, at temperature 0, within `max_tokens`: what a customer would be shown, including an answer cut
short or filtered.

A question either model could not answer (an AWS error after the client's retries) is left out of the file
and counted by its error code; it is never written with an empty answer, which the judge would count as a
bad answer of the model that failed. When more questions than the gate's failure share go unanswered the
comparison would describe another set than the held-out one, so `check_failures` refuses the run
(AnswersUnavailable). Nothing here logs or returns a question or an answer: the file holds them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.pipeline_request import execution_name, s3_uri

ANSWERS_FILE = "gate_answers.jsonl"  # the name the training job gives its answers (training/gate_answers.py)
SCHEMA_VERSION = 1  # lambdas/finetune_gate/answers.py
# What CreateCustomModelDeployment returns: the model id Converse takes for a custom model deployed on demand.
DEPLOYMENT_ARN = re.compile(r"arn:aws(?:-[a-z]+)*:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:custom-model-deployment/[a-z0-9]{12}")


class InvalidRequest(ValueError):
    """The event is not what the function takes; the message names the field."""


class AnswersUnavailable(RuntimeError):
    """Too many held-out questions went unanswered for the gate to compare the models; the class name is the
    error name the pipeline records."""


@dataclass(frozen=True)
class AnswersRequest:
    evaluation_id: str
    eval_uri: str  # the dataset's eval/ folder (lambdas/finetune_dataset's eval_uri)
    tuned_model_id: str  # the custom model's on-demand deployment


def parse_request(event: Any) -> AnswersRequest:
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object")
    eval_uri = s3_uri(event, "eval_uri", InvalidRequest)
    if not eval_uri.endswith("/"):
        raise InvalidRequest("eval_uri must be the dataset's eval folder, an s3://bucket/prefix/ URI")
    tuned = event.get("tuned_model_id")
    if not isinstance(tuned, str) or not DEPLOYMENT_ARN.fullmatch(tuned):
        raise InvalidRequest("tuned_model_id must be a custom model deployment's ARN "
                             "(arn:aws:bedrock:<region>:<account>:custom-model-deployment/<id>)")
    return AnswersRequest(evaluation_id=execution_name(event, "evaluation_id", InvalidRequest), eval_uri=eval_uri,
                          tuned_model_id=tuned)


@dataclass(frozen=True)
class HeldOutQuestion:
    question_id: str
    question: str
    system: str | None


def numbered(questions: Sequence[tuple[str, str | None]]) -> list[HeldOutQuestion]:
    """The ids the training job gives the same questions (held-out-0001, ...)."""
    return [HeldOutQuestion(f"held-out-{index:04d}", question, system)
            for index, (question, system) in enumerate(questions, start=1)]


class ConverseAnswerer:
    """One answer of one model to one question, as the chatbot would ask it: the system prompt, the question
    as the user's message, temperature 0."""

    def __init__(self, client: Any, max_tokens: int):
        self.client = client
        self.max_tokens = max_tokens

    def answer(self, model_id: str, question: HeldOutQuestion) -> str:
        request: dict[str, Any] = {
            "modelId": model_id,
            "messages": [{"role": "user", "content": [{"text": question.question}]}],
            "inferenceConfig": {"maxTokens": self.max_tokens, "temperature": 0.0},
        }
        if question.system:
            request["system"] = [{"text": question.system}]
        response = self.client.converse(**request)
        blocks = response.get("output", {}).get("message", {}).get("content", [])
        return "".join(block["text"] for block in blocks if isinstance(block.get("text"), str)).strip()


@dataclass(frozen=True)
class Answered:
    question: HeldOutQuestion
    base_answer: str | None = None
    tuned_answer: str | None = None
    failure: str | None = None  # the error code that left the question unanswered

    def to_line(self) -> dict[str, Any]:
        line = {"schema_version": SCHEMA_VERSION, "question_id": self.question.question_id,
                "question": self.question.question, "base_answer": self.base_answer,
                "tuned_answer": self.tuned_answer}
        if self.question.system:
            line["system"] = self.question.system
        return line


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


def answer_one(answerer: ConverseAnswerer, question: HeldOutQuestion, *, base_model_id: str,
               tuned_model_id: str) -> Answered:
    try:
        base = answerer.answer(base_model_id, question)
        tuned = answerer.answer(tuned_model_id, question)
    except (ClientError, BotoCoreError) as error:
        return Answered(question, failure=_code(error))
    return Answered(question, base_answer=base, tuned_answer=tuned)


def answer_all(answerer: ConverseAnswerer, questions: Sequence[HeldOutQuestion], *, base_model_id: str,
               tuned_model_id: str, concurrency: int) -> list[Answered]:
    """Every question answered by both models, in the questions' order."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        return list(pool.map(lambda q: answer_one(answerer, q, base_model_id=base_model_id,
                                                  tuned_model_id=tuned_model_id), questions))


def failures_by_code(answered: Sequence[Answered]) -> dict[str, int]:
    return dict(Counter(a.failure for a in answered if a.failure is not None))


def check_failures(answered: Sequence[Answered], max_failure_share: float) -> None:
    """AnswersUnavailable when there was nothing to answer or more questions went unanswered than the share
    allows (the gate's own rule for its judge: lambdas/finetune_gate/decision.py)."""
    if not answered:
        raise AnswersUnavailable("the eval split holds no questions to answer")
    failed = sum(1 for a in answered if a.failure is not None)
    if failed > int(max_failure_share * len(answered) + 1e-9):
        codes = ", ".join(f"{code} x{count}" for code, count in sorted(failures_by_code(answered).items()))
        raise AnswersUnavailable(f"{failed} of {len(answered)} held-out questions went unanswered ({codes}), more "
                                 f"than the {max_failure_share:g} share the gate accepts")


def to_jsonl(answered: Sequence[Answered]) -> bytes:
    """The answers file: one line per question both models answered."""
    return "".join(json.dumps(a.to_line(), ensure_ascii=False) + "\n"
                   for a in answered if a.failure is None).encode("utf-8")
