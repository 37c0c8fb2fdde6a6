"""Waiting for something asynchronous (a poller, a workflow step, a mail) without sleeping a fixed time."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], *, what: str, timeout: float, interval: float = 0.1) -> T:
    """check()'s first truthy value, asked every `interval` seconds; AssertionError naming `what` when
    `timeout` seconds pass without one."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
