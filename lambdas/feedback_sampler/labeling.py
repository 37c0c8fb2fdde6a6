"""The seams between the sampler and Ground Truth: the input manifest it writes to the labeling bucket, and
the labeling job it starts on it (the parameters are the sampler's: sampler.labeling_job_request).

Each sends what it is given; an error is raised as botocore raised it, so the sampler decides what it means
(sampler.py: a job of that name that exists already is an earlier delivery's, anything else fails the run).
"""

from __future__ import annotations

from typing import Any, Callable

MANIFEST_CONTENT_TYPE = "application/jsonlines; charset=utf-8"


class ManifestWriter:
    def __init__(self, bucket: str, client: Callable[[], Any]) -> None:
        self.bucket = bucket
        self.client = client

    def write(self, key: str, body: bytes) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=MANIFEST_CONTENT_TYPE)


class LabelingJobStarter:
    def __init__(self, client: Callable[[], Any]) -> None:
        self.client = client

    def start(self, request: dict[str, Any]) -> str:
        """CreateLabelingJob with `request`; returns the job's ARN."""
        return self.client().create_labeling_job(**request)["LabelingJobArn"]
