"""Time for the smoke test: wall time (TOTP codes), a monotonic clock and sleep (polling, waiting), behind
one seam so tests move time themselves."""

from __future__ import annotations

import time
from typing import Callable, Protocol, TypeVar

T = TypeVar("T")
POLL_INTERVAL_SECONDS = 1.0


class Clock(Protocol):
    def now(self) -> float: ...  # seconds since the epoch
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Poller:
    """Asks a probe again until it finds something or the deadline passes (the outbox works asynchronously)."""

    def __init__(self, clock: Clock, *, timeout: float, interval: float = POLL_INTERVAL_SECONDS):
        self.clock = clock
        self.timeout = timeout
        self.interval = interval

    def until(self, probe: Callable[[], T | None]) -> T | None:
        """The probe's first result that is not None, or None once `timeout` seconds have passed."""
        deadline = self.clock.monotonic() + self.timeout
        while True:
            found = probe()
            if found is not None:
                return found
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return None
            self.clock.sleep(min(self.interval, remaining))
