"""testing/ is test support: no code that runs in AWS or in the local runtime imports it, and no asset the
stacks upload holds it.

What ships: each Lambda's bundle (stacks/constructs/python_function.py: lambdas/<name>, lambdas/common and
the function's locked requirements), the training job's archive (stacks/constructs/training_code.py), and the
local runtime (local/: Tandem on one machine, with no AWS account). What the tests and the local runtime
both need lives in local/.
"""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from aws_cdk import aws_lambda as lambda_

from local.cdk_app import ROOT
from stacks.constructs.python_function import LAMBDAS_DIR, PipBundler
from stacks.constructs.training_code import source_files

TEST_PACKAGES = {"testing", "tests"}
FUNCTIONS = sorted(p.parent.name for p in LAMBDAS_DIR.glob("*/handler.py"))


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_no_shipped_module_imports_the_test_support():
    shipped = [*LAMBDAS_DIR.rglob("*.py"), *(ROOT / "training").rglob("*.py"), *(ROOT / "local").rglob("*.py")]

    assert [str(p.relative_to(ROOT)) for p in shipped if imported_packages(p) & TEST_PACKAGES] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_lambda_bundle_holds_its_function_package_only(function, tmp_path, monkeypatch):
    monkeypatch.setattr(subprocess, "run", lambda command, check: None)  # pip: no network in tests
    bundler = PipBundler(LAMBDAS_DIR / function, runtime=lambda_.Runtime.PYTHON_3_14,
                         architecture=lambda_.Architecture.ARM_64)

    bundler.try_bundle(str(tmp_path), image=None)

    assert [p.name for p in tmp_path.iterdir()] == ["lambdas"]
    assert [str(p) for p in tmp_path.rglob("*") if p.name in TEST_PACKAGES] == []


def test_the_training_archive_holds_no_test_support():
    assert [name for name in source_files(ROOT) if name.split("/")[0] in TEST_PACKAGES] == []
