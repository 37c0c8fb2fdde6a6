"""What every Lambda's settings module shares: the error for a bad environment variable and the shapes
of S3 names. Each function parses its own variables; a bad one stops it with the variable named."""

from __future__ import annotations

import re

# S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# A key prefix is "" or folder names each ending in "/" ("ratings/", "a/b/").
S3_PREFIX = re.compile(r"^(?:[A-Za-z0-9!_.*'()-]+/)*$")


class SettingsError(ValueError):
    def __init__(self, variable: str, problem: str):
        super().__init__(f"environment variable {variable} {problem}")
        self.variable = variable
