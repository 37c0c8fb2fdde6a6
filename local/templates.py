"""Tandem's AWS resources as the synthesized CloudFormation templates define them, by their role.

A role names one resource of the app ("sessions_table", "work_queue", ...) by its stack and construct path,
so a test asks for what it needs by what it is; `synthesized().definition(role)` gives that resource's
template entry (cdk.json's defaults). The templates come from testing/tandem_app.py, synthesized once per
process.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

_CONSTRUCTS = {  # stack -> role -> construct path below the stack
    "TandemData": {"sessions_table": "Conversations/Sessions", "transcripts_bucket": "Conversations/Transcripts",
                   "knowledge_bucket": "Conversations/Knowledge", "labeling_bucket": "Conversations/Labeling"},
    "TandemEscalation": {"experts_topic": "Experts", "fallback_topic": "Fallback", "work_queue": "Work",
                         "work_dead_letters": "WorkDeadLetters", "link_signing_secret": "LinkSigningKey"},
    "TandemOutbox": {"outbox_failed_batches": "FailedBatches"},
    "TandemFinetune": {"finetune_artifacts_bucket": "Artifacts", "finetune_notices_topic": "Notices"},
}
ROLES: dict[str, tuple[str, str]] = {role: (stack, path) for stack, roles in _CONSTRUCTS.items()
                                     for role, path in roles.items()}


@dataclass(frozen=True)
class Definition:
    """One resource of a synthesized template."""

    stack: str
    logical_id: str
    path: str  # its construct path below the stack
    type: str
    properties: dict[str, Any]


class Templates:
    """The app's synthesized templates, and where each construct path landed in them."""

    def __init__(self, templates: dict[str, dict[str, Any]], logical_ids: dict[str, dict[str, str]]):
        self.templates = templates  # stack name -> template
        self._logical_ids = logical_ids  # stack name -> construct path -> logical id
        self._paths = {stack: {lid: path for path, lid in ids.items()} for stack, ids in logical_ids.items()}

    def definition(self, role: str) -> Definition:
        if role not in ROLES:
            raise KeyError(f"no resource has the role {role!r}: one of {', '.join(sorted(ROLES))}")
        stack, path = ROLES[role]
        logical_id = self._logical_ids[stack].get(f"{path}/Resource")
        if logical_id is None:
            raise KeyError(f"{stack} has no {path} (role {role!r}): update testing/template_resources.py")
        return self.by_logical_id(stack, logical_id)

    def by_logical_id(self, stack: str, logical_id: str) -> Definition:
        resource = self.templates[stack]["Resources"][logical_id]
        path = self._paths[stack][logical_id].removesuffix("/Resource")
        return Definition(stack=stack, logical_id=logical_id, path=path, type=resource["Type"],
                          properties=resource.get("Properties", {}))


@functools.cache
def synthesized() -> Templates:
    """The templates of the app with cdk.json's defaults (synthesized on the first call in a process)."""
    # Imported here: aws_cdk starts a Node.js process on import, which only a test that creates a resource needs.
    from testing.tandem_app import tandem_assembly

    templates, logical_ids = {}, {}
    for artifact in tandem_assembly().stacks:
        templates[artifact.stack_name] = artifact.template
        # The synthesized metadata maps each construct path ("/Stack/Construct/Resource") to its logical id.
        logical_ids[artifact.stack_name] = {
            entry.path.removeprefix(f"/{artifact.stack_name}/"): str(entry.data)
            for entry in artifact.find_metadata_by_type("aws:cdk:logicalId")}
    return Templates(templates, logical_ids)
