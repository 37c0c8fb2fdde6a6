"""The seam between the sampler and the transcripts bucket (written by lambdas/stream_consumer): the objects
under a key prefix, and the bytes of one. Which prefixes to list, which keys are transcripts and what an
unreadable one means are the sampler's rules (sampler.py); an S3 error is raised as botocore raised it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator


class TranscriptReader:
    def __init__(self, bucket: str, client: Callable[[], Any]) -> None:
        self.bucket = bucket
        self.client = client

    def keys(self, prefix: str) -> Iterator[str]:
        """The keys under `prefix`, every page of the listing, folder markers left out."""
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                if not entry["Key"].endswith("/"):
                    yield entry["Key"]

    def read(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
