"""The settings parsers every Lambda shares: a bad variable is named, with what it accepts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from lambdas.common.env_settings import (
    BUCKET,
    EXACT_FLAG,
    FLAG,
    S3_PREFIX,
    SESSIONS_TABLE,
    TEXT,
    EnvSettings,
    SettingsError,
    Variable,
    integer,
    read,
    variable_of,
)

N = Variable("N", integer(1, 100))


def test_an_integer_in_range_is_read():
    assert N.read({"N": " 42 "}) == 42


def test_a_missing_integer_takes_its_default_or_is_required():
    assert N.read({}, default=7) == 7
    assert N.read({"N": ""}, default=7) == 7
    with pytest.raises(SettingsError, match="environment variable N is required"):
        N.read({})


@pytest.mark.parametrize("value", ["0", "101", "-5", "1.5", "ten", "1e3", "99999999999999999999"])
def test_a_bad_integer_names_the_variable_and_the_range(value):
    with pytest.raises(SettingsError, match="environment variable N must be an integer from 1 to 100") as raised:
        N.read({"N": value}, default=7)
    assert raised.value.variable == "N"


# What a blank value means --------------------------------------------------------------------------------------

def test_a_blank_variable_is_missing_only_where_a_default_stands_in():
    assert Variable("P", S3_PREFIX).read({"P": ""}) == ""  # a prefix: the bucket's root
    with pytest.raises(SettingsError, match="environment variable T must be a text that is not blank"):
        Variable("T", TEXT).read({"T": "  "})
    assert Variable("T", TEXT).read({"T": "  "}, default="fallback") == "fallback"


@pytest.mark.parametrize("text, value", [("true", True), ("false", False), (" TRUE ", True), ("False", False)])
def test_a_flag_an_operator_types_is_read_in_any_case(text, value):
    assert Variable("F", FLAG).read({"F": text}) is value


@pytest.mark.parametrize("text", ["True", " true", "false ", "", "yes", "1"])
def test_an_exact_flag_is_only_what_the_stack_writes(text):
    assert Variable("F", EXACT_FLAG).read({"F": "true"}) is True
    with pytest.raises(SettingsError, match="environment variable F must be true or false"):
        Variable("F", EXACT_FLAG).read({"F": text})


# One declaration, read by the function and written by the stack ---------------------------------------------

@dataclass(frozen=True)
class _Group(EnvSettings):
    bucket: str = field(metadata=Variable("GROUP_BUCKET", BUCKET))


@dataclass(frozen=True)
class _Example(EnvSettings):
    table: str = field(metadata=SESSIONS_TABLE)
    switch: bool = field(metadata=Variable("SWITCH", EXACT_FLAG))
    group: _Group | None
    limit: int = field(default=5, metadata=Variable("LIMIT", integer(1, 9)))
    note: str | None = field(default=None, metadata=Variable("NOTE", TEXT))


def test_settings_are_read_from_the_variables_their_fields_declare():
    environ = {"SESSIONS_TABLE": "t", "SWITCH": "false", "LIMIT": "7", "GROUP_BUCKET": "tandem-x"}

    settings = read(_Example, environ, group=_Group.from_env(environ))

    assert settings == _Example(table="t", switch=False, group=_Group(bucket="tandem-x"), limit=7, note=None)
    assert variable_of(_Example, "limit").name == "LIMIT"


def test_the_stack_writes_what_the_function_reads():
    settings = _Example(table="t", switch=True, group=_Group(bucket="tandem-x"), limit=9, note=None)

    environ = settings.to_env()

    assert environ == {"SESSIONS_TABLE": "t", "SWITCH": "true", "GROUP_BUCKET": "tandem-x", "LIMIT": "9"}
    assert read(_Example, environ, group=_Group.from_env(environ)) == settings


def test_a_field_without_a_variable_must_be_given():
    with pytest.raises(TypeError, match="_Example.group declares no variable"):
        _Example.from_env({"SESSIONS_TABLE": "t", "SWITCH": "true"})
