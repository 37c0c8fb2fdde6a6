"""`python -m bench [NAME ...]`: runs the benchmarks (all by default), prints each report, and appends a dated
section with the command, the machine and every table to bench/RESULTS.md (newest last).

Names: gate_overhead, gate_evaluation, escalation_overhead, cold_start, bundle_size, consolidation, training_throughput,
demo_answers, demo_latency, rating_console. `python -m bench.<name>` runs one without recording it.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shlex
import subprocess
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bench.common import ROOT, machine

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BENCHMARKS = {
    "gate_overhead": "Gate overhead",
    "gate_evaluation": "Gate evaluation",
    "escalation_overhead": "Escalation overhead",
    "cold_start": "Cold start",
    "bundle_size": "Bundle size",
    "consolidation": "Consolidation",
    "training_throughput": "Training throughput and held-out margins",
    "demo_answers": "Demo answers (the offline stand-in model)",
    "demo_latency": "Demo latency (make demo: start, turns, an expert's message reaching the customer)",
    "rating_console": "Rating console (next item, and consolidating a 100,000-item batch beside Ground Truth)",
}


def command_line() -> str:
    """The command as typed: the interpreter relative to the working directory when it lies inside it."""
    executable = Path(sys.executable)
    inside = executable.is_relative_to(Path.cwd())
    return shlex.join([str(executable.relative_to(Path.cwd())) if inside else str(executable), "-m", "bench",
                       *sys.argv[1:]])


def git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' with uncommitted changes' if dirty else ''}"


def code_fingerprint() -> str:
    """A short hash of the code the benchmarks measure (lambdas/, training/ and the bundler), working tree included: other
    people edit it while a run goes on, and a run is only meaningful if it saw one version of it."""
    digest = hashlib.sha256()
    paths = [p for folder in ("lambdas", "training") for p in sorted((ROOT / folder).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    for path in [*paths, ROOT / "stacks" / "constructs" / "python_function.py"]:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    started_at = datetime.now(timezone.utc)
    fingerprint = code_fingerprint()
    header = [
        f"## {started_at:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command_line()}` (in `{Path.cwd()}`)",
        f"- Machine: {machine()}",
        f"- Revision: {git_revision()}; code fingerprint (lambdas/ + training/ + PipBundler, working tree) "
        f"{fingerprint}",
    ]
    print("\n".join(header), flush=True)
    sections: list[str] = []
    failed = False
    total = time.perf_counter()
    for name in names:
        title = f"### {BENCHMARKS[name]} (bench/{name}.py)"
        print(f"\n{title}\n", flush=True)
        started = time.perf_counter()
        try:
            body = importlib.import_module(f"bench.{name}").run()
        except Exception:  # noqa: BLE001 (recorded, and the run exits non-zero)
            failed = True
            body = "FAILED:\n\n```\n" + traceback.format_exc()[-4000:] + "```"
        body += f"\n\n({name} took {time.perf_counter() - started:.0f} s)"
        print(body, flush=True)
        sections += ["", title, "", body]
    footer = f"\nWhole run: {time.perf_counter() - total:.0f} s."
    if code_fingerprint() != fingerprint:
        failed = True
        footer += (f"\n\n**WARNING: the measured code changed during this run (fingerprint {fingerprint} -> "
                   f"{code_fingerprint()}); its numbers mix two versions. Run it again.**")
    print(footer)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n" + "\n".join(header + sections) + "\n" + footer + "\n")
    print(f"\nAppended to {os.path.relpath(RESULTS)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
