"""The gate's evaluation on the labelled set: the targets it must meet, thresholds that are the measured
ones, and a loader that names what is wrong with a bad file."""

from __future__ import annotations

import json

import pytest

from stacks.config import TandemConfig
from tools.evaluate_gate import (
    DEFAULT_SETS,
    TARGETS,
    EvaluationError,
    Score,
    evaluate,
    load_messages,
    main,
    read_with_vader,
    score_detector,
)

DEFAULTS = TandemConfig()
THRESHOLDS = {d: getattr(DEFAULTS, f"{d}_negative_threshold") for d in ("vader", "comprehend", "llm")}


@pytest.fixture(scope="module")
def messages():
    return load_messages(DEFAULT_SETS)


@pytest.fixture(scope="module")
def results(messages, aws_credentials_for_module):
    return evaluate(messages, THRESHOLDS)


@pytest.fixture(scope="module")
def aws_credentials_for_module():
    """Dummy credentials and region for the stubbed Comprehend and Bedrock clients (no call leaves the
    process: every reply comes from the stand-in or recorded files)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
            patch.setenv(name, value)
        from lambdas.common import clients

        clients.reset()
        yield
        clients.reset()


def test_the_set_has_at_least_300_messages_in_six_languages(messages):
    assert len(messages) >= 300
    assert {m.lang for m in messages} >= {"en", "de", "fr", "es", "pt", "it"}
    assert {m.category for m in messages} >= {"question", "technical_trigger_word", "human_request",
                                              "obfuscated_request", "negated_request", "angry", "sarcasm", "injection"}


@pytest.mark.parametrize("detector", sorted(TARGETS))
def test_the_gate_meets_its_target(results, detector):
    target = TARGETS[detector]
    score = results[detector].score("gate", target.group)
    assert score.recall >= target.min_recall, f"{detector}: recall {score.recall:.3f} on {target.group}"
    assert score.false_rate <= target.max_false_rate, f"{detector}: false escalations {score.false_rate:.3f}"


@pytest.mark.parametrize("detector", ["vader", "comprehend", "llm"])
def test_the_configured_thresholds_are_the_calibrated_ones(results, detector):
    """cdk.json's defaults were measured: a changed set or rule must be followed by a recalibration."""
    assert results[detector].calibrated == THRESHOLDS[detector]


def test_the_report_says_which_replies_it_used(results):
    assert results["vader"].replies == "real"
    assert results["llm"].replies in ("recorded", "stand-in")
    assert results["comprehend"].replies in ("recorded", "stand-in")


def test_a_broken_rule_shows_in_the_numbers(messages, monkeypatch):
    """The evaluation measures the real rules: without the request patterns English recall drops."""
    from lambdas.chatbot.human_request import HumanRequestMatcher

    readings = read_with_vader(messages)
    whole = score_detector("vader", "real", messages, readings, THRESHOLDS["vader"]).score("gate", "en")
    monkeypatch.setattr(HumanRequestMatcher, "find", lambda self, text: None)
    broken = score_detector("vader", "real", messages, readings, THRESHOLDS["vader"]).score("gate", "en")
    assert broken.recall < whole.recall - 0.2


def test_score_arithmetic():
    score = Score()
    for predicted, actual in [(True, True), (True, True), (True, False), (False, True), (False, False), (False, False)]:
        score.add(predicted, actual)
    assert (score.tp, score.fp, score.fn, score.tn) == (2, 1, 1, 2)
    assert score.precision == pytest.approx(2 / 3) and score.recall == pytest.approx(2 / 3)
    assert score.false_rate == pytest.approx(1 / 3)


@pytest.mark.parametrize(("line", "named"), [
    ("not json", "t.jsonl:2: not JSON"),
    ('{"id": "a", "lang": "en", "category": "question", "escalate": "no", "text": "hi"}', "t.jsonl:2: 'escalate'"),
    ('{"id": "a", "lang": "en", "category": "question", "text": "hi"}', "t.jsonl:2: 'escalate'"),
    ('{"id": "x", "lang": "en", "category": "question", "escalate": false, "text": "hi"}', "t.jsonl:2: id 'x'"),
    ('["a"]', "t.jsonl:2: expected an object"),
])
def test_a_bad_line_is_refused_naming_file_line_and_field(tmp_path, line, named):
    path = tmp_path / "t.jsonl"
    first = {"id": "x", "lang": "en", "category": "question", "escalate": False, "text": "hello"}
    path.write_text(json.dumps(first) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(EvaluationError, match=named.replace("'", "'")):
        load_messages([path])


def test_the_command_prints_the_table_and_exits_2_on_a_bad_file(tmp_path, capsys, aws_credentials_for_module):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"id": "a", "lang": "en", "category": "human_request", "escalate": True,
                                "text": "I want a human"}) + "\n", encoding="utf-8")
    assert main(["--messages", str(good), "--detectors", "vader"]) == 0
    assert "| vader (real) | " in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{", encoding="utf-8")
    assert main(["--messages", str(bad), "--detectors", "vader"]) == 2
    assert "bad.jsonl:1: not JSON" in capsys.readouterr().err


def test_recording_writes_what_the_services_answered(tmp_path, aws_credentials_for_module, monkeypatch):
    """--record with the services stubbed: Comprehend's response as it came, the gate model's tool call (or
    its free text, which the evaluation then counts as a gate failure)."""
    from botocore.stub import Stubber

    from lambdas.common import clients
    from testing.bedrock_replies import comprehend_result, converse_text, converse_verdict
    from tools import evaluate_gate

    messages = [evaluate_gate.Message("a", "de", "angry", True, "Das ist eine Frechheit!"),
                evaluate_gate.Message("b", "mixed", "question", False, "Hola, where is my order?")]
    comprehend = clients.client("comprehend")
    runtime = clients.client("bedrock-runtime", purpose="gate")
    with Stubber(comprehend) as c, Stubber(runtime) as r:
        c.add_response("detect_sentiment", comprehend_result("NEGATIVE", negative=0.9, neutral=0.1),
                       expected_params={"Text": "Das ist eine Frechheit!", "LanguageCode": "de"})
        c.add_response("detect_sentiment", comprehend_result("NEUTRAL", neutral=1.0),
                       expected_params={"Text": "Hola, where is my order?", "LanguageCode": "en"})
        r.add_response("converse", converse_verdict("Negative", 90, "rude", asks_for_human=False))
        r.add_response("converse", converse_text("OK"))
        comprehend_file = evaluate_gate.record(messages, "comprehend", tmp_path)
        llm_file = evaluate_gate.record(messages, "llm", tmp_path, model_id="global.anthropic.claude-haiku-4-5-20251001-v1:0")
    rows = [json.loads(line) for line in comprehend_file.read_text().splitlines()]
    assert [(row["id"], row["LanguageCode"], row["response"]["Sentiment"]) for row in rows] == [
        ("a", "de", "NEGATIVE"), ("b", "en", "NEUTRAL")]
    replies = [json.loads(line)["reply"] for line in llm_file.read_text().splitlines()]
    assert replies == [{"tool": {"label": "Negative", "score": 90, "asks_for_human": False, "reason": "rude"}},
                       {"text": "OK"}]
    kind, _ = evaluate_gate._replies("llm", messages, tmp_path)
    assert kind == "recorded"  # preferred to the stand-ins from now on
