"""The AWS services the knowledge-base export of a resolved conversation uses: Comprehend masks its personal
data (through lambdas/common/redaction.py), S3 holds the document and its metadata file (the knowledge base's
data source). What the document says is decided in actions.py."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from lambdas.common import redaction


class PiiMasker:
    def __init__(self, language_code: str):
        self.language_code = language_code

    def mask(self, texts: Sequence[str]) -> list[str]:
        """Each text with its personal data masked, checked in as few Comprehend requests as fit;
        redaction.RedactionFailed (nothing masked) when Comprehend cannot check them."""
        return redaction.redact_texts(texts, self.language_code)


class KnowledgeBucket:
    def __init__(self, bucket: str, client: Callable[[], Any]):
        self.bucket = bucket
        self.client = client

    def put(self, key: str, body: bytes, content_type: str) -> None:
        self.client().put_object(Bucket=self.bucket, Key=key, ContentType=content_type, Body=body)
