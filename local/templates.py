"""Tandem's AWS resources as the synthesized CloudFormation templates define them, by their role.

A role names one resource of the app ("sessions_table", "work_queue", ...) by its stack and construct path,
so a test or the local runtime asks for what it needs by what it is; `synthesized().definition(role)` gives
that resource's template entry (cdk.json's defaults). The templates come from local/cdk_app.py:

- `synthesized(**overrides)`: synthesized once per process (the tests);
- `cached(**overrides)`: the same templates kept under .cache/templates/, keyed by a digest of everything
  synthesis reads (INPUTS, the overrides, the aws-cdk-lib version), so a warm local start skips the ~15 s of
  synthesis (the local runtime). A changed input is a new key: a stale template is never read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from local.cdk_app import ROOT

_CONSTRUCTS = {  # stack -> role -> construct path below the stack
    "TandemData": {"sessions_table": "Conversations/Sessions", "transcripts_bucket": "Conversations/Transcripts",
                   "knowledge_bucket": "Conversations/Knowledge", "labeling_bucket": "Conversations/Labeling"},
    "TandemEscalation": {"experts_topic": "Experts", "fallback_topic": "Fallback", "work_queue": "Work",
                         "work_dead_letters": "WorkDeadLetters", "link_signing_secret": "LinkSigningKey"},
    "TandemOutbox": {"outbox_failed_batches": "FailedBatches"},
    "TandemFinetune": {"finetune_artifacts_bucket": "Artifacts", "finetune_notices_topic": "Notices"},
    "TandemLive": {"connections_table": "Connections"},
    "TandemFeedback": {"ratings_table": "Ratings"},
}
ROLES: dict[str, tuple[str, str]] = {role: (stack, path) for stack, roles in _CONSTRUCTS.items()
                                     for role, path in roles.items()}
# What synthesis reads besides installed packages: the app, its context, the stacks, the definitions, and the
# functions (their settings contracts write the environments; their folders are the assets).
INPUTS = ("app.py", "cdk.json", "stacks", "statemachines", "lambdas", "groundtruth_templates", "training",
          "local/cdk_app.py", "local/templates.py")
CACHE_DIR = ROOT / ".cache" / "templates"
CACHE_KEEP = 8  # the newest files kept: a few sets of overrides, or a few edits back


@dataclass(frozen=True)
class Definition:
    """One resource of a synthesized template."""

    stack: str
    logical_id: str
    path: str  # its construct path below the stack
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class RestApi:
    """A REST API of a template: its stage and its methods' authorization types ("NONE", "COGNITO_USER_POOLS")."""

    stage: str
    methods: dict[tuple[str, str], str]


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
            raise KeyError(f"{stack} has no {path} (role {role!r}): update local/templates.py")
        return self.by_logical_id(stack, logical_id)

    def by_logical_id(self, stack: str, logical_id: str) -> Definition:
        resource = self.templates[stack]["Resources"][logical_id]
        path = self._paths[stack].get(logical_id, logical_id).removesuffix("/Resource")
        return Definition(stack=stack, logical_id=logical_id, path=path, type=resource["Type"],
                          properties=resource.get("Properties", {}))

    def of_type(self, type_: str) -> list[Definition]:
        """Every resource of one CloudFormation type, in stack and logical id order."""
        return [self.by_logical_id(stack, logical_id) for stack, template in sorted(self.templates.items())
                for logical_id, resource in sorted(template["Resources"].items()) if resource["Type"] == type_]

    def function(self, folder: str) -> Definition:
        """The Lambda function whose handler is lambdas/<folder>/handler.py."""
        (found,) = [f for f in self.of_type("AWS::Lambda::Function")
                    if f.properties.get("Handler") == f"lambdas.{folder}.handler.handler"]
        return found

    def event_source(self, folder: str) -> Definition:
        """The event source mapping that invokes lambdas/<folder> (its batch size, response types, ...)."""
        function = self.function(folder)
        (found,) = [m for m in self.of_type("AWS::Lambda::EventSourceMapping")
                    if m.stack == function.stack and m.properties.get("FunctionName") == {"Ref": function.logical_id}]
        return found

    def export(self, name: str) -> tuple[str, Any]:
        """The stack exporting `name` (an Fn::ImportValue) and the value it exports, as its template has it."""
        for stack, template in self.templates.items():
            for output in template.get("Outputs", {}).values():
                if output.get("Export", {}).get("Name") == name:
                    return stack, output["Value"]
        raise KeyError(f"no stack exports {name!r}")

    def rest_api(self, stack: str) -> RestApi:
        """The one REST API of `stack`: its stage, and each method's authorization by (HTTP method, resource
        path), the path as API Gateway writes it ("/chat/{session_id}/messages")."""
        (stage,) = [s.properties["StageName"] for s in self.of_type("AWS::ApiGateway::Stage") if s.stack == stack]
        resources = {r.logical_id: r.properties for r in self.of_type("AWS::ApiGateway::Resource") if r.stack == stack}

        def path(reference: dict[str, Any]) -> str:
            if "Ref" not in reference:  # Fn::GetAtt of the API's root resource
                return ""
            resource = resources[reference["Ref"]]
            return f"{path(resource['ParentId'])}/{resource['PathPart']}"

        # The function's methods: a CORS preflight (a MOCK integration) is API Gateway's own answer.
        methods = {(m.properties["HttpMethod"], path(m.properties["ResourceId"]) or "/"):
                   str(m.properties.get("AuthorizationType", "NONE"))
                   for m in self.of_type("AWS::ApiGateway::Method")
                   if m.stack == stack and m.properties.get("Integration", {}).get("Type") == "AWS_PROXY"}
        return RestApi(stage=str(stage), methods=methods)

    def to_json(self) -> str:
        return json.dumps({"templates": self.templates, "logical_ids": self._logical_ids}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Templates:
        data = json.loads(text)
        return cls(data["templates"], data["logical_ids"])


def synthesized(**overrides: Any) -> Templates:
    """The templates of the app with cdk.json's defaults and `overrides` (synthesized on the first call in a
    process for each set of overrides)."""
    return _synthesized(json.dumps(overrides, sort_keys=True))


@functools.cache
def _synthesized(overrides: str) -> Templates:
    # Imported here: aws_cdk starts a Node.js process on import, which only a caller that synthesizes needs.
    from local.cdk_app import tandem_assembly

    templates, logical_ids = {}, {}
    for artifact in tandem_assembly(**json.loads(overrides)).stacks:
        templates[artifact.stack_name] = artifact.template
        # The synthesized metadata maps each construct path ("/Stack/Construct/Resource") to its logical id.
        logical_ids[artifact.stack_name] = {
            entry.path.removeprefix(f"/{artifact.stack_name}/"): str(entry.data)
            for entry in artifact.find_metadata_by_type("aws:cdk:logicalId")}
    return Templates(templates, logical_ids)


def inputs_digest(overrides: dict[str, Any], *, root: Path = ROOT) -> str:
    """A digest of every file of INPUTS (path and content), the overrides and the aws-cdk-lib version."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"overrides": overrides, "aws-cdk-lib": metadata.version("aws-cdk-lib")},
                             sort_keys=True).encode())
    for name in INPUTS:
        top = root / name
        files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cached(*, cache_dir: Path = CACHE_DIR, **overrides: Any) -> Templates:
    """synthesized(**overrides), read from cache_dir when these inputs were synthesized before (then no
    Node.js process starts), else synthesized and written there."""
    path = cache_dir / f"{inputs_digest(overrides)}.json"
    if path.exists():
        return Templates.from_json(path.read_text())
    templates = synthesized(**overrides)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Written aside, then renamed: a reader never sees half a file, and two writers leave one whole file.
    with tempfile.NamedTemporaryFile("w", dir=cache_dir, suffix=".tmp", delete=False) as partial:
        partial.write(templates.to_json())
    os.replace(partial.name, path)
    for old in sorted(cache_dir.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)[CACHE_KEEP:]:
        old.unlink(missing_ok=True)
    return templates
