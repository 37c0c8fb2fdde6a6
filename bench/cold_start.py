"""Cold start: whole-process wall time of `python -c <import>` for the chatbot handler vs langchain-aws alone.

Every command is a fresh interpreter (`sys.executable -c ...`, working directory = the repo), timed with
time.perf_counter around subprocess.run, so it includes interpreter start-up, as Lambda's init does.
Each command runs once untimed first (so .pyc files exist, as they would in a warm build), then RUNS
times, interleaved round-robin with a rotating order; the median is reported.

Environment: what the Lambda runtime and ChatbotStack set (LAMBDA_TASK_ROOT, AWS_LAMBDA_FUNCTION_NAME, region,
CHATBOT_SETTINGS, SESSIONS_TABLE, POWERTOOLS_*), with dummy credentials. LAMBDA_TASK_ROOT
matters: with it Powertools' Tracer is enabled, as in the deployed function (active tracing), and X-Ray's
SDK skips its centralized sampler; without it (the tests' environment) the Tracer is disabled but the X-Ray
recorder is still created at import and builds two botocore `xray` clients for that sampler.
- (a) import: `import lambdas.chatbot.handler` without AWS_LAMBDA_INITIALIZATION_TYPE: the module only.
- (b) import + build: AWS_LAMBDA_INITIALIZATION_TYPE=on-demand, so the module builds the ChatService at
  import (clients, ChatBedrockConverse models, detector), which is the init work SnapStart snapshots.
- baseline: `from langchain_aws import ChatBedrockConverse` in the same environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import OFFLINE_ENV, ROOT, chatbot_env, median, table, verdict

RUNS = 9
TARGET_RATIO = 1.25  # (a) / baseline

IMPORT_HANDLER = "import lambdas.chatbot.handler"
IMPORT_LANGCHAIN = "from langchain_aws import ChatBedrockConverse"
# The same import; the assertion (free) proves the init-time build really ran.
IMPORT_AND_BUILD = "import lambdas.chatbot.handler as h; assert h._service is not None, 'service not built'"


def base_env() -> dict[str, str]:
    """This process's environment without anything AWS, Lambda or Powertools that could leak in."""
    prefixes = ("AWS_", "LAMBDA_", "POWERTOOLS_", "_X_AMZN", "CHATBOT_", "SESSIONS_", "TRANSCRIPTS_", "_HANDLER")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


def lambda_env(**settings: str) -> dict[str, str]:
    return {**base_env(), **OFFLINE_ENV, **chatbot_env(**settings),
            "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "tandem-chatbot",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.14",
            "_HANDLER": "lambdas.chatbot.handler.handler"}


def commands() -> list[tuple[str, str, dict[str, str]]]:
    """(label, code, environment) of each measured command; the first is the baseline."""
    init = {"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}
    tests_env = {**base_env(), **OFFLINE_ENV, **chatbot_env(), "POWERTOOLS_TRACE_DISABLED": "true"}
    return [
        ("baseline: `from langchain_aws import ChatBedrockConverse`", IMPORT_LANGCHAIN, lambda_env()),
        ("(a) `import lambdas.chatbot.handler`", IMPORT_HANDLER, lambda_env()),
        ("(b) import + build, detector `llm` (2 ChatBedrockConverse)", IMPORT_AND_BUILD,
         {**lambda_env(sentiment_detector="llm"), **init}),
        ("(b) import + build, cdk.json defaults (detector `comprehend`)", IMPORT_AND_BUILD, {**lambda_env(), **init}),
        ("(a) in the tests' environment (no LAMBDA_TASK_ROOT, tracing disabled)", IMPORT_HANDLER, tests_env),
    ]


def timed(code: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"`{code}` failed:\n{done.stderr[-3000:]}")
    return elapsed


def run(runs: int = RUNS) -> str:
    measured = commands()
    for _, code, env in measured:  # untimed: compiles and caches the .pyc files
        timed(code, env)
    samples: list[list[float]] = [[] for _ in measured]
    for round_ in range(runs):
        order = list(range(len(measured)))
        shift = round_ % len(order)
        for i in order[shift:] + order[:shift]:
            samples[i].append(timed(measured[i][1], measured[i][2]))
    medians = [median(s) for s in samples]
    baseline = medians[0]
    rows = [[label, f"{medians[i] * 1000:.0f}", f"{min(samples[i]) * 1000:.0f}", f"{max(samples[i]) * 1000:.0f}",
             f"{medians[i] / baseline:.2f}"] for i, (label, _, _) in enumerate(measured)]
    ratio = medians[1] / baseline
    lines = [
        f"{runs} runs per command, interleaved, after one untimed run each (.pyc present). Interpreter: "
        f"{sys.executable}.",
        "",
        table(["command", "median ms", "min ms", "max ms", "/ baseline"], rows),
        "",
        table(["ratio", "value", "target", "result"], [
            ["(a) import / baseline", f"{ratio:.2f}", f"<= {TARGET_RATIO:.2f}", verdict(ratio, TARGET_RATIO)],
            ["(b) llm build - (a) import", f"{(medians[2] - medians[1]) * 1000:+.0f} ms", "(init work)",
             "captured by SnapStart"],
            ["(b) defaults build - (a) import", f"{(medians[3] - medians[1]) * 1000:+.0f} ms", "(init work)",
             "captured by SnapStart"],
        ]),
    ]
    return "\n".join(lines)


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
