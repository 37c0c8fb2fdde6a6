"""DataStack: the sessions table and the buckets, their protection and lifecycle."""

from __future__ import annotations

from aws_cdk.assertions import Match


def test_sessions_table_has_keys_pitr_ttl_and_protection(data_template):
    template = data_template
    template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "session_id", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "BillingMode": "PAY_PER_REQUEST",
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
        "SSESpecification": {"SSEEnabled": True},
        "DeletionProtectionEnabled": True,
        # The outbox reads the stream: new and old images, so a change says what it changed.
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
    })


def test_open_escalations_are_one_query_of_a_sparse_index_by_status_that_holds_no_token(data_template):
    data_template.has_resource_properties("AWS::DynamoDB::Table", {
        "GlobalSecondaryIndexes": [{
            "IndexName": "escalations_by_status",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "requested_at", "KeyType": "RANGE"}],
            # The record and who accepted it: never the task tokens the item also holds.
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["body", "accepted_by", "accepted_at"]},
        }],
        "AttributeDefinitions": Match.array_with([{"AttributeName": "status", "AttributeType": "S"},
                                                  {"AttributeName": "requested_at", "AttributeType": "S"}]),
    })


def test_transcripts_bucket_is_encrypted_private_versioned_and_expiring(make_template):
    template = make_template("data", transcript_retention_days=200)
    template.has_resource_properties("AWS::S3::Bucket", {
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "VersioningConfiguration": {"Status": "Enabled"},
        "LoggingConfiguration": Match.object_like({"LogFilePrefix": "transcripts/"}),
        "LifecycleConfiguration": {"Rules": [Match.object_like({
            "ExpirationInDays": 200, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}, "Status": "Enabled"})]},
    })


def test_every_bucket_denies_plain_http(data_template):
    template = data_template
    buckets = template.find_resources("AWS::S3::Bucket")
    policies = template.find_resources("AWS::S3::BucketPolicy").values()
    secured = set()
    for policy in policies:
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            if stmt["Effect"] == "Deny" and stmt.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                secured.add(policy["Properties"]["Bucket"]["Ref"])
    assert secured == set(buckets)


def test_other_stacks_read_the_store_through_named_exports(data_template):
    outputs = data_template.to_json()["Outputs"]
    exported = {o["Export"]["Name"] for o in outputs.values() if "Export" in o}
    assert {"TandemData-SessionsTableName", "TandemData-SessionsTableArn",
            "TandemData-TranscriptsBucketName", "TandemData-TranscriptsBucketArn"} <= exported


def test_api_gateway_can_log_before_any_api_deploys(data_template, make_template):
    # Stage execution logging fails to deploy in an account without this role; DataStack deploys first.
    data_template.resource_count_is("AWS::ApiGateway::Account", 1)
    for stack in ("chatbot", "escalation"):
        make_template(stack).resource_count_is("AWS::ApiGateway::Account", 0)
