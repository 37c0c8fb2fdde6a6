"""A labeling job's input manifest, indexed by what Ground Truth sends the consolidation Lambda (pure: no AWS).

Ground Truth names each data object of an annotation-consolidation request by its manifest line's `source`
value (`dataObject.content`) or `source-ref` value (`dataObject.s3Uri`), and by nothing else of the line
(docs/ground-truth.md). The labeling item (ids, question, answer) is in the line, so the Lambda looks the
line up by that value, compared exactly.

The manifest is copied to a temporary file (under /tmp, the function's ephemeral storage) and, per line,
only a 16-byte digest of its value -> the line's byte offset in that file stays in memory: O(lines), not
O(manifest bytes) (a job has up to 100,000 lines of up to 100 KB). A value found on two lines is ambiguous:
its lookups fail naming that, never picking one of them. A line that is found is read back and its value
compared in full, so a digest collision can make a line look ambiguous or absent, never return a wrong one.
Lines that are not JSON objects (or not parseable, e.g. nested too deeply) are counted and left out.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from typing import IO, Any

KINDS = ("source", "source-ref")  # what dataObject.content and dataObject.s3Uri are the values of
_AMBIGUOUS = -1
_COPY_CHUNK = 1 << 20


class ManifestLookupError(LookupError):
    """Why a data object has no line of its own in the manifest; the text names no customer data."""


@dataclass
class IndexStats:
    lines: int = 0  # non-blank lines
    indexed: int = 0  # lines with a string source or source-ref
    ambiguous_values: int = 0  # values found on more than one line
    unreadable_lines: int = 0  # not a JSON object
    bytes: int = 0


def _digest(kind: str, value: str) -> bytes:
    # surrogatepass: a value decoded from a "\ud800" escape has a lone surrogate and still needs a digest.
    return hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=16, person=kind.encode()[:16]).digest()


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # ValueError covers bad JSON and bad UTF-8
        return None


class ManifestIndex:
    """The lines of one manifest by their `source` and `source-ref` values; build() it from a byte stream."""

    def __init__(self, uri: str, spool: IO[bytes], offsets: dict[bytes, int], stats: IndexStats):
        self.uri = uri
        self.stats = stats
        self._spool = spool
        self._offsets = offsets

    @classmethod
    def build(cls, uri: str, body: IO[bytes], spool: IO[bytes] | None = None) -> "ManifestIndex":
        """Copies `body` (the manifest's bytes, read in chunks) to `spool` (a new temporary file by default)
        and indexes it. OSError (e.g. /tmp full) and the stream's own errors propagate."""
        spool = spool if spool is not None else tempfile.TemporaryFile()
        try:
            shutil.copyfileobj(body, spool, _COPY_CHUNK)
            spool.flush()
            spool.seek(0)
            offsets: dict[bytes, int] = {}
            stats = IndexStats()
            offset = 0
            for raw in spool:
                at, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                stats.lines += 1
                line = _parse(raw)
                if not isinstance(line, dict):
                    stats.unreadable_lines += 1
                    continue
                values = [(kind, line[kind]) for kind in KINDS if isinstance(line.get(kind), str)]
                stats.indexed += bool(values)
                for kind, value in values:
                    key = _digest(kind, value)
                    seen = offsets.get(key)
                    if seen is None:
                        offsets[key] = at
                    elif seen != _AMBIGUOUS:
                        offsets[key] = _AMBIGUOUS
                        stats.ambiguous_values += 1
            stats.bytes = offset
        except BaseException:
            spool.close()
            raise
        return cls(uri, spool, offsets, stats)

    def find(self, kind: str, value: str) -> dict[str, Any]:
        """The one line whose `kind` attribute ("source" or "source-ref") equals `value`."""
        at = self._offsets.get(_digest(kind, value))
        if at == _AMBIGUOUS:
            raise ManifestLookupError(f"matches more than one line of the job's input manifest (the {kind} of "
                                      "each), so its labeling item is ambiguous")
        line = None
        if at is not None:
            self._spool.seek(at)
            line = _parse(self._spool.readline())
        if not isinstance(line, dict) or line.get(kind) != value:
            raise ManifestLookupError("is not in the job's input manifest")
        return line

    def close(self) -> None:
        self._spool.close()
