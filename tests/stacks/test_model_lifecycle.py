"""The synth-time table of retired Bedrock models."""

from __future__ import annotations

from datetime import date

from stacks.model_lifecycle import CHECKED, REPLACEMENT, RETIRED, lifecycle_warning


def test_a_model_is_legacy_until_its_end_of_life_date_and_end_of_life_from_it():
    sonnet = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    assert RETIRED[sonnet].state_on(date(2027, 4, 7)) == "Legacy"
    assert RETIRED[sonnet].state_on(date(2027, 4, 8)) == "end-of-life"
    legacy = lifecycle_warning("model_id", f"eu.{sonnet}", date(2026, 12, 1))
    assert legacy and "is Legacy on Amazon Bedrock (end-of-life 2027-04-08)" in legacy
    retired = lifecycle_warning("model_id", f"eu.{sonnet}", date(2027, 5, 1))
    assert retired and "has been end-of-life on Amazon Bedrock since 2027-04-08" in retired


def test_the_warning_names_the_key_the_replacement_and_when_the_table_was_checked():
    warning = lifecycle_warning("gate_model_id", "anthropic.claude-3-5-haiku-20241022-v1:0", date(2026, 11, 30))
    assert warning is not None
    assert warning.startswith("cdk.json 'gate_model_id' = 'anthropic.claude-3-5-haiku-20241022-v1:0'")
    assert f"'{REPLACEMENT}'" in warning and f"checked {CHECKED}" in warning


def test_the_replacement_and_unknown_models_give_no_warning():
    assert lifecycle_warning("model_id", REPLACEMENT, date(2026, 11, 30)) is None
    assert lifecycle_warning("model_id", "arn:aws:bedrock:us-east-1:123456789012:imported-model/x", date(2026, 11, 30)) is None


def test_every_row_has_legacy_before_end_of_life():
    for model_id, retirement in RETIRED.items():
        assert date.fromisoformat(retirement.legacy_since) < date.fromisoformat(retirement.end_of_life), model_id
