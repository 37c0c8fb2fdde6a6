"""The seam through which the gate reads the files it is given by S3 URI: the answers (JSON Lines, streamed
line by line) and the training job's metrics.json. Errors are raised as botocore raised them (a missing
object is NoSuchKey); what one means is the handler's rule."""

from __future__ import annotations

import json
from typing import Any, Callable, Iterator

from lambdas.common.feedback import split_s3_uri


class MetricsUnreadable(ValueError):
    """metrics.json is not a JSON object."""


class EvaluationFiles:
    def __init__(self, client: Callable[[], Any]):
        self.client = client

    def lines(self, uri: str) -> Iterator[bytes]:
        bucket, key = split_s3_uri(uri)
        body = self.client().get_object(Bucket=bucket, Key=key)["Body"]
        for line in body.iter_lines():
            yield line.rstrip(b"\r")

    def metrics(self, uri: str) -> dict[str, Any]:
        bucket, key = split_s3_uri(uri)
        text = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict):
            raise MetricsUnreadable(f"{uri} is not a JSON object")
        return data
