"""local/aws.py: the local AWS holds every resource of the synthesized templates as they define it, both
state machines with their substituted definitions, and gives each handler the variables its stack gives it.
The template cache (local/templates.py) is read on a warm start and never when an input changed."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest

from local import templates as templates_module
from local.aws import FUNCTIONS, STATE_MACHINES_DIR
from local.resources import NOT_SIMULATED
from local.templates import INPUTS, ROLES, Templates, cached, inputs_digest, synthesized
from tests.local.conftest import EXPERT_API_URL
from tests.local.test_resources import AS_TEMPLATE, expected, same_keys

# What only the local runtime sets: Lambda's runtime gives a function these, the stacks do not.
RUNTIME = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
           "AWS_DEFAULT_REGION", "AWS_ACCOUNT_ID_ENDPOINT_MODE", "AWS_EC2_METADATA_DISABLED",
           "POWERTOOLS_TRACE_DISABLED"}


def moto(local_aws: Any) -> SimpleNamespace:
    """The readers of tests/local/test_resources.py take clients by these names."""
    return SimpleNamespace(ddb=local_aws.client("dynamodb"), s3=local_aws.client("s3"), sqs=local_aws.client("sqs"),
                           sns=local_aws.client("sns"), secrets=local_aws.client("secretsmanager"))


@pytest.mark.parametrize("role", sorted(set(ROLES) - {"link_signing_secret"}))
def test_each_resource_holds_what_its_definition_sets(local_aws, role):
    definition = local_aws.templates.definition(role)

    found = AS_TEMPLATE[definition.type](moto(local_aws), local_aws.names[role])

    want = expected(local_aws.templates, definition)
    assert same_keys(found, want) == want


def test_the_table_has_the_deployed_keys_indexes_and_stream(local_aws):
    definition = local_aws.templates.definition("sessions_table").properties
    table = local_aws.client("dynamodb").describe_table(TableName=local_aws.names["sessions_table"])["Table"]

    assert table["KeySchema"] == definition["KeySchema"]
    assert [i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])] == [
        i["IndexName"] for i in definition.get("GlobalSecondaryIndexes", [])]
    assert [i["IndexName"] for i in table.get("LocalSecondaryIndexes", [])] == [
        i["IndexName"] for i in definition.get("LocalSecondaryIndexes", [])]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert table["StreamSpecification"]["StreamViewType"] == definition["StreamSpecification"]["StreamViewType"]


def test_every_bucket_queue_and_topic_is_there(local_aws):
    buckets = {b["Name"] for b in local_aws.client("s3").list_buckets()["Buckets"]}
    queues = set(local_aws.client("sqs").list_queues()["QueueUrls"])
    topics = {t["TopicArn"] for t in local_aws.client("sns").list_topics()["Topics"]}
    kinds = {"AWS::S3::Bucket": buckets, "AWS::SQS::Queue": queues, "AWS::SNS::Topic": topics}

    for role in ROLES:
        kind = local_aws.templates.definition(role).type
        if kind in kinds:
            assert local_aws.names[role] in kinds[kind], role
    assert len(queues) == 3 and len(topics) == 3 and len(buckets) == 4


def test_the_signing_secret_has_the_generated_shape(local_aws):
    definition = local_aws.templates.definition("link_signing_secret").properties
    secrets = local_aws.client("secretsmanager")

    value = secrets.get_secret_value(SecretId=local_aws.names["link_signing_secret"])["SecretString"]

    assert len(value) == definition["GenerateSecretString"]["PasswordLength"] and value.isalnum()
    assert secrets.describe_secret(SecretId=local_aws.names["link_signing_secret"])["Description"] == \
        definition["Description"]
    assert set(NOT_SIMULATED["AWS::SecretsManager::Secret"]) == {"GenerateSecretString"}


def substituted_values(file_text: str, definition: str) -> dict[str, str]:
    """What each ${Placeholder} of the file became in `definition` (the rest of the text must be the file's)."""
    names: list[str] = []
    pattern = ""
    for literal, name in re.findall(r"(.*?)(?:\$\{(\w+)\}|$)", file_text, flags=re.S):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P={name})" if name in names else f"(?P<{name}>.*?)"
            names.append(name)
    match = re.fullmatch(pattern, definition, flags=re.S)
    assert match, "the definition is not the file with its placeholders filled in"
    return match.groupdict()


def test_both_state_machines_run_their_file_with_the_stacks_substitutions(local_aws):
    sfn = local_aws.client("stepfunctions")
    files = sorted(p.name.removesuffix(".asl.json") for p in STATE_MACHINES_DIR.glob("*.asl.json"))
    assert sorted(local_aws.state_machines) == files == ["finetune_pipeline", "human_escalation"]
    config, names, arns = local_aws.config, local_aws.names, local_aws.arns

    described = {key: sfn.describe_state_machine(stateMachineArn=arn) for key, arn in local_aws.state_machines.items()}
    values = {key: substituted_values((STATE_MACHINES_DIR / f"{key}.asl.json").read_text(), d["definition"])
              for key, d in described.items()}

    assert values["human_escalation"] == {
        "SessionsTable": names["sessions_table"], "WorkQueueUrl": names["work_queue"],
        "FallbackTopicArn": arns["fallback_topic"], "AcceptTimeoutSeconds": str(config.accept_timeout_minutes * 60),
        "ExpertReminderSeconds": str(config.expert_reminder_minutes * 60),
        "ResolveTimeoutSeconds": str(config.resolve_timeout_hours * 3600)}
    pipeline = values["finetune_pipeline"]
    substitutions = {d.properties["DefinitionString"]: d.properties["DefinitionSubstitutions"]
                     for d in local_aws.templates.of_type("AWS::StepFunctions::StateMachine")}
    in_template = substitutions[(STATE_MACHINES_DIR / "finetune_pipeline.asl.json").read_text()]
    assert set(pipeline) == set(in_template)
    # Text in the template is used as it is; references are the local resources (or stand-ins for them).
    assert {k: v for k, v in pipeline.items() if isinstance(in_template[k], str)} == {
        k: v for k, v in in_template.items() if isinstance(v, str)}
    assert pipeline["TopicArn"] == arns["finetune_notices_topic"]
    assert pipeline["ModelsS3Uri"] == f"s3://{names['finetune_artifacts_bucket']}/models/"
    assert re.fullmatch(r"arn:aws:lambda:us-east-1:123456789012:function:[\w-]+", pipeline["DatasetFunctionArn"])
    assert re.fullmatch(r"arn:aws:iam::123456789012:role/[\w-]+", pipeline["TrainingRoleArn"])
    assert json.loads(pipeline["HyperParameters"].replace('\\"', '"'))["sagemaker_program"] == "train.py"
    for d in described.values():
        assert d["type"] == "STANDARD" and re.fullmatch(r"arn:aws:iam::123456789012:role/[\w-]+", d["roleArn"])


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_handler_gets_the_variables_its_stack_gives_it(local_aws, function):
    synthesized_environment = local_aws.templates.function(function).properties["Environment"]["Variables"]

    local = local_aws.environment(function, expert_api_url=EXPERT_API_URL)

    assert set(local) - RUNTIME == set(synthesized_environment)
    # A value the stack writes as text (not a reference to a resource) is the same here.
    assert {k: local[k] for k, v in synthesized_environment.items() if isinstance(v, str)} == {
        k: v for k, v in synthesized_environment.items() if isinstance(v, str)}
    assert local["AWS_ENDPOINT_URL"] == local_aws.endpoint_url and local["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"


def test_one_process_runs_every_handler_with_their_common_environment(local_aws):
    environment = local_aws.process_environment(expert_api_url=EXPERT_API_URL)

    for function in FUNCTIONS:
        own = local_aws.environment(function, expert_api_url=EXPERT_API_URL)
        assert {k: environment[k] for k in own if k != "POWERTOOLS_SERVICE_NAME"} == {
            k: v for k, v in own.items() if k != "POWERTOOLS_SERVICE_NAME"}
    assert environment["POWERTOOLS_SERVICE_NAME"] == "tandem-local"
    assert environment["ESCALATION_STATE_MACHINE_ARN"] == local_aws.state_machines["human_escalation"]
    assert environment["EXPERT_API_URL"] == EXPERT_API_URL


# The template cache -------------------------------------------------------------------------------------

def test_a_warm_start_reads_the_templates_the_cold_one_wrote(tmp_path, monkeypatch):
    calls: list[dict[str, Any]] = []

    def synthesize(**overrides: Any) -> Templates:
        calls.append(overrides)
        return synthesized()

    monkeypatch.setattr(templates_module, "synthesized", synthesize)

    cold = cached(cache_dir=tmp_path)
    warm = cached(cache_dir=tmp_path)

    assert calls == [{}]
    assert warm.to_json() == cold.to_json() == synthesized().to_json()
    assert warm.definition("sessions_table") == synthesized().definition("sessions_table")
    cached(cache_dir=tmp_path, sentiment_detector="vader")  # other overrides: another entry
    assert calls == [{}, {"sentiment_detector": "vader"}]


# What synthesis reads whatever INPUTS says: the app, its context, the stacks, the definitions, the functions.
READ_BY_SYNTHESIS = ("app.py", "cdk.json", "stacks", "statemachines", "lambdas")


def test_the_cache_key_changes_with_every_input_and_nothing_else(tmp_path):
    assert set(READ_BY_SYNTHESIS) <= set(INPUTS)
    for name in INPUTS:
        path = tmp_path / name if "." in name else tmp_path / name / "module.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("one")
    before = inputs_digest({}, root=tmp_path)

    (tmp_path / "stacks" / "__pycache__").mkdir()
    (tmp_path / "stacks" / "__pycache__" / "module.cpython-311.pyc").write_bytes(b"compiled")
    (tmp_path / "README.md").write_text("not read by synthesis")
    assert inputs_digest({}, root=tmp_path) == before

    assert inputs_digest({"model_id": "another"}, root=tmp_path) != before
    for name in INPUTS:
        path = tmp_path / name if "." in name else tmp_path / name / "module.py"
        path.write_text("two")
        assert inputs_digest({}, root=tmp_path) != before, name
        path.write_text("one")
    (tmp_path / "lambdas" / "new.py").write_text("")
    assert inputs_digest({}, root=tmp_path) != before
