"""What a Lambda handler builds once per execution environment: its settings, clients and services.

Every handler module holds one `Startup` named `dependencies`:

    dependencies = Startup(build)            # build() reads the environment and creates the clients
    ...
    def handler(event, context):
        service = dependencies.get()          # built at the first call, then reused
    ...
    dependencies.prepare_during_init()        # last line of the module

Inside Lambda the last line builds them while the function initialises (before the first request, and
into a SnapStart snapshot); imported by a test it does nothing, and `dependencies.reset()` makes the next
call build them again from the environment the test set.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Startup(Generic[T]):
    def __init__(self, build: Callable[[], T], *, close: Callable[[T], None] | None = None) -> None:
        self._build = build
        self._close = close
        self._built: T | None = None

    def get(self) -> T:
        if self._built is None:
            self._built = self._build()
        return self._built

    def reset(self) -> None:
        """Forgets what was built (closing it first when a `close` was given): tests."""
        if self._built is not None and self._close is not None:
            self._close(self._built)
        self._built = None

    def prepare_during_init(self) -> None:
        """Builds now when Lambda is initialising this function (AWS_LAMBDA_INITIALIZATION_TYPE is set)."""
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"):
            self.get()


def reset_handlers() -> None:
    """Forgets what every imported Lambda handler module built: tests, and the local runtime before it serves."""
    for name, module in list(sys.modules.items()):
        if name.startswith("lambdas.") and name.endswith(".handler") and hasattr(module, "dependencies"):
            module.dependencies.reset()
