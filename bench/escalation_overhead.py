"""Escalation path overhead inside the chatbot Lambda: p50 of an escalating turn vs a normal turn, and the
storage calls each makes on the response path.

Both variants run the real handler under moto (DynamoDB) with the `llm` detector and the same stubbed
Bedrock delays (answer 300 ms, gate 200 ms). The escalating turn's gate says "negative, 0.95", so the turn
records the escalation in its transaction; starting the workflow and writing the transcript happen later,
in the outbox (the stream consumer), off the response path. Each measured turn is the second turn of a
session whose first turn is not measured (a session has one open escalation at a time), alternating
variants. Every AWS call the chatbot's clients send during a measured turn is counted.
Target: escalating p50 / normal p50 <= 1.05.

    .venv/bin/python -m bench.escalation_overhead
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from collections import Counter
from types import SimpleNamespace
from typing import Any

from bench.common import OFFLINE_ENV, REGION, ROOT, TABLE, chatbot_env, patched_environ, percentile, table, verdict
from bench.gate_overhead import ANSWER_DELAY, CUSTOMER, GATE_DELAY, CallCounter, stubbed_bedrock
from tests.aws_resources import create_sessions_table
from tests.bedrock_replies import converse_text, converse_verdict

TURNS = 50  # measured turns per variant
WARMUP_TURNS = 3
TARGET_RATIO = 1.05
TARGET_STORAGE_CALLS = 3  # a continued session: read the session, read its recent turns, one transaction
VARIANTS = {"normal": ("neutral", 0.9), "escalating": ("negative", 0.95)}  # the gate's verdict


def run(turns: int = TURNS, warmup: int = WARMUP_TURNS) -> str:
    env = {**OFFLINE_ENV, **chatbot_env(sentiment_detector="llm"), "POWERTOOLS_TRACE_DISABLED": "true"}
    with patched_environ(env), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        return _run(turns, warmup)


def _run(turns: int, warmup: int) -> str:
    import boto3
    from moto import mock_aws

    from lambdas.chatbot import handler as chatbot_handler
    from lambdas.common import clients

    context = SimpleNamespace(function_name="tandem-chatbot", memory_limit_in_mb=1024, aws_request_id="req-bench",
                              invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:tandem-chatbot:live",
                              get_remaining_time_in_millis=lambda: 28000)
    event_template = json.loads((ROOT / "tests" / "events" / "chat_request.json").read_text())
    event_template["requestContext"]["authorizer"]["claims"]["sub"] = CUSTOMER
    latencies: dict[str, list[float]] = {name: [] for name in VARIANTS}
    calls: dict[str, Counter[str]] = {}
    counter = CallCounter()

    with mock_aws():
        clients.reset()
        chatbot_handler.reset_service()
        create_sessions_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        _, answer_stub, answer_sleeper = stubbed_bedrock("default", ANSWER_DELAY)
        _, gate_stub, gate_sleeper = stubbed_bedrock("gate", GATE_DELAY)
        chatbot_handler.get_service()  # built from the environment, as Lambda's init does
        for service in ("dynamodb", "s3", "stepfunctions"):  # whatever the chatbot would call, it is counted
            clients.client(service).meta.events.register("before-call", counter)

        def say(verdict: tuple[str, float], session_id: str | None) -> tuple[float, dict[str, Any]]:
            answer_stub.add_response("converse", converse_text("Here is what I found."))
            gate_stub.add_response("converse", converse_verdict(*verdict))  # a fresh dict: botocore consumes it
            body = {"message": "My order is late again.", **({"session_id": session_id} if session_id else {})}
            event = {**event_template, "body": json.dumps(body)}
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its EMF metrics on stdout
                started = time.perf_counter()
                result = chatbot_handler.handler(event, context)
                elapsed = time.perf_counter() - started
            if result["statusCode"] != 200:
                raise RuntimeError(f"unexpected reply {result['statusCode']} {result['body']}")
            return elapsed, json.loads(result["body"])

        def turn(name: str) -> float:
            _, first = say(VARIANTS["normal"], None)  # the session's first turn, not measured
            counter.current = measured = Counter()
            elapsed, reply = say(VARIANTS[name], first["session_id"])
            counter.current = Counter()  # the next session's first turn is not this turn's
            if reply["escalated"] is not (name == "escalating"):
                raise RuntimeError(f"{name}: unexpected reply {reply}")
            calls.setdefault(name, measured)
            for stub in (answer_stub, gate_stub):
                stub.assert_no_pending_responses()
            return elapsed

        for _ in range(warmup):
            for name in VARIANTS:
                turn(name)
        calls.clear()
        for index in range(turns):
            order = list(VARIANTS) if index % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                latencies[name].append(turn(name))
        slept = {"answer": answer_sleeper.slept / answer_sleeper.calls, "gate": gate_sleeper.slept / gate_sleeper.calls}
        clients.reset()
        chatbot_handler.reset_service()
    return report(latencies, slept, calls, turns, warmup)


def report(latencies: dict[str, list[float]], slept: dict[str, float], calls: dict[str, Counter[str]], turns: int,
           warmup: int) -> str:
    p50 = {name: percentile(values, 50) * 1000 for name, values in latencies.items()}
    p95 = {name: percentile(values, 95) * 1000 for name, values in latencies.items()}
    ratio = p50["escalating"] / p50["normal"]
    storage = {name: sum(calls[name].values()) for name in VARIANTS}
    rows = [[name, len(latencies[name]), f"{p50[name]:.1f}", f"{p95[name]:.1f}", f"{p50[name] / p50['normal']:.3f}",
             ", ".join(f"{op} x{n}" for op, n in sorted(calls[name].items())), storage[name]]
            for name in VARIANTS]
    most = max(storage.values())
    return "\n\n".join([
        f"Stubbed delays (measured mean sleep): answer {slept['answer'] * 1000:.1f} ms, gate {slept['gate'] * 1000:.1f} ms. "
        f"Detector `llm`; {turns} measured turns per variant after {warmup} warm-up turns each, alternating; each "
        "measured turn is the second turn of its own session.",
        table(["variant", "turns", "p50 ms", "p95 ms", "p50 / normal p50", "AWS calls on the response path",
               "calls"], rows),
        table(["ratio", "value", "target", "result"],
              [["escalating p50 / normal p50", f"{ratio:.3f}", f"<= {TARGET_RATIO}", verdict(ratio, TARGET_RATIO)],
               ["storage calls per turn (most of the two)", str(most), f"<= {TARGET_STORAGE_CALLS}",
                verdict(most, TARGET_STORAGE_CALLS)]]),
        f"What an escalation adds at p50: {p50['escalating'] - p50['normal']:+.1f} ms (one more item in the same "
        "transaction; the workflow is started by the outbox, after the response).",
    ])


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
