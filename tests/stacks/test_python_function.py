"""The Docker-free Python function construct: pip flags for the Lambda platform, the bundle's layout."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from stacks.config import LOG_RETENTION_DAYS
from stacks.constructs.python_function import LAMBDAS_DIR, PipBundler, function_code, retention


@pytest.fixture
def bundler() -> PipBundler:
    return PipBundler(LAMBDAS_DIR / "chatbot", runtime=lambda_.Runtime.PYTHON_3_14,
                      architecture=lambda_.Architecture.ARM_64)


def test_pip_installs_the_lock_for_the_lambda_platform(bundler):
    command = bundler.pip_command("/out")
    joined = " ".join(command)
    assert "--python-version 3.14" in joined
    assert "--only-binary=:all:" in command and "--no-deps" in command
    assert "--platform manylinux2014_aarch64" in joined and "--platform manylinux_2_28_aarch64" in joined
    assert command[-1].endswith("lambdas/chatbot/requirements.lock")
    assert "x86_64" not in joined


def test_x86_bundles_get_x86_wheels():
    command = PipBundler(LAMBDAS_DIR / "chatbot", runtime=lambda_.Runtime.PYTHON_3_13,
                         architecture=lambda_.Architecture.X86_64).pip_command("/out")
    assert "manylinux2014_x86_64" in command and "3.13" in command


def test_bundle_holds_the_function_and_common_code(bundler, tmp_path, monkeypatch):
    calls = []

    def fake_pip(command, check):  # no network in tests: stand in for pip and leave a package behind
        calls.append(command)
        (Path(command[command.index("--target") + 1]) / "somepkg" / "tests").mkdir(parents=True)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    assert bundler.try_bundle(str(tmp_path), image=None) is True
    assert len(calls) == 1
    assert (tmp_path / "lambdas" / "__init__.py").is_file()
    assert (tmp_path / "lambdas" / "chatbot" / "handler.py").is_file()
    assert (tmp_path / "lambdas" / "common" / "session_store.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))
    assert not (tmp_path / "somepkg" / "tests").exists()  # test folders of packages are pruned


def test_every_requirement_pin_is_in_the_lock():
    function_dir = LAMBDAS_DIR / "chatbot"
    lock = {line.split("==")[0].lower().replace("_", "-"): line.split("==")[1]
            for line in (function_dir / "requirements.lock").read_text().splitlines()
            if line and not line.startswith("#")}
    for line in (function_dir / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            name = name.split("[")[0].lower().replace("_", "-")
            assert lock.get(name) == version, f"{name} {version} is not locked; run tools/lock_lambda_requirements.py"


def test_a_function_without_a_lock_is_refused():
    with pytest.raises(ValueError, match="lacks"):
        function_code("no_such_function")


def test_retention_maps_every_accepted_day_count_to_itself():
    stack = cdk.Stack(cdk.App())
    for days in LOG_RETENTION_DAYS:
        logs.LogGroup(stack, f"Group{days}", retention=retention(days))
    groups = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup").values()
    assert sorted(g["Properties"]["RetentionInDays"] for g in groups) == sorted(LOG_RETENTION_DAYS)
