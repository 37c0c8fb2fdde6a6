"""CI never skips the browser tests: without Chromium they fail there, and are skipped only elsewhere."""

from __future__ import annotations

import pytest

from tests.browser.conftest import require_chromium


def test_without_chromium_ci_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("TANDEM_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="make test"):
        require_chromium()


def test_without_chromium_a_workstation_skips(monkeypatch, tmp_path):
    monkeypatch.setenv("TANDEM_CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium is not installed"):
        require_chromium()


def test_a_configured_chromium_is_used(monkeypatch, tmp_path):
    binary = tmp_path / "chromium"
    binary.write_text("")
    monkeypatch.setenv("TANDEM_CHROMIUM", str(binary))
    assert require_chromium() == str(binary)
