"""Fixtures for the feedback sampler: moto S3 (transcripts, ratings and labeling buckets, the generated
corpus stored as the chatbot stores it) and botocore Stubbers on Comprehend and SageMaker (moto has no
CreateLabelingJob). A Stubber with nothing queued fails any call it receives, so a test that queues nothing
also proves the service was not called."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, Callable

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.common import clients
from lambdas.common.feedback import LabelingItem
from lambdas.feedback_sampler import handler as sampler_handler
from tests.lambdas.feedback_sampler.helpers import NOW, WINDOW_DAYS, Corpus, make_corpus, sampler_context

TRANSCRIPTS = "tandem-transcripts-sampler"
RATINGS = "tandem-ratings-sampler"
RATINGS_PREFIX = "ratings/"
LABELING = "tandem-labeling-sampler"
ACCOUNT = "123456789012"
WORKTEAM_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/tandem-experts"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/tandem-labeling"
TEMPLATE_URI = f"s3://{LABELING}/templates/relevance.liquid.html"
PRE_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tandem-gt-pre"
POST_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tandem-gt-post"

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def base_environment() -> dict[str, str]:
    """Manifest only, no masking: what most tests need. Tests add the job and the masking variables."""
    return {"TRANSCRIPTS_BUCKET": TRANSCRIPTS, "RATINGS_BUCKET": RATINGS, "RATINGS_PREFIX": RATINGS_PREFIX,
            "LABELING_BUCKET": LABELING, "WINDOW_DAYS": str(WINDOW_DAYS), "BUDGET": "50", "STRATEGY": "random",
            "SEED": "42", "REDACT_PII": "false"}


def job_environment() -> dict[str, str]:
    """The labeling-job variables stacks/feedback_stack.py sets when a workteam exists."""
    return {"WORKTEAM_ARN": WORKTEAM_ARN, "LABEL_ATTRIBUTE_NAME": "relevance", "LABELING_ROLE_ARN": ROLE_ARN,
            "TEMPLATE_S3_URI": TEMPLATE_URI, "PRE_ANNOTATION_LAMBDA_ARN": PRE_ARN,
            "CONSOLIDATION_LAMBDA_ARN": POST_ARN, "WORKERS_PER_OBJECT": "3", "TASK_TIME_LIMIT_SECONDS": "600",
            "TASK_AVAILABILITY_SECONDS": "864000"}


@pytest.fixture(scope="session")
def corpus() -> Corpus:
    return make_corpus()


@pytest.fixture
def aws(monkeypatch, corpus):
    with mock_aws():
        clients.reset()
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (TRANSCRIPTS, RATINGS, LABELING):
            s3.create_bucket(Bucket=bucket)
        corpus.store(s3, TRANSCRIPTS)
        for name, value in base_environment().items():
            monkeypatch.setenv(name, value)
        for name in job_environment():
            monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv("LANGUAGE_CODE", raising=False)
        monkeypatch.setattr(sampler_handler, "_now", lambda: NOW)
        comprehend = Stubber(boto3.client("comprehend", region_name="us-east-1"))
        sagemaker = Stubber(boto3.client("sagemaker", region_name="us-east-1"))
        for stub in (comprehend, sagemaker):
            stub.activate()
        clients.set_client("comprehend", comprehend.client)
        clients.set_client("sagemaker", sagemaker.client)
        yield SimpleNamespace(s3=s3, comprehend=comprehend, sagemaker=sagemaker)
        comprehend.deactivate()
        sagemaker.deactivate()
        clients.reset()


@pytest.fixture
def invoke(aws) -> Callable[[Any], dict[str, Any]]:
    """Calls the real handler with `event` (a scheduled event or a direct invoke's overrides)."""

    def call(event: Any) -> dict[str, Any]:
        sampler_handler.dependencies.reset()  # the settings are read from the environment this test set
        return sampler_handler.handler(event, sampler_context())

    return call


def manifest_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=LABELING, Prefix="manifests/").get("Contents", [])]


def manifest_lines(s3: Any, uri: str) -> list[str]:
    assert uri.startswith(f"s3://{LABELING}/")
    body = s3.get_object(Bucket=LABELING, Key=uri[len(f"s3://{LABELING}/"):])["Body"].read()
    return body.decode("utf-8").splitlines()


def manifest_items(s3: Any, uri: str) -> list[LabelingItem]:
    return [LabelingItem.from_dict(json.loads(line)) for line in manifest_lines(s3, uri)]
