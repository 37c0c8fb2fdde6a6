"""Where rating records live and how they are listed and read: the one place for every reader and writer.

Rating records (lambdas/common/feedback.py RatingRecord, one JSON object per line) are files under the
ratings prefix of the labeling bucket (RATINGS_BUCKET, RATINGS_PREFIX; `DEFAULT_PREFIX` as deployed):
`<prefix><name>.jsonl`, or `<prefix><name>.jsonl.gz` gzip-compressed. Ground Truth's consolidation writes
one file per labeling job; tools/import_ratings.py output is uploaded beside them. Every other key under the
prefix is not a rating file: listed as skipped, never read.

Readers: the feedback sampler and the pre-annotation Lambda (which turns are rated already), the dataset
Lambda (the records themselves). A line is streamed, never the whole file held.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any, Iterator

DEFAULT_PREFIX = "ratings/"
SUFFIXES = (".jsonl", ".jsonl.gz")


def ratings_key(prefix: str, name: str) -> str:
    """The key of a rating file named `name` (a labeling job's name, an import's name)."""
    return f"{prefix}{name}.jsonl"


def is_rating_file(key: str) -> bool:
    return key.endswith(SUFFIXES)


def turn_of(line: bytes | str) -> tuple[str, str] | None:
    """(session_id, turn_id) of a record line; None when the line is not a JSON object with both as strings."""
    try:
        data: Any = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    session_id, turn_id = data.get("session_id"), data.get("turn_id")
    if isinstance(session_id, str) and isinstance(turn_id, str) and session_id and turn_id:
        return session_id, turn_id
    return None


@dataclass
class Listing:
    keys: list[str]  # the rating files, in key order
    skipped: int  # other keys under the prefix (not folders)


class RatingFiles:
    """The rating files of one bucket and prefix, through an S3 client (boto3's, moto's, a Stubber's)."""

    def __init__(self, s3: Any, bucket: str, prefix: str):
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def list(self) -> Listing:
        keys, skipped = [], 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            for entry in page.get("Contents", []):
                key = entry["Key"]
                if is_rating_file(key):
                    keys.append(key)
                elif not key.endswith("/"):
                    skipped += 1
        return Listing(keys=sorted(keys), skipped=skipped)

    def lines(self, key: str) -> Iterator[bytes]:
        """The non-blank lines of one rating file, streamed (decompressed for .gz)."""
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        source = gzip.GzipFile(fileobj=body) if key.endswith(".gz") else body.iter_lines()
        for line in source:
            if line.strip():
                yield line.rstrip(b"\r\n")
