"""The gate Lambda under moto, its judge answered by recorded Converse replies: the answers file and
metrics.json in, the decision out and the report written whichever way it went; a throttled judge retried by
the client and then counted as a failure; logs that name codes, never texts."""

from __future__ import annotations

import json

import pytest

from lambdas.common import clients
from lambdas.common.env_settings import SettingsError
from lambdas.finetune_gate import handler as gate_handler
from lambdas.finetune_gate.evaluation_files import MetricsUnreadable
from lambdas.finetune_gate.handler import JUDGE, InvalidRequest
from tests.lambdas.chatbot.helpers import http_json, script_http, throttled
from tests.lambdas.finetune_gate.conftest import (
    BASE_WINS,
    BOTH_TIE,
    BUCKET,
    EVALUATION_ID,
    POSITION_BIAS,
    REPORT_PREFIX,
    TUNED_WINS,
    answer_line,
    event,
    verdict,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
CHECKS_PASSED = {"passed": True, "failures": []}
METRICS = {"eval": {"margin_before": -0.31, "margin_after": 0.12, "margin_delta": 0.43}, "checks": CHECKS_PASSED}
URI = f"s3://{BUCKET}/{REPORT_PREFIX}{EVALUATION_ID}/"


def answers(aws, count: int) -> None:
    aws.put_answers(*(answer_line(f"s{i}/t1") for i in range(count)))


def replies(aws, *pairs) -> None:
    for pair in pairs:
        for reply in pair:
            aws.judge.add_response("converse", reply)


@pytest.fixture
def no_backoff(monkeypatch):
    """botocore's standard mode sleeps between attempts; the tests need not wait."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)


def test_a_better_tuned_model_passes_and_the_report_is_written(aws, invoke):
    answers(aws, 5)
    aws.put_metrics(METRICS)
    replies(aws, TUNED_WINS, TUNED_WINS, TUNED_WINS, TUNED_WINS, TUNED_WINS)

    result = invoke(event())

    assert (result["passed"], result["outcome"], result["reasons"]) == (True, "passed", [])
    assert result["counts"] == {"questions": 5, "judged": 5, "wins": 5, "losses": 0, "ties": 0, "failures": 0,
                                "failures_by_code": {}, "orders_disagreed": 0}
    assert result["win_rate"]["value"] == 1.0 and result["win_rate"]["ci_low"] == pytest.approx(0.5655, abs=1e-4)
    assert (result["report_uri"], result["report_page_uri"]) == (f"{URI}report.json", f"{URI}report.html")
    assert aws.keys() == [f"{REPORT_PREFIX}{EVALUATION_ID}/report.html", f"{REPORT_PREFIX}{EVALUATION_ID}/report.json"]
    report = aws.report()
    assert report["decision"] == {"passed": True, "outcome": "passed", "reasons": []}
    assert report["margin"] == METRICS["eval"] and report["metrics_checks"] == CHECKS_PASSED
    assert len(report["sample"]) == 4
    assert "Passed: the tuned model may be imported" in aws.page()
    aws.judge.assert_no_pending_responses()


def test_a_model_that_is_not_better_fails_with_its_reason_and_the_report_is_still_written(aws, invoke):
    answers(aws, 5)
    aws.put_metrics(METRICS)
    replies(aws, TUNED_WINS, BASE_WINS, BOTH_TIE, POSITION_BIAS, TUNED_WINS)

    result = invoke(event())

    assert (result["passed"], result["outcome"]) == (False, "failed")
    assert len(result["reasons"]) == 1 and "lower bound must be above 50.0%" in result["reasons"][0]
    counts = result["counts"]
    assert (counts["wins"], counts["losses"], counts["ties"], counts["orders_disagreed"]) == (2, 1, 2, 1)
    assert result["win_rate"]["value"] == (2 + 2 / 2) / 5
    assert aws.report()["decision"]["reasons"][0]["code"] == "not_better"
    assert "Refused (failed): the current model stays" in aws.page()


def test_a_failed_training_check_fails_the_gate_the_judge_would_pass(aws, invoke):
    answers(aws, 5)
    aws.put_metrics({**METRICS, "checks": {"passed": False, "failures": ["held-out margin fell by 0.4"]}})
    replies(aws, *[TUNED_WINS] * 5)

    result = invoke(event())

    assert (result["passed"], result["outcome"]) == (False, "failed")
    assert result["reasons"] == ["training metrics check failed: held-out margin fell by 0.4"]


def test_a_model_import_would_not_load_is_refused_with_the_import_checks_detail(aws, invoke):
    answers(aws, 5)
    problem = {"check": "chat_template", "detail": "tokenizer_config.json has no chat_template",
               "fix": "copy the base model's chat template"}
    aws.put_metrics({**METRICS, "import_check": {"importable": False, "problems": [problem], "warnings": []}})
    replies(aws, *[TUNED_WINS] * 5)

    result = invoke(event())

    assert (result["passed"], result["outcome"]) == (False, "failed")
    assert result["reasons"] == ["Bedrock Custom Model Import would not load the merged model (chat_template): "
                                 "tokenizer_config.json has no chat_template; fix: copy the base model's chat template"]
    assert [r["code"] for r in aws.report()["decision"]["reasons"]] == ["not_importable"]


def test_a_judge_that_fails_every_call_leaves_the_gate_refusing_judge_unavailable(aws, invoke, set_environment,
                                                                                   logs):
    set_environment({"MAX_JUDGE_FAILURE_SHARE": "0.2"})  # 2 of 10 questions may fail: after the third, none is asked
    answers(aws, 10)
    aws.put_metrics(METRICS)
    for _ in range(3):
        aws.judge.add_client_error("converse", service_error_code="AccessDeniedException", http_status_code=403)

    result = invoke(event())

    assert (result["passed"], result["outcome"]) == (False, "judge_unavailable")
    assert result["reasons"] == ["judge unavailable: none of the 10 questions could be judged "
                                 "(AccessDeniedException x3, not_asked x7)"]
    assert result["win_rate"] is None
    assert aws.report()["counts"]["failures"] == 10
    assert "Refused (judge unavailable)" in aws.page()
    failures = logs.entries("judge failure")
    assert [(f["question_id"], f["order"], f["code"]) for f in failures] == [
        (f"s{i}/t1", "base_first", "AccessDeniedException") for i in range(3)]
    aws.judge.assert_no_pending_responses()  # all three errors were asked for, and nothing more


def test_a_throttled_judge_is_retried_by_the_client_then_counted_a_failure(aws, invoke, set_environment, no_backoff):
    set_environment({"JUDGE_MAX_ATTEMPTS": "3", "MIN_QUESTIONS": "1", "MAX_JUDGE_FAILURE_SHARE": "0.5"})
    answers(aws, 2)
    clients.reset()  # the judge's real client with the handler's retry configuration, scripted over HTTP
    gate_handler.dependencies.get()
    ok = [http_json(200, reply) for reply in TUNED_WINS]
    sent = script_http(clients.client("bedrock-runtime", purpose=JUDGE), "Converse",
                       [throttled(), throttled(), throttled(),  # the first question: three attempts, all throttled
                        throttled(), *ok])                      # the second: throttled once, then both orders

    result = invoke(event(metrics_uri=None))

    assert len(sent) == 3 + 2 + 1
    assert result["counts"]["failures_by_code"] == {"ThrottlingException": 1}
    assert (result["counts"]["judged"], result["counts"]["wins"]) == (1, 1)
    assert [r["code"] for r in aws.report()["decision"]["reasons"]] == ["not_better"]  # one win proves little


def test_logs_and_the_result_carry_no_question_answer_or_reply_text(aws, invoke, logs, set_environment):
    set_environment({"MAX_JUDGE_FAILURE_SHARE": "0.5"})
    secret = "my card number is 4111"
    aws.put_answers(answer_line("s0/t1", question=secret, base_answer=secret, tuned_answer=secret),
                    answer_line("s1/t1"))
    aws.put_metrics(METRICS)
    aws.judge.add_response("converse", verdict(2, 5, "B"))
    aws.judge.add_response("converse", {**verdict(5, 2, "A"), "output": {"message": {
        "role": "assistant", "content": [{"text": f"I think {secret}"}]}}})
    replies(aws, TUNED_WINS)

    result = invoke(event())

    assert result["counts"]["failures_by_code"] == {"off_format_reply": 1}
    assert logs.entries("judge failure") and secret not in logs.text and secret not in json.dumps(result)
    assert secret in json.dumps(aws.report()["sample"])  # the report, for people allowed to read it, shows it


def test_unreadable_lines_are_failures_never_wins_and_refuse_the_gate_by_line_and_field(aws, invoke):
    aws.put_answers(*(answer_line(f"s{i}/t1") for i in range(4)), "{not json", answer_line("s5/t1", question=""))
    replies(aws, *[TUNED_WINS] * 4)
    aws.put_metrics(METRICS)

    result = invoke(event())

    assert result["counts"]["failures_by_code"] == {"unreadable_line": 2}
    assert (result["counts"]["wins"], result["outcome"]) == (4, "failed")
    report = aws.report()
    assert [r["code"] for r in report["decision"]["reasons"]] == ["unreadable_answers"]  # else it would pass
    assert report["unreadable_lines"] == [{"line": 5, "problem": "the line is not JSON"},
                                          {"line": 6, "problem": "question must not be blank"}]


def test_metrics_without_checks_is_no_refusal_and_metrics_that_are_not_an_object_stop_the_run(aws, invoke):
    answers(aws, 4)
    aws.put_metrics({"eval": None})
    replies(aws, *[TUNED_WINS] * 4)

    assert invoke(event())["passed"] is True

    aws.put_metrics("[1, 2]")
    with pytest.raises(MetricsUnreadable):
        invoke(event())


@pytest.mark.parametrize("bad", [{"evaluation_id": "../etc"}, {"evaluation_id": None},
                                 {"answers_uri": "https://example.com/a.jsonl"}, {"answers_uri": None},
                                 {"metrics_uri": "s3://"}])
def test_a_bad_request_is_refused_before_any_work(aws, invoke, bad):
    with pytest.raises(InvalidRequest):
        invoke(event(**bad))  # None leaves the field out
    assert aws.keys() == []


def test_a_missing_setting_is_named(aws, invoke, set_environment):
    set_environment({"REPORT_BUCKET": None})

    with pytest.raises(SettingsError, match="REPORT_BUCKET"):
        invoke(event())
