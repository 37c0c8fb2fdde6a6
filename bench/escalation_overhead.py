"""Escalation path overhead inside the chatbot Lambda: p50 of an escalating turn vs a normal turn, and the
AWS calls each makes on the response path.

Both variants run the real handler with the `llm` detector and the same stubbed latencies: Bedrock answers
after 300 ms (answer) and 200 ms (gate), DynamoDB after DYNAMODB_DELAY per call. DynamoDB is a Stubber, not
moto, here: moto copies the whole table for every transaction, so its cost grows with the table and with
each item (the second table of the report measures it), and under moto the comparison would measure moto.
The Stubber serves each measured turn as the second turn of its own session (the session item, two
earlier turns, then the transaction), so both variants make the same calls and differ only in what Tandem
computes and sends. The escalating turn's gate
says "negative, 0.95": the turn records the escalation in its transaction; starting the workflow and the
transcript happen later, in the outbox, off the response path. Every AWS call the chatbot's clients send
during a measured turn is counted. Target: escalating p50 / normal p50 <= 1.05.

    .venv/bin/python -m bench.escalation_overhead
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from collections import Counter
from typing import Any

from bench.common import OFFLINE_ENV, REGION, ROOT, chatbot_env, patched_environ, percentile, table, verdict
from bench.gate_overhead import ANSWER_DELAY, CUSTOMER, GATE_DELAY, CallCounter, Sleeper, stubbed_bedrock
from testing.bedrock_replies import converse_text, converse_verdict

DYNAMODB_DELAY = 0.008  # seconds per DynamoDB call, a single-digit-millisecond service
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


def stubbed_dynamodb() -> tuple[Any, Any, Sleeper]:
    """(client, stubber, sleeper): a dynamodb client that answers from a Stubber after DYNAMODB_DELAY."""
    import boto3
    from botocore.stub import Stubber

    from lambdas.common import clients

    client = boto3.client("dynamodb", region_name=REGION)
    sleeper = Sleeper(DYNAMODB_DELAY)
    client.meta.events.register("after-call.dynamodb", sleeper)  # every operation, registered before activate()
    stubber = Stubber(client)
    stubber.activate()
    clients.set_client("dynamodb", client)
    return client, stubber, sleeper


def continued_session(stubber: Any, session_id: str) -> None:
    """Queues what DynamoDB answers for the second turn of a session: its item, its first exchange, the write."""
    started = "2026-11-30T10:00:00.000000Z"
    stubber.add_response("get_item", {"Item": {
        "session_id": {"S": session_id}, "sk": {"S": "SESSION"}, "customer_id": {"S": CUSTOMER},
        "started_at": {"S": started}, "updated_at": {"S": started}, "expires_at": {"N": "1900000000"}}})
    turns = [{"role": "bot", "text": "Here is what I found.", "turn_id": "t-2",
              "created_at": "2026-11-30T10:00:01.000000Z"},
             {"role": "customer", "text": "Where is my order?", "turn_id": "t-1", "created_at": started}]
    stubber.add_response("query", {"Items": [  # newest first: the store asks for the latest turns
        {"session_id": {"S": session_id}, "sk": {"S": f"TURN#{t['created_at']}#{t['turn_id']}"},
         "role": {"S": t["role"]}, "body": {"S": json.dumps(t)}} for t in turns]})
    stubber.add_response("transact_write_items", {})


def _run(turns: int, warmup: int) -> str:
    import uuid

    from lambdas.chatbot import handler as chatbot_handler
    from lambdas.common import clients
    from local.lambda_context import lambda_context

    context = lambda_context("tandem-chatbot", memory_mb=1024, request_id="req-bench", qualifier="live")
    event_template = json.loads((ROOT / "tests" / "events" / "chat_request.json").read_text())
    event_template["requestContext"]["authorizer"]["claims"]["sub"] = CUSTOMER
    latencies: dict[str, list[float]] = {name: [] for name in VARIANTS}
    calls: dict[str, Counter[str]] = {}
    counter = CallCounter()

    clients.reset()
    chatbot_handler.dependencies.reset()
    _, ddb_stub, ddb_sleeper = stubbed_dynamodb()
    _, answer_stub, answer_sleeper = stubbed_bedrock("default", ANSWER_DELAY)
    _, gate_stub, gate_sleeper = stubbed_bedrock("gate", GATE_DELAY)
    chatbot_handler.dependencies.get()  # built from the environment, as Lambda's init does
    for service in ("dynamodb", "s3", "stepfunctions"):  # whatever the chatbot would call, it is counted
        # before-parameter-build runs for every call, ahead of the Stubber's before-call answer.
        clients.client(service).meta.events.register("before-parameter-build", counter)

    def turn(name: str) -> float:
        session_id = str(uuid.uuid4())
        continued_session(ddb_stub, session_id)
        answer_stub.add_response("converse", converse_text("Here is what I found."))
        gate_stub.add_response("converse", converse_verdict(*VARIANTS[name]))  # a fresh dict: botocore consumes it
        event = {**event_template, "body": json.dumps({"message": "My order is late again.", "session_id": session_id})}
        counter.current = measured = Counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its EMF metrics on stdout
            started = time.perf_counter()
            result = chatbot_handler.handler(event, context)
            elapsed = time.perf_counter() - started
        reply = json.loads(result["body"])
        if result["statusCode"] != 200 or reply["escalated"] is not (name == "escalating"):
            raise RuntimeError(f"{name}: unexpected reply {result['statusCode']} {reply}")
        for stub in (ddb_stub, answer_stub, gate_stub):
            stub.assert_no_pending_responses()
        if measured["dynamodb:TransactWriteItems"] != 1:
            raise RuntimeError(f"{name}: the call counter did not see the turn's transaction: {dict(measured)}")
        calls.setdefault(name, measured)
        return elapsed

    for _ in range(warmup):
        for name in VARIANTS:
            turn(name)
    calls.clear()
    for index in range(turns):
        order = list(VARIANTS) if index % 2 == 0 else list(reversed(VARIANTS))
        for name in order:
            latencies[name].append(turn(name))
    slept = {"answer": answer_sleeper.slept / answer_sleeper.calls, "gate": gate_sleeper.slept / gate_sleeper.calls,
             "dynamodb": ddb_sleeper.slept / ddb_sleeper.calls}
    clients.reset()
    chatbot_handler.dependencies.reset()
    return report(latencies, slept, calls, turns, warmup) + "\n\n" + moto_transactions()


MOTO_SIZES = (0, 500)  # items already in the table
MOTO_ROUNDS = 15


def moto_transactions() -> str:
    """Median time of one TransactWriteItems of 3 and of 4 conditional Puts (a normal and an escalating
    turn's write) under moto, on a table holding MOTO_SIZES items: why this benchmark stubs DynamoDB."""
    import statistics

    from testing.moto_aws import MotoAws

    def put(session: str, sk: str) -> dict[str, Any]:
        return {"Put": {"TableName": "bench", "ConditionExpression": "attribute_not_exists(sk)", "Item": {
            "session_id": {"S": session}, "sk": {"S": sk}, "body": {"S": "x" * 300}}}}

    rows = []
    with MotoAws() as aws:
        ddb = aws.ddb
        aws.create("sessions_table", "bench")
        filled = 0
        for size in MOTO_SIZES:
            while filled < size:
                ddb.transact_write_items(TransactItems=[put(f"fill-{filled}", f"TURN#{n}") for n in range(10)])
                filled += 10
            medians = []
            for items in (3, 4):
                times = []
                for n in range(MOTO_ROUNDS):
                    writes = [put(f"m{size}-{items}-{n}", f"TURN#{i}") for i in range(items)]
                    started = time.perf_counter()
                    ddb.transact_write_items(TransactItems=writes)
                    times.append(time.perf_counter() - started)
                medians.append(statistics.median(times) * 1000)
            rows.append([size, f"{medians[0]:.1f}", f"{medians[1]:.1f}", f"{medians[1] - medians[0]:+.1f}"])
    return table(["items in the moto table", "3 Puts ms", "4 Puts ms", "the fourth item"], rows)


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
        f"Stubbed delays (measured mean sleep): answer {slept['answer'] * 1000:.1f} ms, "
        f"gate {slept['gate'] * 1000:.1f} ms, DynamoDB {slept['dynamodb'] * 1000:.1f} ms per call. "
        f"Detector `llm`; {turns} measured turns per variant after "
        f"{warmup} warm-up turns each, alternating; each measured turn is the second turn of its own session.",
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
