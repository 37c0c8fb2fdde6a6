"""Test environment: no AWS account, no network. Dummy credentials, no instance-metadata probing."""

import os

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Tandem",
    "POWERTOOLS_SERVICE_NAME": "tandem-test", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
})
