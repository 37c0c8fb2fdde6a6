"""The settings parsers every Lambda shares: a bad variable is named, with what it accepts."""

from __future__ import annotations

import pytest

from lambdas.common.env_settings import SettingsError, Variable, integer

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
