"""Escalation path overhead inside the chatbot Lambda: p50 of an escalating turn vs a normal turn.

Both variants run the real handler under moto (DynamoDB + S3) with the `llm` detector and the same stubbed
Bedrock delays (answer 300 ms, gate 200 ms). The escalating turn's gate says "negative, 0.95", so the turn
records the escalation and starts the workflow: Step Functions' StartExecution is a Stubber answering after
50 ms. Every turn opens a new session (a session has one open escalation at a time), alternating variants.
Target: escalating p50 / normal p50 <= 1.2.

    .venv/bin/python -m bench.escalation_overhead
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

from bench.common import BUCKET, OFFLINE_ENV, REGION, ROOT, TABLE, chatbot_env, patched_environ, percentile, table, verdict
from bench.gate_overhead import ANSWER_DELAY, CUSTOMER, GATE_DELAY, Sleeper, stubbed_bedrock
from tests.aws_resources import create_sessions_table
from tests.bedrock_replies import converse_text, converse_verdict

START_DELAY = 0.050  # seconds per StartExecution call
TURNS = 50  # measured turns per variant
WARMUP_TURNS = 3
TARGET_RATIO = 1.2
STATE_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:TandemHumanEscalation"
VARIANTS = {"normal": ("neutral", 0.9), "escalating": ("negative", 0.95)}  # the gate's verdict


def stubbed_step_functions() -> tuple[Any, Sleeper]:
    import boto3
    from botocore.stub import Stubber

    from lambdas.common import clients

    client = boto3.client("stepfunctions", region_name=REGION)
    sleeper = Sleeper(START_DELAY)
    client.meta.events.register("after-call.sfn.StartExecution", sleeper)
    stubber = Stubber(client)
    stubber.activate()
    clients.set_client("stepfunctions", client)
    return stubber, sleeper


def run(turns: int = TURNS, warmup: int = WARMUP_TURNS) -> str:
    env = {**OFFLINE_ENV, **chatbot_env(sentiment_detector="llm"), "POWERTOOLS_TRACE_DISABLED": "true",
           "ESCALATION_STATE_MACHINE_ARN": STATE_MACHINE}
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

    with mock_aws():
        clients.reset()
        chatbot_handler.reset_service()
        create_sessions_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        _, answer_stub, answer_sleeper = stubbed_bedrock("default", ANSWER_DELAY)
        _, gate_stub, gate_sleeper = stubbed_bedrock("gate", GATE_DELAY)
        sfn_stub, start_sleeper = stubbed_step_functions()
        chatbot_handler.get_service()  # built from the environment, as Lambda's init does

        def turn(name: str) -> float:
            answer_stub.add_response("converse", converse_text("Here is what I found."))
            gate_stub.add_response("converse", converse_verdict(*VARIANTS[name]))  # a fresh dict: botocore consumes it
            if name == "escalating":
                sfn_stub.add_response("start_execution", {"executionArn": f"{STATE_MACHINE}:x",
                                                          "startDate": datetime.now(timezone.utc)})
            event = {**event_template, "body": json.dumps({"message": "My order is late again."})}
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its EMF metrics on stdout
                started = time.perf_counter()
                result = chatbot_handler.handler(event, context)
                elapsed = time.perf_counter() - started
            reply = json.loads(result["body"])
            if result["statusCode"] != 200 or reply["escalated"] is not (name == "escalating"):
                raise RuntimeError(f"{name}: unexpected reply {result['statusCode']} {reply}")
            for stub in (answer_stub, gate_stub, sfn_stub):
                stub.assert_no_pending_responses()
            return elapsed

        for _ in range(warmup):
            for name in VARIANTS:
                turn(name)
        for index in range(turns):
            order = list(VARIANTS) if index % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                latencies[name].append(turn(name))
        slept = {"answer": answer_sleeper.slept / answer_sleeper.calls, "gate": gate_sleeper.slept / gate_sleeper.calls,
                 "start": start_sleeper.slept / start_sleeper.calls}
        clients.reset()
        chatbot_handler.reset_service()
    return report(latencies, slept, turns, warmup)


def report(latencies: dict[str, list[float]], slept: dict[str, float], turns: int, warmup: int) -> str:
    p50 = {name: percentile(values, 50) * 1000 for name, values in latencies.items()}
    p95 = {name: percentile(values, 95) * 1000 for name, values in latencies.items()}
    ratio = p50["escalating"] / p50["normal"]
    rows = [[name, len(latencies[name]), f"{p50[name]:.1f}", f"{p95[name]:.1f}", f"{p50[name] / p50['normal']:.3f}"]
            for name in VARIANTS]
    return "\n\n".join([
        f"Stubbed delays (measured mean sleep): answer {slept['answer'] * 1000:.1f} ms, gate {slept['gate'] * 1000:.1f} ms, "
        f"StartExecution {slept['start'] * 1000:.1f} ms. Detector `llm`; {turns} measured turns per variant after "
        f"{warmup} warm-up turns each, alternating; a new session every turn.",
        table(["variant", "turns", "p50 ms", "p95 ms", "p50 / normal p50"], rows),
        table(["ratio", "value", "target", "result"],
              [["escalating p50 / normal p50", f"{ratio:.3f}", f"<= {TARGET_RATIO}", verdict(ratio, TARGET_RATIO)]]),
        f"What an escalation adds at p50: {p50['escalating'] - p50['normal']:+.1f} ms (the escalation item in the same "
        "transaction, the StartExecution call after the write).",
    ])


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
