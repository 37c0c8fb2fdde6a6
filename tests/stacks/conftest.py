"""Stack fixtures: the real app's stacks synthesized without bundling (no pip, no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from stacks.chatbot_stack import ChatbotStack
from stacks.config import load_config
from stacks.data_stack import DataStack
from stacks.escalation_stack import EscalationStack
from stacks.feedback_stack import FeedbackStack
from stacks.finetune_stack import FinetuneStack

ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
SKIP_BUNDLING = {"aws:cdk:bundling-stacks": []}


def app_context(**overrides: Any) -> dict[str, Any]:
    return {**CDK_CONTEXT, **overrides, **SKIP_BUNDLING}


def build_stacks(**overrides: Any) -> dict[str, cdk.Stack]:
    """The app's stacks, as app.py wires them, without cdk-nag (tests/stacks/test_nag_and_lint.py runs it)."""
    context = app_context(**overrides)
    app = cdk.App(context=context)
    config = load_config(context)
    data = DataStack(app, "TandemData", config=config)
    escalation = EscalationStack(app, "TandemEscalation", config=config, store=data.store,
                                 alarm_topic=data.alarm_topic)
    chatbot = ChatbotStack(app, "TandemChatbot", config=config, store=data.store, escalation=escalation.state_machine,
                           alarm_topic=data.alarm_topic)
    feedback = FeedbackStack(app, "TandemFeedback", config=config, store=data.store)
    finetune = FinetuneStack(app, "TandemFinetune", config=config, store=data.store)
    return {"data": data, "escalation": escalation, "chatbot": chatbot, "feedback": feedback, "finetune": finetune}


def stack_template(stack: str = "chatbot", **overrides: Any) -> Template:
    return Template.from_stack(build_stacks(**overrides)[stack])


@pytest.fixture(scope="session")
def template() -> Template:
    """ChatbotStack with cdk.json's defaults."""
    return stack_template()


@pytest.fixture(scope="session")
def data_template() -> Template:
    return stack_template("data")


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
