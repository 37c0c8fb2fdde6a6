"""The labeling job's rating records: one JSON Lines file, s3://<RATINGS_BUCKET>/<RATINGS_PREFIX><job>.jsonl.

Ground Truth calls the post-annotation Lambda once per batch of objects (a batch is at most
MaxConcurrentTaskCount objects, 1,000 by default, 5,000 at most, and batches follow one another), and may
call it again with the same batch (a retry). Every batch is merged into the one file by read-merge-write:
1. while the payload streams, the batch's records go to a temporary file (/tmp), and only a map
   (session_id, turn_id) -> the line of that key's last record stays in memory;
2. the current file is streamed line by line into a second temporary file, dropping every record whose key
   the batch holds (a retry, or a turn rated again, replaces its earlier record: never a duplicate);
3. the batch's records are appended (the last one per key) and the result is PUT with If-Match on the ETag
   read in 2 (If-None-Match: * when there was no file). A writer that lost a race starts again at 2.
So a retry rewrites byte for byte the same file, and any number of batches land in one file.

Why not one part object per batch plus a compaction: nothing in Ground Truth calls a Lambda when the job
ends, so the compaction would need another trigger (an EventBridge rule on the job's state) before readers
could rely on the one file, and a retried batch whose object set changed would leave two parts to reconcile.
The cost of read-merge-write is that each batch rewrites the job's file: with 100 batches the job's
records cross the network about 50 times in all, a few seconds per batch for a 100,000-object job (~200 MB).
Memory stays O(keys in the batch); /tmp must hold twice the file (the function's ephemeral storage).
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import time
from typing import IO, Any, Iterator

from botocore.exceptions import ClientError

from lambdas.common.feedback import RatingRecord

_CONDITIONAL_PUT_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict")
_WRITE_ATTEMPTS = 5
_jitter = random.SystemRandom()  # OS entropy: restored SnapStart environments would share random's state


class RatingsWriteFailed(RuntimeError):
    """The file changed under every attempt; the invocation fails and Ground Truth retries the batch."""


def record_line(record: RatingRecord) -> bytes:
    return (json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _key_of(line: bytes) -> tuple[str, str] | None:
    try:
        data = json.loads(line)
        return (data["session_id"], data["turn_id"])
    except (ValueError, TypeError, KeyError):
        return None  # not a record of ours: kept as it is, never dropped


def _lines(body: Any, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The lines of an S3 body (each ending with b"\\n"), read chunk by chunk."""
    rest = b""
    for chunk in iter(lambda: body.read(chunk_size), b""):
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest + b"\n"


class RatingsFile:
    """Collects one batch's records (add), then merges them into the job's file (commit)."""

    def __init__(self, *, s3: Any, bucket: str, key: str, spool: IO[bytes] | None = None):
        self.s3, self.bucket, self.key = s3, bucket, key
        self._spool = spool if spool is not None else tempfile.TemporaryFile()
        self._last: dict[tuple[str, str], int] = {}  # key -> index of its last line in the spool
        self._lines = 0

    def __len__(self) -> int:
        return len(self._last)

    def add(self, record: RatingRecord) -> None:
        self._spool.write(record_line(record))
        self._last[(record.session_id, record.turn_id)] = self._lines
        self._lines += 1

    def discard(self) -> None:
        """Drops the batch unwritten (the payload could not be read to its end)."""
        self._spool.close()

    def commit(self) -> int:
        """Merges the batch into the file; returns the number of records the file holds afterwards."""
        try:
            if not self._last:
                return 0
            for _ in range(_WRITE_ATTEMPTS):
                with tempfile.TemporaryFile() as merged:
                    condition, count = self._merge_into(merged)
                    merged.seek(0)
                    try:
                        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=merged,
                                           ContentType="application/x-ndjson", **condition)
                        return count
                    except ClientError as error:
                        if error.response["Error"]["Code"] not in _CONDITIONAL_PUT_CONFLICTS:
                            raise
                time.sleep(_jitter.uniform(0.05, 0.5))
            raise RatingsWriteFailed(f"s3://{self.bucket}/{self.key} changed under each of {_WRITE_ATTEMPTS} "
                                     "attempts")
        finally:
            self._spool.close()

    def _merge_into(self, out: IO[bytes]) -> tuple[dict[str, str], int]:
        count = 0
        try:
            current = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
                raise
            condition = {"IfNoneMatch": "*"}
        else:
            condition = {"IfMatch": current["ETag"]}
            with current["Body"] as body:
                for line in _lines(body):
                    if _key_of(line) not in self._last:
                        out.write(line)
                        count += 1
        self._spool.flush()
        self._spool.seek(0)
        keep = set(self._last.values())
        if len(keep) == self._lines:  # no key twice in the batch: copy the spool as it is
            shutil.copyfileobj(self._spool, out)
        else:
            for index, line in enumerate(self._spool):
                if index in keep:
                    out.write(line)
        return condition, count + len(keep)
