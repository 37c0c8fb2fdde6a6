"""What every Lambda's settings module shares: the error for a bad environment variable and the shapes
of S3 names. Each function parses its own variables; a bad one stops it with the variable named."""

from __future__ import annotations

import re
from typing import Mapping

# S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A key prefix is "" or folder names each ending in "/" ("ratings/", "a/b/").
S3_PREFIX = re.compile(r"^(?:[A-Za-z0-9!_.*'()-]+/)*$")


_INTEGER = re.compile(r"^[0-9]{1,19}$")


class SettingsError(ValueError):
    def __init__(self, variable: str, problem: str):
        super().__init__(f"environment variable {variable} {problem}")
        self.variable = variable


def ratings_location(environ: Mapping[str, str]) -> tuple[str, str]:
    """RATINGS_BUCKET and RATINGS_PREFIX, where the rating records (JSON Lines) live."""
    bucket = environ.get("RATINGS_BUCKET", "").strip()
    if not bucket:
        raise SettingsError("RATINGS_BUCKET", "is required")
    if not BUCKET_NAME.fullmatch(bucket):
        raise SettingsError("RATINGS_BUCKET", "must be an S3 bucket name")
    if "RATINGS_PREFIX" not in environ:
        raise SettingsError("RATINGS_PREFIX", "is required (an empty value means the bucket's root)")
    prefix = environ["RATINGS_PREFIX"].strip()
    if not S3_PREFIX.fullmatch(prefix):
        raise SettingsError("RATINGS_PREFIX", "must be empty or folder names each ending with '/'")
    return bucket, prefix


def text_setting(environ: Mapping[str, str], name: str) -> str:
    """A required, non-blank variable, stripped."""
    value = environ.get(name, "").strip()
    if not value:
        raise SettingsError(name, "is required")
    return value


def integer_setting(environ: Mapping[str, str], name: str, low: int, high: int, default: int | None = None) -> int:
    """An integer variable from low to high; without a default it is required."""
    value = environ.get(name, "").strip()
    if not value:
        if default is None:
            raise SettingsError(name, "is required")
        return default
    if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
        raise SettingsError(name, f"must be an integer from {low} to {high}")
    return int(value)
