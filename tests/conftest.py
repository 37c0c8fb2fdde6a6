"""Test environment: no AWS account, no network. Dummy credentials, no instance-metadata probing."""

import functools
import os

import botocore.session
import pytest

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Tandem",
    "POWERTOOLS_SERVICE_NAME": "tandem-test", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
})


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_loader():
    """moto resets boto3's default session for every test, so every test's clients would parse botocore's
    JSON service models again (most of the Lambda tests' run time). One cached loader shares them."""
    original = botocore.session.create_loader
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(original)
    yield
    botocore.session.create_loader = original
