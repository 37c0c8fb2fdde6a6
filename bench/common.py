"""Shared helpers for the benchmarks: percentiles, markdown tables, the machine, the chatbot's environment."""

from __future__ import annotations

import contextlib
import copy
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
TABLE = "tandem-sessions-bench"
REGION = "us-east-1"

# What every benchmark process needs to stay offline: dummy credentials and no instance-metadata probing.
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
}


def chatbot_settings(**overrides: Any) -> dict[str, Any]:
    """CHATBOT_SETTINGS as ChatbotStack serializes it: cdk.json defaults (stacks/config.py) plus overrides."""
    from lambdas.chatbot.settings import ChatbotSettings
    from stacks.config import defaults_as_context

    defaults = defaults_as_context()
    values = {k: copy.deepcopy(defaults[k]) for k in ChatbotSettings.context_keys()}
    values.update(overrides)
    return values


def chatbot_env(**overrides: Any) -> dict[str, str]:
    """The environment variables ChatbotStack gives the function: its settings contract, filled in as the stack
    fills it, plus Powertools' names."""
    from types import SimpleNamespace

    from lambdas.chatbot.settings import ChatbotSettings

    settings = ChatbotSettings.from_config(SimpleNamespace(**chatbot_settings(**overrides)), sessions_table=TABLE)
    return {**settings.to_env(), "POWERTOOLS_SERVICE_NAME": "tandem-chatbot", "POWERTOOLS_METRICS_NAMESPACE": "Tandem"}


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Sets environment variables for the duration of the block, then restores the previous environment."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table (also readable as plain text on stdout)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT met"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"nproc {nproc}, {cpu}, {platform.system()} {platform.release()} {platform.machine()}, "
            f"Python {platform.python_version()} ({sys.executable}); load average at start {load}")
