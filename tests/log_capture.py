"""Reading what a Lambda's Powertools logger wrote (JSON lines) in tests."""

from __future__ import annotations

import io
import json
from typing import Any


class CapturedLogs:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self, message: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]
        return [e for e in found if message is None or e.get("message") == message]
