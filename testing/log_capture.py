"""Reading what a Lambda's Powertools logger wrote (JSON lines) in tests."""

from __future__ import annotations

import contextlib
import io
import json
from typing import Any, Iterator


class CapturedLogs:
    def __init__(self, stream: io.StringIO):
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def entries(self, message: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]
        return [e for e in found if message is None or e.get("message") == message]


@contextlib.contextmanager
def captured(logger: Any) -> Iterator[CapturedLogs]:
    """What a handler's Powertools logger writes while the block runs (the logger binds its stream when its
    module is imported, so neither capsys nor caplog sees it)."""
    stream = io.StringIO()
    previous = logger.registered_handler.setStream(stream)
    try:
        yield CapturedLogs(stream)
    finally:
        logger.registered_handler.setStream(previous)
