"""The annotation-consolidation request Ground Truth sends (AWS-CONTRACTS.md), parsed and checked.

A request that breaks the contract cannot be answered object by object (there is no payload to read), so
it is an error naming the field and the invocation fails; everything inside the payload is handled per
object (consolidation.py). `labelCategories`, `roleArn`, `outputConfig` and `kmsKeyId` are not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdas.common.feedback import split_s3_uri

# CreateLabelingJob's LabelingJobName pattern; the name becomes the ratings file's S3 key.
_JOB_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:labeling-job/"
                      r"(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})$")
MAX_LABEL_ATTRIBUTE_CHARS = 127


class RequestError(ValueError):
    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name}: {problem}")
        self.field = field_name


@dataclass(frozen=True)
class ConsolidationRequest:
    labeling_job_arn: str
    job_name: str
    label_attribute_name: str
    payload_bucket: str
    payload_key: str

    @classmethod
    def from_event(cls, event: Any) -> "ConsolidationRequest":
        if not isinstance(event, dict):
            raise RequestError("event", "must be a JSON object")
        arn = event.get("labelingJobArn")
        match = _JOB_ARN.fullmatch(arn) if isinstance(arn, str) else None
        if not isinstance(arn, str) or not match:
            raise RequestError("labelingJobArn", "must be a SageMaker labeling-job ARN")
        label = event.get("labelAttributeName")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_ATTRIBUTE_CHARS:
            raise RequestError("labelAttributeName", f"must be a string of 1-{MAX_LABEL_ATTRIBUTE_CHARS} characters")
        payload = event.get("payload")
        try:
            bucket, key = split_s3_uri(payload.get("s3Uri") if isinstance(payload, dict) else None)
        except ValueError:
            raise RequestError("payload.s3Uri", "must be an s3://bucket/key URI") from None
        return cls(labeling_job_arn=arn, job_name=match["name"], label_attribute_name=label,
                   payload_bucket=bucket, payload_key=key)
