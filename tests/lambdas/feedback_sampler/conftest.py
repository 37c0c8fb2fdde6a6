"""Fixtures for the feedback sampler: moto S3 (transcripts, ratings and labeling buckets, the generated
corpus stored as the chatbot stores it) and botocore Stubbers on Comprehend and SageMaker (moto has no
CreateLabelingJob). A Stubber with nothing queued fails any call it receives, so a test that queues nothing
also proves the service was not called."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest

from lambdas.common.feedback import LabelingItem
from lambdas.feedback_sampler import handler as sampler_handler
from tests.lambdas.feedback_sampler.helpers import NOW, WINDOW_DAYS, Corpus, make_corpus

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
def aws(aws, set_environment, monkeypatch, corpus):
    """The transcripts, ratings and labeling buckets holding the corpus, the manifest-only environment, and
    Comprehend and SageMaker as Stubbers (`aws.comprehend`, `aws.sagemaker`)."""
    for role, bucket in (("transcripts_bucket", TRANSCRIPTS), ("labeling_bucket", RATINGS),
                         ("labeling_bucket", LABELING)):
        aws.create(role, bucket)
    corpus.store(aws.s3, TRANSCRIPTS)
    set_environment({**base_environment(), **dict.fromkeys(job_environment()), "LANGUAGE_CODE": None})
    monkeypatch.setattr(sampler_handler, "_now", lambda: NOW)
    aws.comprehend = aws.stub("comprehend")
    aws.sagemaker = aws.stub("sagemaker")
    return aws


@pytest.fixture
def invoke(invoke) -> Callable[[Any], dict[str, Any]]:
    """Calls the real handler with `event` (a scheduled event or a direct invoke's overrides), built from
    the environment the test set."""

    def call(event: Any) -> dict[str, Any]:
        sampler_handler.dependencies.reset()
        return invoke(event)

    return call


def manifest_keys(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=LABELING, Prefix="manifests/").get("Contents", [])]


def manifest_lines(s3: Any, uri: str) -> list[str]:
    assert uri.startswith(f"s3://{LABELING}/")
    body = s3.get_object(Bucket=LABELING, Key=uri[len(f"s3://{LABELING}/"):])["Body"].read()
    return body.decode("utf-8").splitlines()


def manifest_items(s3: Any, uri: str) -> list[LabelingItem]:
    return [LabelingItem.from_dict(json.loads(line)) for line in manifest_lines(s3, uri)]
