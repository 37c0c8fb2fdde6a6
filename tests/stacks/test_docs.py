"""The project's docs stay true to the code: every alarm the stacks create is explained in
docs/OPERATIONS.md, and every doc the code cites is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["data", "escalation", "outbox", "chatbot", "feedback", "finetune"])
def test_every_alarm_is_explained_in_the_operations_guide(make_template, stack):
    operations = (ROOT / "docs" / "OPERATIONS.md").read_text()
    alarms = make_template(stack).find_resources("AWS::CloudWatch::Alarm")
    # Alarms are children of their stack: the logical id is the construct id and an 8-character hash.
    names = {re.sub(r"[0-9A-F]{8}$", "", logical_id) for logical_id in alarms}
    assert [name for name in sorted(names) if f"`{name}`" not in operations] == []


def test_every_document_the_code_cites_exists():
    cited: set[str] = set()
    for folder in ("lambdas", "stacks", "training", "tools", "local", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            cited |= set(re.findall(r"\b(?:docs/)?([A-Z][A-Z_-]+\.md)\b", path.read_text()))
    present = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts and "node_modules" not in p.parts}
    assert cited and cited <= present
