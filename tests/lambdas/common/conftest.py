"""Fixtures for the shared Lambda code: a SessionStore over moto's DynamoDB and S3."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from lambdas.common import clients
from lambdas.common.session_store import SessionStore
from tests.aws_resources import create_sessions_table

TABLE = "tandem-sessions-unit"
BUCKET = "tandem-transcripts-unit"


@pytest.fixture
def aws():
    with mock_aws():
        clients.reset()
        ddb = boto3.client("dynamodb")
        create_sessions_table(ddb, TABLE)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        yield SimpleNamespace(ddb=ddb, s3=s3)
        clients.reset()


@pytest.fixture
def store(aws) -> SessionStore:
    return SessionStore(table_name=TABLE, ttl_days=30)
