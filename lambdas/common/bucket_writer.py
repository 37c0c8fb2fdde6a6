"""The seam through which a function writes whole objects to one S3 bucket (encrypted by the bucket's
default): the expert API's knowledge-base documents, the dataset step's training files. Errors are raised as
botocore raised them; what one means is the caller's rule."""

from __future__ import annotations

from typing import Any, Callable


class BucketWriter:
    def __init__(self, bucket: str, client: Callable[[], Any]):
        self.bucket = bucket
        self.client = client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, ContentType=content_type, Body=body)
