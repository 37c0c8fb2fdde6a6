"""Tandem's resources made in moto from their synthesized definitions (local/templates.py), so a test's or the
local runtime's table, queue, topic, bucket, secret or state machine is the one that deploys: the same keys,
stream, TTL, indexes, queue attributes and redrive, topic attributes, workflow definition and substitutions.

Every CloudFormation property of a definition is either applied, through the boto3 call that creates the
resource or the one that sets it afterwards (APPLIED), or listed in NOT_SIMULATED with the reason; a property
neither knows stops the caller that creates the resource, so a property added to a stack is never silently
left out. tests/local/test_resources.py reads every applied property back from moto.

The caller chooses each resource's name (CloudFormation would generate one). A resource a definition refers
to (a queue's dead-letter queue) is created with it, named after both, unless it was created already; a
resource moto does not hold for Tandem (an IAM role, a Lambda function) is referred to by a stand-in name and
ARN (STAND_INS). References across stacks (Fn::ImportValue) follow the exporting stack's output. `create`
returns what the template's `Ref` gives: a table's or bucket's name, a queue's URL, a topic's, secret's or
state machine's ARN.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from local.templates import Definition, Templates

PARTITION = "aws"
ACCOUNT = "123456789012"  # moto's default account
PSEUDO_PARAMETERS = {"AWS::Partition": PARTITION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}

# Physical names: the caller's name replaces them.
NAME_PROPERTIES = {"AWS::DynamoDB::Table": "TableName", "AWS::SQS::Queue": "QueueName",
                   "AWS::SNS::Topic": "TopicName", "AWS::S3::Bucket": "BucketName",
                   "AWS::SecretsManager::Secret": "Name", "AWS::StepFunctions::StateMachine": "StateMachineName"}
# Table properties whose CloudFormation name and shape are CreateTable's.
_TABLE_AS_IS = ("AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput", "GlobalSecondaryIndexes",
                "LocalSecondaryIndexes", "TableClass", "Tags")
# Queue and topic properties that are the queue's or topic's attributes of the same name.
_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy", "FifoQueue", "ContentBasedDeduplication",
                     "DeduplicationScope", "FifoThroughputLimit", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
                     "SqsManagedSseEnabled")
_TOPIC_ATTRIBUTES = ("DisplayName", "KmsMasterKeyId", "FifoTopic", "ContentBasedDeduplication", "SignatureVersion",
                     "TracingConfig", "ArchivePolicy")
APPLIED: dict[str, tuple[str, ...]] = {
    "AWS::DynamoDB::Table": (*_TABLE_AS_IS, "StreamSpecification", "SSESpecification", "TimeToLiveSpecification",
                             "PointInTimeRecoverySpecification"),
    "AWS::SQS::Queue": (*_QUEUE_ATTRIBUTES, "Tags"),
    "AWS::SNS::Topic": (*_TOPIC_ATTRIBUTES, "Tags"),
    "AWS::S3::Bucket": ("VersioningConfiguration", "BucketEncryption", "PublicAccessBlockConfiguration",
                        "OwnershipControls", "Tags"),
    "AWS::SecretsManager::Secret": ("Description", "KmsKeyId", "Tags"),
    "AWS::StepFunctions::StateMachine": ("DefinitionString", "DefinitionSubstitutions", "RoleArn", "StateMachineType",
                                         "Tags"),
}
NOT_SIMULATED: dict[str, dict[str, str]] = {
    "AWS::DynamoDB::Table": {
        "DeletionProtectionEnabled": "it guards DeleteTable, which no Tandem code calls; tests delete the table "
                                     "to take DynamoDB away",
    },
    "AWS::S3::Bucket": {
        "LifecycleConfiguration": "moto never expires objects, so no test could see the rules",
        "LoggingConfiguration": "server access logs go to a bucket the code under test never reads",
    },
    "AWS::SecretsManager::Secret": {
        "GenerateSecretString": "the caller gives the value (secret_string), so a test can sign and verify with it",
    },
    "AWS::StepFunctions::StateMachine": {
        "LoggingConfiguration": "moto writes no execution logs; the execution history is read from Step Functions",
        "TracingConfiguration": "there is no X-Ray locally",
    },
}
# Resources a definition may refer to that moto does not hold for Tandem: what their Ref and Arn stand for.
STAND_INS = {
    "AWS::IAM::Role": "arn:{partition}:iam::{account}:role/{name}",
    "AWS::Lambda::Function": "arn:{partition}:lambda:{region}:{account}:function:{name}",
}


class UnsupportedProperty(Exception):
    """A definition sets a property the translation neither applies nor lists in NOT_SIMULATED."""


@dataclass(frozen=True)
class Created:
    ref: str  # what CloudFormation's Ref gives
    arn: str


class MotoResources:
    """Creates definitions' resources in the current moto backend, through `client(service)`."""

    def __init__(self, templates: Templates, client: Callable[[str], Any], region: str):
        self.templates = templates  # where the resources a definition refers to are found
        self.client = client
        self.region = region
        self._created: dict[tuple[str, str], Created] = {}  # (stack, logical id) -> what was made for it

    def created(self, definition: Definition) -> Created | None:
        """What was made for the definition already (by `create`, or as another one's dependency)."""
        return self._created.get((definition.stack, definition.logical_id))

    def create(self, definition: Definition, name: str, *, secret_string: str | None = None) -> Created:
        check_supported(definition)
        properties = {k: self._resolve(v, definition.stack, name) for k, v in definition.properties.items()
                      if k in APPLIED[definition.type]}
        if definition.type == "AWS::DynamoDB::Table":
            created = self._table(name, properties)
        elif definition.type == "AWS::SQS::Queue":
            created = self._queue(name, properties)
        elif definition.type == "AWS::SNS::Topic":
            created = self._topic(name, properties)
        elif definition.type == "AWS::S3::Bucket":
            created = self._bucket(name, properties)
        elif definition.type == "AWS::StepFunctions::StateMachine":
            created = self._state_machine(name, properties, definition)
        elif secret_string is None:
            raise ValueError(f"{definition.path} is a secret: give its value (secret_string)")
        else:
            created = self._secret(name, properties, secret_string)
        self._created[(definition.stack, definition.logical_id)] = created
        return created

    # Each type ------------------------------------------------------------------------------------------

    def _table(self, name: str, properties: dict[str, Any]) -> Created:
        ddb = self.client("dynamodb")
        request: dict[str, Any] = {k: properties[k] for k in _TABLE_AS_IS if k in properties}
        if "StreamSpecification" in properties:
            request["StreamSpecification"] = {"StreamEnabled": True, **properties["StreamSpecification"]}
        if "SSESpecification" in properties:
            sse = dict(properties["SSESpecification"])
            request["SSESpecification"] = {"Enabled": sse.pop("SSEEnabled"), **sse}
        arn = ddb.create_table(TableName=name, **request)["TableDescription"]["TableArn"]
        if "TimeToLiveSpecification" in properties:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"])
        if "PointInTimeRecoverySpecification" in properties:
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification=properties["PointInTimeRecoverySpecification"])
        return Created(ref=name, arn=arn)

    def _queue(self, name: str, properties: dict[str, Any]) -> Created:
        if properties.get("FifoQueue") and not name.endswith(".fifo"):
            raise ValueError(f"a FIFO queue's name ends in .fifo: {name}")
        attributes = {k: attribute_value(properties[k]) for k in _QUEUE_ATTRIBUTES if k in properties}
        tags = {"tags": {t["Key"]: t["Value"] for t in properties["Tags"]}} if "Tags" in properties else {}
        url = self.client("sqs").create_queue(QueueName=name, Attributes=attributes, **tags)["QueueUrl"]
        return Created(ref=url, arn=f"arn:{PARTITION}:sqs:{self.region}:{ACCOUNT}:{name}")

    def _topic(self, name: str, properties: dict[str, Any]) -> Created:
        if properties.get("FifoTopic") and not name.endswith(".fifo"):
            raise ValueError(f"a FIFO topic's name ends in .fifo: {name}")
        attributes = {k: attribute_value(properties[k]) for k in _TOPIC_ATTRIBUTES if k in properties}
        tags = {"Tags": properties["Tags"]} if "Tags" in properties else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes, **tags)["TopicArn"]
        return Created(ref=arn, arn=arn)

    def _bucket(self, name: str, properties: dict[str, Any]) -> Created:
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"])
        if "BucketEncryption" in properties:
            # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
            rules = [{("Apply" + k if k == "ServerSideEncryptionByDefault" else k): v for k, v in rule.items()}
                     for rule in properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        if "PublicAccessBlockConfiguration" in properties:
            s3.put_public_access_block(Bucket=name,
                                       PublicAccessBlockConfiguration=properties["PublicAccessBlockConfiguration"])
        if "OwnershipControls" in properties:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=properties["OwnershipControls"])
        if "Tags" in properties:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": properties["Tags"]})
        return Created(ref=name, arn=f"arn:{PARTITION}:s3:::{name}")

    def _secret(self, name: str, properties: dict[str, Any], secret_string: str) -> Created:
        arn = self.client("secretsmanager").create_secret(Name=name, SecretString=secret_string, **properties)["ARN"]
        return Created(ref=arn, arn=arn)

    def _state_machine(self, name: str, properties: dict[str, Any], definition: Definition) -> Created:
        text = properties["DefinitionString"]
        if not isinstance(text, str):
            raise UnsupportedProperty(f"{definition.path}: DefinitionString is not plain text")
        # What CloudFormation does with DefinitionSubstitutions: each ${Key} of the map becomes its value.
        for key, value in properties.get("DefinitionSubstitutions", {}).items():
            text = text.replace("${" + key + "}", str(value))
        tags = {"tags": [{"key": t["Key"], "value": t["Value"]} for t in properties["Tags"]]} if "Tags" in properties \
            else {}
        arn = self.client("stepfunctions").create_state_machine(
            name=name, definition=text, roleArn=properties["RoleArn"],
            type=properties.get("StateMachineType", "STANDARD"), **tags)["stateMachineArn"]
        return Created(ref=arn, arn=arn)

    # Intrinsic functions ---------------------------------------------------------------------------------

    def _resolve(self, value: Any, stack: str, name: str) -> Any:
        """The value, as found in `stack`'s template, with Ref, Fn::GetAtt (Arn), Fn::Join, Fn::Sub and
        Fn::ImportValue worked out; a resource referred to is created (or stood in for) first."""
        if isinstance(value, list):
            return [self._resolve(v, stack, name) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return self._reference(stack, value["Ref"], name)
        if set(value) == {"Fn::GetAtt"}:
            logical_id, attribute = value["Fn::GetAtt"]
            if attribute != "Arn":
                raise UnsupportedProperty(f"{stack}: {json.dumps(value)} is not simulated")
            return self._dependency(stack, logical_id, name).arn
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(self._resolve(parts, stack, name))
        if set(value) == {"Fn::Sub"}:
            return self._substitute(value["Fn::Sub"], stack, name)
        if set(value) == {"Fn::ImportValue"}:
            exporter, exported = self.templates.export(self._resolve(value["Fn::ImportValue"], stack, name))
            return self._resolve(exported, exporter, name)
        if any(key.startswith("Fn::") for key in value):
            raise UnsupportedProperty(f"{stack}: {json.dumps(value)} is not simulated")
        return {k: self._resolve(v, stack, name) for k, v in value.items()}

    def _reference(self, stack: str, logical_id: str, name: str) -> str:
        pseudo = {**PSEUDO_PARAMETERS, "AWS::Region": self.region}
        if logical_id in pseudo:
            return pseudo[logical_id]
        return self._dependency(stack, logical_id, name).ref

    def _substitute(self, value: Any, stack: str, name: str) -> str:
        """Fn::Sub: "${Name}" is a Ref (or a pseudo parameter), "${Name.Arn}" an attribute, "${!Name}" itself."""
        text, variables = (value, {}) if isinstance(value, str) else (value[0], value[1])

        def one(match: re.Match[str]) -> str:
            key = match.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(self._resolve(variables[key], stack, name))
            if "." in key:
                logical_id, attribute = key.split(".", 1)
                return str(self._resolve({"Fn::GetAtt": [logical_id, attribute]}, stack, name))
            return self._reference(stack, key, name)

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def _dependency(self, stack: str, logical_id: str, referrer_name: str) -> Created:
        """The resource `logical_id` of `stack`, created once, as `<referrer name>-<its construct path>`."""
        dependency = self.templates.by_logical_id(stack, logical_id)
        found = self.created(dependency)
        if found is not None:
            return found
        base, fifo, _ = referrer_name.partition(".fifo")
        path = "-".join(re.sub(r"(?<!^)(?=[A-Z])", "-", part).lower() for part in dependency.path.split("/"))
        name = f"{base}-{path}{fifo}"
        if dependency.type in STAND_INS:
            arn = STAND_INS[dependency.type].format(partition=PARTITION, region=self.region, account=ACCOUNT, name=name)
            created = Created(ref=name, arn=arn)
            self._created[(stack, logical_id)] = created
            return created
        return self.create(dependency, name)


def check_supported(definition: Definition) -> None:
    """Raises UnsupportedProperty naming each property the translation would leave out unannounced."""
    if definition.type not in APPLIED:
        raise UnsupportedProperty(f"{definition.path}: {definition.type} is not simulated")
    known = {*APPLIED[definition.type], *NOT_SIMULATED.get(definition.type, {}), NAME_PROPERTIES[definition.type]}
    unknown = sorted(set(definition.properties) - known)
    if unknown:
        raise UnsupportedProperty(f"{definition.path} ({definition.type}) sets {', '.join(unknown)}, which "
                                  "local/resources.py does not apply: apply it, or list it in NOT_SIMULATED "
                                  "with the reason")


def attribute_value(value: Any) -> str:
    """A CloudFormation value as SQS and SNS attributes hold it: text, booleans lower case, objects as JSON."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)
