"""S3 buckets with Tandem's defaults: encrypted, SSL only, no public access, owner-enforced objects."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


def access_log_bucket(scope: Construct, construct_id: str, *, retention_days: int) -> s3.Bucket:
    """Where the other buckets' server access logs go (it does not log itself: that would loop)."""
    bucket = s3.Bucket(
        scope, construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,  # the only encryption S3 log delivery supports
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(retention_days),
                                          abort_incomplete_multipart_upload_after=Duration.days(1))],
        removal_policy=RemovalPolicy.RETAIN,
    )
    return bucket


def secure_bucket(scope: Construct, construct_id: str, *, access_logs: s3.IBucket, log_prefix: str,
                  current_days: int | None, noncurrent_days: int = 30) -> s3.Bucket:
    """Versioned, so an overwrite (a transcript rewritten on every turn) can be undone for `noncurrent_days`.
    `current_days` None keeps current objects (a web site's files) until they are replaced or deleted."""
    return s3.Bucket(
        scope, construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=log_prefix,
        lifecycle_rules=[s3.LifecycleRule(
            expiration=Duration.days(current_days) if current_days is not None else None,
            noncurrent_version_expiration=Duration.days(noncurrent_days),
            abort_incomplete_multipart_upload_after=Duration.days(1),
        )],
        removal_policy=RemovalPolicy.RETAIN,
    )
