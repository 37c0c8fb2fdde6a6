"""local/resources.py: a resource made in moto holds every property its template definition sets.

Each property the translation applies is read back from moto with the service's own describe calls and put
in CloudFormation's shape again, so a property the translation drops, or applies wrongly, shows up as a
difference. The app's own resources are checked, and definitions of the kinds a stack may add (indexes,
provisioned throughput, FIFO queues and topics) that the app does not use yet.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.resources import (
    NAME_PROPERTIES,
    NOT_SIMULATED,
    PSEUDO_PARAMETERS,
    MotoResources,
    UnsupportedProperty,
    check_supported,
)
from local.templates import ROLES, Definition, Templates, synthesized
from testing.moto_aws import REGION

SECRET = "a-test-secret-value-of-forty-characters!"
# Definitions of the kinds the app does not use yet, in a stack of their own.
EXTRA_STACK = "Extra"
EXTRA: dict[str, dict[str, Any]] = {
    "IndexedTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "S"},
                                 {"AttributeName": "owner", "AttributeType": "S"},
                                 {"AttributeName": "created", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2},
        "GlobalSecondaryIndexes": [{
            "IndexName": "by-owner",
            "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"},
                          {"AttributeName": "created", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]},
            "ProvisionedThroughput": {"ReadCapacityUnits": 3, "WriteCapacityUnits": 1}}],
        "LocalSecondaryIndexes": [{
            "IndexName": "by-created",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "created", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        "StreamSpecification": {"StreamViewType": "KEYS_ONLY"},
        "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True}}},
    "FifoQueue": {"Type": "AWS::SQS::Queue", "Properties": {
        "FifoQueue": True, "ContentBasedDeduplication": True, "DelaySeconds": 5, "VisibilityTimeout": 45,
        "ReceiveMessageWaitTimeSeconds": 10, "MaximumMessageSize": 2048,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["FifoDeadLetters", "Arn"]}, "maxReceiveCount": 3}}},
    "FifoDeadLetters": {"Type": "AWS::SQS::Queue", "Properties": {"FifoQueue": True, "MessageRetentionPeriod": 600}},
    "FifoTopic": {"Type": "AWS::SNS::Topic", "Properties": {
        "FifoTopic": True, "ContentBasedDeduplication": True, "DisplayName": "A FIFO topic"}},
}


def extra_templates() -> Templates:
    return Templates({EXTRA_STACK: {"Resources": EXTRA}},
                     {EXTRA_STACK: {f"{logical_id}/Resource": logical_id for logical_id in EXTRA}})


def resource_name(definition: Definition) -> str:
    fifo = definition.properties.get("FifoQueue") or definition.properties.get("FifoTopic")
    return "tandem-test-" + definition.logical_id.lower()[:30] + (".fifo" if fifo else "")


# Reading a resource back from moto, in CloudFormation's shape ---------------------------------------------

def attributes(values: dict[str, str]) -> dict[str, Any]:
    """SQS and SNS attributes as CloudFormation writes them (numbers, booleans and objects, not text)."""
    parsed: dict[str, Any] = {}
    for key, text in values.items():
        try:
            parsed[key] = json.loads(text)
        except json.JSONDecodeError:
            parsed[key] = text
    return parsed


def table_as_template(aws: Any, name: str) -> dict[str, Any]:
    table = aws.ddb.describe_table(TableName=name)["Table"]
    ttl = aws.ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    recovery = aws.ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    billing = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")

    def throughput(described: dict[str, Any]) -> dict[str, int]:
        return {k: described["ProvisionedThroughput"][k] for k in ("ReadCapacityUnits", "WriteCapacityUnits")}

    def index(described: dict[str, Any]) -> dict[str, Any]:
        found = {k: described[k] for k in ("IndexName", "KeySchema", "Projection")}
        if billing == "PROVISIONED" and "ProvisionedThroughput" in described:
            found["ProvisionedThroughput"] = throughput(described)
        return found

    found: dict[str, Any] = {
        "AttributeDefinitions": table["AttributeDefinitions"], "KeySchema": table["KeySchema"], "BillingMode": billing,
        "GlobalSecondaryIndexes": [index(i) for i in table.get("GlobalSecondaryIndexes", [])],
        "LocalSecondaryIndexes": [index(i) for i in table.get("LocalSecondaryIndexes", [])],
        "SSESpecification": {"SSEEnabled": table.get("SSEDescription", {}).get("Status") == "ENABLED"},
        "TimeToLiveSpecification": {"AttributeName": ttl.get("AttributeName"),
                                    "Enabled": ttl["TimeToLiveStatus"] == "ENABLED"},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": recovery[
            "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"},
    }
    if billing == "PROVISIONED":
        found["ProvisionedThroughput"] = throughput(table)
    if table.get("StreamSpecification", {}).get("StreamEnabled"):
        found["StreamSpecification"] = {"StreamViewType": table["StreamSpecification"]["StreamViewType"]}
    return found


def queue_as_template(aws: Any, url: str) -> dict[str, Any]:
    found = attributes(aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])
    if "RedrivePolicy" in found:  # the dead-letter queue, as it was made
        target = found["RedrivePolicy"]["deadLetterTargetArn"]
        found["RedrivePolicy"]["deadLetterTargetArn"] = queue_as_template(
            aws, aws.sqs.get_queue_url(QueueName=target.rsplit(":", 1)[-1])["QueueUrl"])
    return found


def topic_as_template(aws: Any, arn: str) -> dict[str, Any]:
    return attributes(aws.sns.get_topic_attributes(TopicArn=arn)["Attributes"])


def bucket_as_template(aws: Any, name: str) -> dict[str, Any]:
    rules = aws.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    return {
        "VersioningConfiguration": {"Status": aws.s3.get_bucket_versioning(Bucket=name).get("Status", "Suspended")},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": rule["ApplyServerSideEncryptionByDefault"]} for rule in rules]},
        "PublicAccessBlockConfiguration": aws.s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"],
        "OwnershipControls": aws.s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"],
    }


def secret_as_template(aws: Any, arn: str) -> dict[str, Any]:
    assert aws.secrets.get_secret_value(SecretId=arn)["SecretString"] == SECRET
    return {"Description": aws.secrets.describe_secret(SecretId=arn)["Description"]}


AS_TEMPLATE = {"AWS::DynamoDB::Table": table_as_template, "AWS::SQS::Queue": queue_as_template,
               "AWS::SNS::Topic": topic_as_template, "AWS::S3::Bucket": bucket_as_template,
               "AWS::SecretsManager::Secret": secret_as_template}


def expected(templates: Templates, definition: Definition) -> dict[str, Any]:
    """The definition's properties that moto can hold, with Fn::Join and pseudo parameters worked out and a
    referred-to resource replaced by its own expected properties."""

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return {**PSEUDO_PARAMETERS, "AWS::Region": REGION}[value["Ref"]]
        if set(value) == {"Fn::Join"}:
            return value["Fn::Join"][0].join(resolve(value["Fn::Join"][1]))
        if set(value) == {"Fn::GetAtt"}:
            return expected(templates, templates.by_logical_id(definition.stack, value["Fn::GetAtt"][0]))
        return {k: resolve(v) for k, v in value.items()}

    left_out = {NAME_PROPERTIES[definition.type], *NOT_SIMULATED.get(definition.type, {})}
    return {k: resolve(v) for k, v in definition.properties.items() if k not in left_out}


def same_keys(found: Any, want: Any) -> Any:
    """`found` limited to the keys `want` has, at every depth (a described resource has more)."""
    if isinstance(want, dict) and isinstance(found, dict):
        return {k: same_keys(found.get(k), v) for k, v in want.items()}
    if isinstance(want, list) and isinstance(found, list) and len(want) == len(found):
        return [same_keys(f, w) for f, w in zip(found, want, strict=True)]
    return found


def every_definition() -> list[tuple[Templates, Definition]]:
    app, extra = synthesized(), extra_templates()
    return ([(app, app.definition(role)) for role in sorted(ROLES)]
            + [(extra, extra.by_logical_id(EXTRA_STACK, logical_id)) for logical_id in EXTRA])


@pytest.mark.parametrize("index", range(len(ROLES) + len(EXTRA)),
                         ids=[*sorted(ROLES), *(f"extra-{lid}" for lid in EXTRA)])
def test_a_created_resource_holds_every_property_its_definition_sets(aws, index):
    templates, definition = every_definition()[index]
    created = MotoResources(templates, aws.client, REGION).create(definition, resource_name(definition),
                                                                  secret_string=SECRET)

    found = AS_TEMPLATE[definition.type](aws, created.ref)

    want = expected(templates, definition)
    assert same_keys(found, want) == want


def test_the_app_defines_a_resource_for_every_role():
    assert {role: synthesized().definition(role).type for role in ROLES} == {
        "sessions_table": "AWS::DynamoDB::Table", "transcripts_bucket": "AWS::S3::Bucket",
        "knowledge_bucket": "AWS::S3::Bucket", "labeling_bucket": "AWS::S3::Bucket",
        "experts_topic": "AWS::SNS::Topic", "fallback_topic": "AWS::SNS::Topic",
        "link_signing_secret": "AWS::SecretsManager::Secret", "work_queue": "AWS::SQS::Queue",
        "work_dead_letters": "AWS::SQS::Queue", "outbox_failed_batches": "AWS::SQS::Queue",
        "finetune_artifacts_bucket": "AWS::S3::Bucket", "finetune_notices_topic": "AWS::SNS::Topic",
        "connections_table": "AWS::DynamoDB::Table", "ratings_table": "AWS::DynamoDB::Table"}


@pytest.mark.parametrize("type_, properties, problem", [
    ("AWS::DynamoDB::Table", {"KeySchema": [], "ContributorInsightsSpecification": {"Enabled": True}},
     "sets ContributorInsightsSpecification, which local/resources.py does not apply"),
    ("AWS::SQS::Queue", {"VisibilityTimeout": 30, "SomethingNew": 1}, "sets SomethingNew, which"),
    ("AWS::Lambda::Function", {}, "AWS::Lambda::Function is not simulated"),
])
def test_a_property_the_translation_does_not_know_stops_the_test(type_, properties, problem):
    definition = Definition(stack="S", logical_id="X", path="X", type=type_, properties=properties)

    with pytest.raises(UnsupportedProperty, match=problem):
        check_supported(definition)


def test_a_secret_needs_its_value(aws):
    with pytest.raises(ValueError, match="secret_string"):
        aws.create("link_signing_secret", "tandem-link-signing")


def test_an_unknown_role_is_named(aws):
    with pytest.raises(KeyError, match="sessions_table"):
        aws.create("session_table", "tandem-sessions")
