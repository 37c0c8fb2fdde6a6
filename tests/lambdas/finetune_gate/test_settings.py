"""The gate's settings contract: its defaults are the documented thresholds, a bad value names its variable,
and what a stack writes with to_env the function reads back."""

from __future__ import annotations

import pytest

from lambdas.common.env_settings import SettingsError
from lambdas.finetune_gate.decision import Thresholds
from lambdas.finetune_gate.settings import DEFAULT_JUDGE_MODEL_ID, GateSettings

REQUIRED = {"REPORT_BUCKET": "tandem-artifacts", "REPORT_PREFIX": "evaluations/"}


def test_the_defaults_are_the_decisions_thresholds_and_the_checked_judge_model():
    settings = GateSettings.from_env(REQUIRED)

    assert settings.thresholds == Thresholds()
    assert settings.judge_model_id == DEFAULT_JUDGE_MODEL_ID
    assert (settings.max_questions, settings.sample_size, settings.judge_concurrency) == (300, 10, 4)


def test_what_a_stack_writes_the_function_reads():
    settings = GateSettings(report_bucket="tandem-artifacts", report_prefix="",
                            judge_model_id="us.amazon.nova-pro-v1:0",
                            min_lower_bound=0.45, min_questions=50, max_failure_share=0.05)

    assert GateSettings.from_env(settings.to_env()) == settings
    assert settings.thresholds == Thresholds(min_lower_bound=0.45, min_questions=50, max_failure_share=0.05)


@pytest.mark.parametrize("variable, value", [
    ("JUDGE_MODEL_ID", "a model with spaces"), ("MIN_WIN_RATE_LOWER_BOUND", "1"), ("MIN_WIN_RATE_LOWER_BOUND", "x"),
    ("MIN_QUESTIONS", "0"), ("MAX_JUDGE_FAILURE_SHARE", "1.1"), ("MAX_QUESTIONS", "5000"),
    ("REPORT_SAMPLE_SIZE", "-1"), ("JUDGE_CONCURRENCY", "0"), ("JUDGE_MAX_ATTEMPTS", "11"),
    ("REPORT_BUCKET", "Not_A_Bucket"), ("REPORT_PREFIX", "no-slash"),
])
def test_a_bad_value_is_refused_naming_its_variable(variable, value):
    with pytest.raises(SettingsError) as error:
        GateSettings.from_env({**REQUIRED, variable: value})
    assert error.value.variable == variable


def test_more_questions_required_than_judged_is_refused():
    with pytest.raises(SettingsError, match="MIN_QUESTIONS must be at most MAX_QUESTIONS"):
        GateSettings.from_env({**REQUIRED, "MIN_QUESTIONS": "40", "MAX_QUESTIONS": "30"})
