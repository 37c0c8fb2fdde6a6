"""Browser tests: real pages of the running demo (local/demo.py) in Chromium, driven by Playwright.

- `demo`: a running demo on a free port of 127.0.0.1, one per test module; a module sets `DEMO_OPTIONS` (a
  DemoOptions) to start it differently (a short accept wait, say).
- `browser`: Chromium from the distribution's package (FACTS: Playwright's own download is unreachable).
  Without it the tests are skipped on a workstation and fail under CI=true: CI never skips them.
- `page`: a fresh browser context and page per test; `shots(page)` records a screenshot per step.
  Screenshots of a failed test are kept in test-artifacts/browser/<test>/; a passing test's are removed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from local.demo import Demo, DemoOptions

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
TIMEOUT_MS = 15_000  # how long an expectation waits for the page: polling, workflows and mail take seconds


def chromium_path() -> str | None:
    configured = os.environ.get("TANDEM_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    return next((path for path in CHROMIUM_CANDIDATES if Path(path).exists()), None)


def require_chromium() -> str:
    """Chromium's path; without one, a skip on a workstation and a failure in CI (CI never skips these tests)."""
    executable = chromium_path()
    if executable is None:
        message = ("Chromium is not installed: `make test` installs it (apt-get install chromium), or set "
                   "TANDEM_CHROMIUM to a Chromium binary")
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return executable


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest) -> Iterator[Demo]:
    options = getattr(request.module, "DEMO_OPTIONS", DemoOptions())
    running = Demo(DemoOptions(port=0, model=options.model, accept_wait_seconds=options.accept_wait_seconds,
                               overrides=options.overrides)).start()
    yield running
    running.stop()


class Shots:
    """Numbered screenshots of one test's steps."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def __call__(self, page: Any, step: str) -> None:
        self.count += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Iterator[Shots]:
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    shutil.rmtree(folder, ignore_errors=True)
    taken = Shots(folder)
    yield taken
    if not request.node.stash.get(_FAILED, True):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1100, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()
