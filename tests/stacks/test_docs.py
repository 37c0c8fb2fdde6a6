"""The project's docs stay true to the code: every alarm the stacks create is explained in
docs/OPERATIONS.md, and every doc the code cites is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", ["data", "escalation", "outbox", "chatbot", "live", "feedback", "finetune"])
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


def _feature_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "README.md").read_text()
    table = text.split("## Where each feature lives", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| Feature")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_every_path_in_the_feature_map_exists():
    cited = {path for row in _feature_rows() for path in re.findall(r"`([\w./-]+/[\w./-]*|[\w-]+\.md)`", "|".join(row))}
    assert len(cited) > 30
    assert sorted(path for path in cited if not (ROOT / path).exists()) == []


def test_every_function_and_stack_is_in_the_feature_map():
    code = " ".join(row[1] + " " + row[2] for row in _feature_rows())
    functions = sorted(p.name for p in (ROOT / "lambdas").iterdir() if (p / "handler.py").exists())
    stacks = sorted(p.name for p in (ROOT / "stacks").glob("*_stack.py"))
    workflows = sorted(p.name for p in (ROOT / "statemachines").glob("*.asl.json"))
    assert functions and stacks and workflows
    missing = [name for name in functions if f"lambdas/{name}/" not in code]
    missing += [name for name in stacks if f"stacks/{name}" not in code]
    missing += [name for name in workflows if f"statemachines/{name}" not in code]
    assert missing == []


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_section_the_docs_link_to_is_a_heading():
    links = set()
    for page in (ROOT / "docs").glob("*.md"):
        links |= set(re.findall(r"\]\(([\w-]+\.md)#([\w-]+)\)", page.read_text()))
    assert links
    anchors = {page: {_anchor(h) for h in re.findall(r"^#+ (.+)$", (ROOT / "docs" / page).read_text(), re.M)}
               for page, _ in links if (ROOT / "docs" / page).exists()}
    assert sorted(f"{page}#{anchor}" for page, anchor in links if anchor not in anchors.get(page, set())) == []
