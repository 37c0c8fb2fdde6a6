"""Where the knowledge-base export of a resolved conversation is written: S3 holds the document and its
metadata file (the knowledge base's data source). Its personal data is masked first through
redaction.PiiMasker; what the document says is decided in actions.py."""

from __future__ import annotations

from typing import Any, Callable


class KnowledgeBucket:
    def __init__(self, bucket: str, client: Callable[[], Any]):
        self.bucket = bucket
        self.client = client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, ContentType=content_type, Body=body)
