"""What the pre-annotation Lambda reads from S3: the labeling item behind a `source-ref`, and the turns the
rating records already cover (so a turn is not sent to the raters twice).

Rating records are the rating files of lambdas/common/rating_files.py (`.jsonl`, or `.jsonl.gz`) under
RATINGS_PREFIX, written by the post-annotation Lambda (and uploaded from tools/import_ratings.py). They are listed and read once per
execution environment, then kept for `max_age_seconds`; only a 16-byte digest of each (session_id, turn_id)
is kept, and at most `max_turns` of them: past that bound the rest is not read, so some rated turns may be
shown again (extra work for a rater, never a lost rating). A line that is not a JSON object with string
`session_id` and `turn_id` is counted and skipped.
"""

from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients
from lambdas.common.feedback import UnreadableItem
from lambdas.common.rating_files import RatingFiles, turn_of

# A labeling item is at most 100,000 characters (Ground Truth's limit), 400 KB in UTF-8; anything far
# larger is not an item and is not read into memory.
MAX_ITEM_BYTES = 1024 * 1024
MISSING_CODES = ("NoSuchKey", "404", "NoSuchBucket")


class RatingsUnavailable(RuntimeError):
    """The rating records could not be listed or read; carries the error code only."""

    def __init__(self, code: str):
        super().__init__(f"rating records could not be read ({code})")
        self.code = code


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "Unknown")
    return type(error).__name__


def read_item_object(bucket: str, key: str) -> bytes:
    """The bytes of the object a `source-ref` names; UnreadableItem when it is missing, denied or too big."""
    try:
        obj = clients.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_ITEM_BYTES}")
        body = obj["Body"].read()
    except (ClientError, BotoCoreError) as error:
        code = _code(error)
        problem = "names no object" if code in MISSING_CODES else f"could not be read ({code})"
        raise UnreadableItem("source-ref", problem) from None
    if len(body) > MAX_ITEM_BYTES:
        raise UnreadableItem("source-ref", f"is larger than {MAX_ITEM_BYTES} bytes")
    return body


def turn_digest(session_id: str, turn_id: str) -> bytes:
    return hashlib.blake2b(f"{session_id}\x1f{turn_id}".encode("utf-8", "surrogatepass"), digest_size=16).digest()


@dataclass
class LoadStats:
    files: int = 0
    turns: int = 0
    bad_lines: int = 0
    truncated: bool = False


class RatedTurns:
    def __init__(self, *, bucket: str, prefix: str, max_turns: int, max_age_seconds: int,
                 clock: Callable[[], float] = time.monotonic,
                 on_load: Callable[[LoadStats], None] = lambda stats: None):
        self.on_load = on_load
        self.bucket = bucket
        self.prefix = prefix
        self.max_turns = max_turns
        self.max_age_seconds = max_age_seconds
        self.clock = clock
        self._digests: frozenset[bytes] | None = None
        self._loaded_at = 0.0
        self.stats = LoadStats()

    def __call__(self, session_id: str, turn_id: str) -> bool:
        """Whether a rating record covers this turn. Raises RatingsUnavailable when the records cannot be
        read (nothing is cached then, so the next call tries again)."""
        if self._digests is None or self.clock() - self._loaded_at > self.max_age_seconds:
            self._digests, self.stats = self._load()
            self._loaded_at = self.clock()
            self.on_load(self.stats)
        return turn_digest(session_id, turn_id) in self._digests

    def _load(self) -> tuple[frozenset[bytes], LoadStats]:
        digests: set[bytes] = set()
        stats = LoadStats()
        files = RatingFiles(clients.client("s3"), self.bucket, self.prefix)
        try:
            for key in files.list().keys:
                stats.files += 1
                for line in files.lines(key):
                    ids = turn_of(line)
                    if ids is None:
                        stats.bad_lines += 1
                        continue
                    digests.add(turn_digest(*ids))
                    if len(digests) >= self.max_turns:
                        stats.truncated = True
                        stats.turns = len(digests)
                        return frozenset(digests), stats
        except (ClientError, BotoCoreError, OSError, EOFError, zlib.error) as error:
            raise RatingsUnavailable(_code(error)) from None
        stats.turns = len(digests)
        return frozenset(digests), stats
