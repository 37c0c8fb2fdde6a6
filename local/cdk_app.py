"""Tandem's CDK app as the tests and the local runtime synthesize it: app.py's `create_stacks` with cdk.json's
context (plus overrides), bundling skipped (no pip, no network), cdk-nag left to tests/stacks/test_nag_and_lint.py.

An app costs seconds to synthesize, so each distinct set of overrides is built once per process. aws_cdk is
imported only when an app is built: importing it starts a Node.js process (jsii), which a warm local start
(local/templates.py's cache) never needs.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aws_cdk as cdk
    from aws_cdk import cx_api

ROOT = Path(__file__).resolve().parents[1]
CDK_CONTEXT: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
SKIP_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}


def app_context(**overrides: Any) -> dict[str, Any]:
    return {**CDK_CONTEXT, **overrides, **SKIP_BUNDLING}


def tandem_stacks(**overrides: Any) -> dict[str, cdk.Stack]:
    """The app's stacks by create_stacks' keys ("data", "escalation", ...), built once per set of overrides.
    Callers read them and must not add to them."""
    return _stacks(json.dumps(overrides, sort_keys=True))


@functools.cache
def _stacks(overrides: str) -> dict[str, cdk.Stack]:
    import aws_cdk as cdk

    from app import create_stacks
    from stacks.config import load_config

    context = app_context(**json.loads(overrides))
    return create_stacks(cdk.App(context=context), load_config(context))


def tandem_assembly(**overrides: Any) -> cx_api.CloudAssembly:
    """The synthesized app of tandem_stacks(**overrides): its templates and their metadata."""
    import aws_cdk as cdk

    stage = cdk.Stage.of(next(iter(tandem_stacks(**overrides).values())))
    assert stage is not None  # every stack belongs to the app
    return stage.synth()
