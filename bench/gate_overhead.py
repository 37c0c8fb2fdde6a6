"""Gate overhead: whole-turn latency of the real chatbot handler, gated vs ungated vs sequential.

Harness (the same as the tests' `aws`, `bedrock` and `gate_bedrock` fixtures in tests/lambdas/chatbot/conftest.py):
- moto serves DynamoDB in-process (the sessions table as DataStack defines it, created empty: testing/moto_aws.py);
- the answer's bedrock-runtime client and the gate's (purpose="gate") are botocore Stubbers returning canned
  Converse replies (a text answer; a GateVerdict toolUse for the `llm` detector);
- each Stubber-wrapped client sleeps ANSWER_DELAY / GATE_DELAY per Converse call, standing in for Bedrock.

The delay hook is `after-call.bedrock-runtime.Converse`. A `before-call` hook does NOT work: botocore orders the
Stubber's wildcard `before-call.*.*` handler ahead of an exact-name one (its prefix trie puts wildcard nodes
first) and `emit_until_response` stops at the Stubber's response, so a sleeper there never runs, whether it
was registered before or after `activate()`. `delay_check()` measures both hooks and refuses to run if the
sleep is not really there.

Variants (one service object built by handler.dependencies.get() from the environment; only two attributes differ):
- gated:      as deployed, detector and answer submitted to the service's 2-thread executor at once;
- ungated:    service.detector replaced by a detector that returns a neutral reading at once (no Bedrock call);
- sequential: service.executor replaced by an executor that runs each submitted call inline, so the gate
              runs to completion before the answer starts (ChatService.handle submits the gate first).
The variants are interleaved turn by turn (rotating order), over conversations of TURNS_PER_SESSION turns:
turn 1 opens a session, the next ones continue it (GetItem + Query of the history, then the transaction; the
transcript is written later, by the outbox). Every variant runs the same message script against the same table.

Also reported, as evidence for where a turn's time goes: the first turn after the build (and the clients it
still creates), the storage calls a turn makes, and a gate slower than the answer (SLOW_GATE_DELAY).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from collections import Counter
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.common import OFFLINE_ENV, REGION, ROOT, TABLE, chatbot_env, patched_environ, percentile, table, verdict
from testing.bedrock_replies import converse_text, converse_verdict

ANSWER_DELAY = 0.300  # seconds per Converse call of the answer
GATE_DELAY = 0.200  # seconds per Converse call of the gate
TURNS = 60  # measured turns per variant
WARMUP_TURNS = 5  # per variant, not measured
TURNS_PER_SESSION = 5
SLOW_GATE_DELAY = 0.600  # the gate slower than the answer: how much does the turn wait?
SLOW_GATE_TURNS = 8
TARGET_RATIO = 1.05  # gated p50 / ungated p50: the gate, normalisation and rules included, must stay off the critical path

CUSTOMER = "6f1c1c4e-1111-4a5b-9c2d-0123456789ab"
MESSAGES = [
    "How do I reset my password?",
    "Where can I see my invoices for last year?",
    "Can I change the email address on my account?",
    "What payment methods do you accept?",
    "How long does shipping to Canada usually take?",
    "Is there a way to export my order history as a spreadsheet?",
    "Do you offer discounts for annual plans?",
]
ANSWER_TEXT = (
    "You can reset your password from the sign-in page: choose 'Forgot password', enter the email address on "
    "your account and follow the link we send you. The link is valid for one hour. If the email does not arrive "
    "within a few minutes, check your spam folder or ask me to resend it. Once you have set a new password, "
    "every device that was signed in will be asked to sign in again, which keeps your account safe."
)

GATED = "gated (concurrent, as deployed)"
UNGATED = "ungated (no-op detector)"
SEQUENTIAL = "sequential (gate, then answer)"


class Sleeper:
    """A botocore event handler that stands in for Bedrock's latency; counts and measures what it slept."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.calls = 0
        self.slept = 0.0

    def __call__(self, **_kwargs: Any) -> None:
        started = time.perf_counter()
        time.sleep(self.seconds)
        self.slept += time.perf_counter() - started
        self.calls += 1


class NeutralDetector:
    """The ungated variant: no Bedrock call, a neutral verdict at once."""

    name = "none"

    def detect(self, text: str) -> Any:
        from lambdas.chatbot.sentiment import GateReading
        from lambdas.common.transcript import Sentiment

        return GateReading(Sentiment(label="neutral", score=1.0, detector=self.name))


class InlineExecutor(Executor):
    """The sequential variant: runs each submitted call in the caller's thread before returning its future."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # noqa: BLE001 (handed to the caller through the future)
            future.set_exception(error)
        return future


def stubbed_bedrock(purpose: str, delay: float, *, hook: str = "after-call") -> tuple[Any, Any, Sleeper]:
    """(client, stubber, sleeper): a bedrock-runtime client that answers from a Stubber after `delay` seconds."""
    import boto3
    from botocore.stub import Stubber

    from lambdas.common import clients

    client = boto3.client("bedrock-runtime", region_name=REGION)
    sleeper = Sleeper(delay)
    client.meta.events.register(f"{hook}.bedrock-runtime.Converse", sleeper)  # registered before activate()
    stubber = Stubber(client)
    stubber.activate()
    if purpose:
        clients.set_client("bedrock-runtime", client, purpose=purpose)
    return client, stubber, sleeper


def delay_check() -> list[list[Any]]:
    """Times one direct Converse call on a stubbed client per hook; the after-call hook must really sleep."""
    rows = []
    for hook in ("before-call", "after-call"):
        client, stubber, sleeper = stubbed_bedrock("", ANSWER_DELAY, hook=hook)
        stubber.add_response("converse", converse_text("hello"))
        started = time.perf_counter()
        client.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "hi"}]}])
        elapsed = time.perf_counter() - started
        rows.append([f"`{hook}.bedrock-runtime.Converse`", f"{ANSWER_DELAY * 1000:.0f}", f"{elapsed * 1000:.1f}",
                     sleeper.calls, "yes" if sleeper.calls and elapsed >= ANSWER_DELAY else "no"])
        if hook == "after-call" and elapsed < ANSWER_DELAY:
            raise RuntimeError(f"the {hook} sleeper did not delay the call ({elapsed:.3f} s)")
    return rows


@dataclass
class Conversation:
    session_id: str | None = None
    turns: int = 0


@dataclass
class VariantRun:
    name: str
    detector: Any
    executor: Any
    calls_gate: bool
    conversation: Conversation = field(default_factory=Conversation)
    latencies: list[float] = field(default_factory=list)


class CallCounter:
    """Counts the AWS operations a client sends (a botocore `before-call` handler), per kind of turn."""

    def __init__(self) -> None:
        self.current: Counter[str] = Counter()

    def __call__(self, event_name: str, **_kwargs: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.current[f"{service}:{operation}"] += 1


@dataclass
class Findings:
    first_turn_ms: float = 0.0
    first_turn_clients: list[str] = field(default_factory=list)
    calls_per_turn: dict[str, Counter[str]] = field(default_factory=dict)
    slow_gate: dict[str, list[float]] = field(default_factory=dict)
    slept: dict[str, float] = field(default_factory=dict)


def run(turns: int = TURNS, warmup: int = WARMUP_TURNS) -> str:
    env = {**OFFLINE_ENV, **chatbot_env(sentiment_detector="llm"), "POWERTOOLS_TRACE_DISABLED": "true"}
    with patched_environ(env), warnings.catch_warnings():
        # Powertools warns on every turn without application metrics (none are emitted on a plain answer).
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        return _run(turns, warmup)


def _run(turns: int, warmup: int) -> str:
    from lambdas.chatbot import handler as chatbot_handler
    from lambdas.common import clients
    from local.lambda_context import lambda_context
    from testing.moto_aws import MotoAws

    check_rows = delay_check()
    context = lambda_context("tandem-chatbot", memory_mb=1024, request_id="req-bench", qualifier="live")
    event_template = json.loads((ROOT / "tests" / "events" / "chat_request.json").read_text())
    event_template["requestContext"]["authorizer"]["claims"]["sub"] = CUSTOMER
    findings = Findings()
    counter = CallCounter()

    with MotoAws() as aws:
        chatbot_handler.dependencies.reset()
        aws.create("sessions_table", TABLE)
        _, answer_stub, answer_sleeper = stubbed_bedrock("default", ANSWER_DELAY)
        _, gate_stub, gate_sleeper = stubbed_bedrock("gate", GATE_DELAY)

        service = chatbot_handler.dependencies.get()  # built from CHATBOT_SETTINGS, as Lambda's init does
        if service.detector.name != "llm":
            raise RuntimeError(f"expected the llm detector, got {service.detector.name}")
        variants = [
            VariantRun(GATED, service.detector, service.executor, calls_gate=True),
            VariantRun(UNGATED, NeutralDetector(), service.executor, calls_gate=False),
            VariantRun(SEQUENTIAL, service.detector, InlineExecutor(), calls_gate=True),
        ]

        def turn(variant: VariantRun, index: int) -> float:
            service.detector, service.executor = variant.detector, variant.executor
            conversation = variant.conversation
            kind = "continued session" if conversation.session_id else "new session"
            body: dict[str, Any] = {"message": MESSAGES[index % len(MESSAGES)]}
            if conversation.session_id is not None:
                body["session_id"] = conversation.session_id
            event = {**event_template, "body": json.dumps(body)}
            answer_stub.add_response("converse", converse_text(ANSWER_TEXT))
            if variant.calls_gate:
                gate_stub.add_response("converse", converse_verdict("neutral", 0.9))
            answer_calls, gate_calls = answer_sleeper.calls, gate_sleeper.calls
            counter.current = Counter()
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its EMF metrics on stdout
                started = time.perf_counter()
                result = chatbot_handler.handler(event, context)
                elapsed = time.perf_counter() - started
            reply = json.loads(result["body"])
            if result["statusCode"] != 200 or reply.get("escalated") or reply.get("error"):
                raise RuntimeError(f"{variant.name}: unexpected reply {result['statusCode']} {reply}")
            answer_stub.assert_no_pending_responses()
            gate_stub.assert_no_pending_responses()
            if answer_sleeper.calls != answer_calls + 1 or gate_sleeper.calls != gate_calls + int(variant.calls_gate):
                raise RuntimeError(f"{variant.name}: Bedrock calls were not what the variant makes")
            findings.calls_per_turn.setdefault(kind, counter.current)
            conversation.turns += 1
            conversation.session_id = reply["session_id"] if conversation.turns % TURNS_PER_SESSION else None
            return elapsed

        # The first turn after the build: which clients does it still have to create, and at what cost?
        # (clients._clients is the cache of lambdas/common/clients.py, read only; the timing wrapper is removed
        # right after this turn.)
        real_client = clients.client

        def timed_client(service_name: str, *, purpose: str = "default") -> Any:
            if (service_name, purpose) in clients._clients:
                return real_client(service_name, purpose=purpose)
            started = time.perf_counter()
            created = real_client(service_name, purpose=purpose)
            findings.first_turn_clients.append(
                f"{service_name} ({purpose}) {(time.perf_counter() - started) * 1000:.0f} ms")
            return created

        clients.client = timed_client
        try:
            findings.first_turn_ms = turn(variants[0], 0) * 1000
        finally:
            clients.client = real_client
        for service_name in ("dynamodb", "s3"):
            clients.client(service_name).meta.events.register("before-call", counter)
        for index in range(warmup):
            for variant in variants:
                turn(variant, index)
        findings.calls_per_turn.clear()
        for index in range(turns):
            shift = index % len(variants)
            for variant in variants[shift:] + variants[:shift]:  # rotate who goes first each round
                variant.latencies.append(turn(variant, index))
        findings.slept = {"answer": answer_sleeper.slept / answer_sleeper.calls,
                          "gate": gate_sleeper.slept / gate_sleeper.calls}
        # A gate slower than the answer: the turn waits for it (ChatService.handle has no deadline on the gate).
        gate_sleeper.seconds = SLOW_GATE_DELAY
        for variant in variants[:2]:
            findings.slow_gate[variant.name] = []
        for index in range(SLOW_GATE_TURNS):
            for variant in variants[:2]:
                findings.slow_gate[variant.name].append(turn(variant, index))
        service.detector, service.executor = variants[0].detector, variants[0].executor
        clients.reset()
        chatbot_handler.dependencies.reset()
    return report(variants, check_rows, findings, turns, warmup)


def _ms(values: list[float], q: float) -> float:
    return percentile(values, q) * 1000


def report(variants: list[VariantRun], check_rows: list[list[Any]], findings: Findings, turns: int,
           warmup: int) -> str:
    by_name = {v.name: v for v in variants}
    ungated_p50 = _ms(by_name[UNGATED].latencies, 50)
    rows = [[v.name, len(v.latencies), f"{_ms(v.latencies, 50):.1f}", f"{_ms(v.latencies, 95):.1f}",
             f"{min(v.latencies) * 1000:.1f}", f"{max(v.latencies) * 1000:.1f}",
             f"{_ms(v.latencies, 50) / ungated_p50:.3f}"] for v in variants]
    gated_p50 = _ms(by_name[GATED].latencies, 50)
    gated_ratio = gated_p50 / ungated_p50
    sequential_ratio = _ms(by_name[SEQUENTIAL].latencies, 50) / ungated_p50
    with_fixed_work = (ungated_p50 + GATE_DELAY * 1000) / ungated_p50
    call_rows = [[kind, sum(calls.values()), ", ".join(f"{op} x{n}" for op, n in sorted(calls.items()))]
                 for kind, calls in sorted(findings.calls_per_turn.items())]
    slow_rows = [[name, len(values), f"{_ms(values, 50):.1f}", f"{max(values) * 1000:.1f}"]
                 for name, values in findings.slow_gate.items()]
    lines = [
        f"Bedrock stand-in: answer {ANSWER_DELAY * 1000:.0f} ms, gate {GATE_DELAY * 1000:.0f} ms per Converse call "
        f"(measured mean sleep: answer {findings.slept['answer'] * 1000:.1f} ms, gate "
        f"{findings.slept['gate'] * 1000:.1f} ms). Detector `llm`; {turns} measured turns per variant after "
        f"{warmup} warm-up turns each, interleaved; conversations of {TURNS_PER_SESSION} turns (a new session, "
        f"then {TURNS_PER_SESSION - 1} continued).",
        "",
        "Delay check (one direct Converse call on a Stubber-wrapped client, per hook):",
        "",
        table(["hook", "delay ms", "call ms", "sleeper ran", "delayed"], check_rows),
        "",
        table(["variant", "turns", "p50 ms", "p95 ms", "min ms", "max ms", "p50 / ungated p50"], rows),
        "",
        table(["ratio", "value", "target", "result"], [
            ["gated p50 / ungated p50", f"{gated_ratio:.3f}", f"<= {TARGET_RATIO:.2f}",
             verdict(gated_ratio, TARGET_RATIO)],
            ["sequential p50 / ungated p50", f"{sequential_ratio:.3f}",
             f"(delays alone: {(ANSWER_DELAY + GATE_DELAY) / ANSWER_DELAY:.2f}; "
             f"with this turn's other work: {with_fixed_work:.2f})", "what the concurrent gate avoids"],
        ]),
        "",
        f"Gate overhead at p50: {gated_p50 - ungated_p50:+.1f} ms. Work besides the answer's Bedrock wait "
        f"(moto DynamoDB + S3, LangChain, Powertools) at ungated p50: {ungated_p50 - ANSWER_DELAY * 1000:.1f} ms.",
        "",
        f"First turn after the service was built (gated, new session, before the warm-up): "
        f"{findings.first_turn_ms:.1f} ms vs gated p50 {gated_p50:.1f} ms; clients it had to create (not built "
        f"at init, so not in a SnapStart snapshot either): "
        f"{', '.join(findings.first_turn_clients) or 'none'}.",
        "",
        "Storage calls per turn (moto; the same for every variant), all on the response path:",
        "",
        table(["turn", "calls", "operations"], call_rows),
        "",
        f"Gate slower than the answer ({SLOW_GATE_DELAY * 1000:.0f} ms vs {ANSWER_DELAY * 1000:.0f} ms), "
        f"{SLOW_GATE_TURNS} turns each, interleaved:",
        "",
        table(["variant", "turns", "p50 ms", "max ms"], slow_rows),
    ]
    return "\n".join(lines)


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
