"""Stack fixtures: the real app's stacks synthesized without bundling (no pip, no network)."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from aws_cdk.assertions import Template

from local.cdk_app import tandem_stacks


def stack_template(stack: str = "chatbot", **overrides: Any) -> Template:
    """A stack of the app, as app.py wires it, without cdk-nag (tests/stacks/test_nag_and_lint.py runs it)."""
    return Template.from_stack(tandem_stacks(**overrides)[stack])


@pytest.fixture(scope="session")
def template(make_template) -> Template:
    """ChatbotStack with cdk.json's defaults."""
    return make_template()


@pytest.fixture(scope="session")
def data_template(make_template) -> Template:
    return make_template("data")


@pytest.fixture(scope="session")
def make_template() -> Callable[..., Template]:
    cache: dict[str, Template] = {}

    def make(stack: str = "chatbot", **overrides: Any) -> Template:
        key = json.dumps([stack, overrides], sort_keys=True)
        if key not in cache:
            cache[key] = stack_template(stack, **overrides)
        return cache[key]

    return make


def statements(template: Template) -> list[dict[str, Any]]:
    """Every IAM statement of every policy in the template."""
    found = []
    for policy in template.find_resources("AWS::IAM::Policy").values():
        found.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for role in template.find_resources("AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            found.extend(inline["PolicyDocument"]["Statement"])
    return found


def statement(template: Template, sid: str) -> dict[str, Any]:
    matches = [s for s in statements(template) if s.get("Sid") == sid]
    assert len(matches) == 1, f"expected one statement {sid}, found {len(matches)}"
    return matches[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
