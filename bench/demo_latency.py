"""Demo latency: `make demo` from start to the first answer, a turn through the local server, and how long an
expert's message takes to reach the customer's page.

Everything goes through the demo as a user meets it: `python -m local --port 0` in its own process, HTTP to
its one socket.
- Start to first answer: from launching the process to the first answer to POST /prod/chat, on a warm
  install (the synthesized templates cached: one untimed start first fills the cache when it is empty).
- A turn: POST /prod/chat as the customer's page sends it (with a local ID token), questions from the sample
  pages and some they do not cover, a new conversation every SESSION_TURNS turns.
- Expert message to the customer: an escalation, accepted through the expert API; then per message, the
  expert's reply is posted, and the time runs from the expert's send (the POST leaving) to the customer's
  client holding the message:
  - push: a client connected to the live channel (ws://.../live, as the page connects) receives the event;
  - polling fallback: a client polls GET /prod/chat/{id}/messages as the page does while the channel is down
    (every CUSTOMER_POLL_MS, starting at a random phase) until the reply is there; polling bounds it by about
    one interval plus a request.
  The page puts a pushed turn on screen in the same task that receives it (tests/browser/test_live_channel.py).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from websockets.sync.client import connect

from bench.common import ROOT, median, percentile, table, verdict
from local.demo import CUSTOMER_POLL_MS, DEMO_CONFIG
from local.templates import CACHE_DIR, inputs_digest
from testing.waiting import wait_for

STARTS = 3
START_TARGET_S = 30.0  # warm start to the first answer: "seconds, not minutes"
TURNS = 60
SESSION_TURNS = 5
TURN_TARGET_P95_MS = 1000.0
EXPERT_MESSAGES = 12
APPEAR_TARGET_P95_MS = CUSTOMER_POLL_MS + 1000.0  # one poll interval plus the request
PUSH_TARGET_P50_MS = 250.0
WAIT = 30.0  # seconds any single wait may take
QUESTIONS = ["How do I set up my router?", "What does the orange light mean?", "How long does a refund take?",
             "Can I block websites for my kids?", "My wifi is slow in the bedroom", "What is the capital of France?"]
URL_LINE = re.compile(r"Customer chat\s+(http://127\.0\.0\.1:\d+)/")


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    base_url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def launch() -> RunningDemo:
    process = subprocess.Popen([sys.executable, "-m", "local", "--port", "0"], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        found = URL_LINE.search(line)
        if found:
            return RunningDemo(process, found.group(1))
    raise RuntimeError("the demo exited before printing its URL:\n" + "".join(seen[-20:]))


def signed_in(base_url: str, name: str = "bench") -> dict[str, str]:
    """The header the customer's page sends: an ID token from the demo's local sign-in."""
    reply = httpx.post(f"{base_url}/local/cognito/sign-in", json={"name": name}, timeout=30)
    reply.raise_for_status()
    return {"Authorization": reply.json()["idToken"]}


def first_answer_seconds() -> tuple[float, RunningDemo]:
    started = time.perf_counter()
    demo = launch()
    response = httpx.post(f"{demo.base_url}/prod/chat", headers=signed_in(demo.base_url),
                          json={"message": QUESTIONS[0]}, timeout=60)
    response.raise_for_status()
    return time.perf_counter() - started, demo


def turns(client: httpx.Client, user: dict[str, str]) -> list[float]:
    timings, session = [], None
    for i in range(TURNS):
        body: dict[str, Any] = {"message": QUESTIONS[i % len(QUESTIONS)]}
        if session and i % SESSION_TURNS:
            body["session_id"] = session
        started = time.perf_counter()
        response = client.post("/prod/chat", headers=user, json=body)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
        session = response.json()["session_id"]
    return timings




def accepted_escalation(client: httpx.Client, user: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """A new escalated session, accepted: (session id, the console path, its work link's fields)."""
    reply = client.post("/prod/chat", headers=user, json={"message": "This is useless, I want a human now!"}).json()
    escalation_id = reply["escalation"]["escalation_id"]

    def review_link() -> str | None:
        for mail in client.get("/local/api/mailbox").json()["mails"]:
            found = re.search(rf"(http://\S+/escalations/{escalation_id}\?\S+)", mail["body"])
            if found:
                return found.group(1)
        return None

    link = urlsplit(wait_for(review_link, what="escalation email", timeout=WAIT))
    fields = {k: v[0] for k, v in parse_qs(link.query).items()}
    accepted = client.post(f"{link.path}/accept", data={**fields, "expert": "Bench Expert"},
                           headers={"Accept": "application/json"})
    accepted.raise_for_status()
    console = urlsplit(accepted.json()["console_url"])
    return reply["session_id"], console.path.removesuffix("/console"), \
        {k: v[0] for k, v in parse_qs(console.query).items()}


class Pushed:
    """A customer's live-channel connection, noting when each pushed turn's text arrived."""

    def __init__(self, base_url: str, user: dict[str, str]):
        self.arrived: dict[str, float] = {}
        self.socket = connect(base_url.replace("http://", "ws://") + "/live",
                              subprotocols=["tandem.v1", user["Authorization"]],  # type: ignore[list-item]
                              origin=base_url)  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        try:
            for message in self.socket:
                event = json.loads(message)
                if event.get("type") == "turn":
                    self.arrived.setdefault(event["turn"]["text"], time.perf_counter())
        except Exception:  # noqa: BLE001 (closed at the end of the run)
            return

    def close(self) -> None:
        self.socket.close()


def appear_times(client: httpx.Client, user: dict[str, str], *, push: bool) -> list[float]:
    session, escalation_path, work = accepted_escalation(client, user)
    poll = CUSTOMER_POLL_MS / 1000
    live = Pushed(str(client.base_url).rstrip("/"), user) if push else None
    timings = []
    try:
        for i in range(EXPERT_MESSAGES):
            text = f"Expert message {i} ({uuid.uuid4().hex[:6]})"
            began = time.perf_counter()
            sent = client.post(f"{escalation_path}/reply", data={**work, "text": text, "reply_id": str(uuid.uuid4())},
                               headers={"Accept": "application/json"})
            sent.raise_for_status()
            if live is not None:
                arrived = wait_for(lambda text=text: live.arrived.get(text), what="the pushed reply", timeout=WAIT,
                                   interval=0.002)
                timings.append((arrived - began) * 1000)
                continue
            time.sleep(random.uniform(0, poll))  # the page's next poll comes at some point of its interval
            while True:
                messages = client.get(f"/prod/chat/{session}/messages", headers=user).json()["messages"]
                if any(m["text"] == text for m in messages):
                    timings.append((time.perf_counter() - began) * 1000)
                    break
                time.sleep(poll)
    finally:
        if live is not None:
            live.close()
    return timings


def run() -> str:
    starts: list[float] = []
    demo = None
    if not (CACHE_DIR / f"{inputs_digest(DEMO_CONFIG)}.json").exists():
        seconds, cold = first_answer_seconds()
        cold.stop()
        starts_note = f"The template cache was empty: one untimed cold start ({seconds:.1f} s) filled it."
    else:
        starts_note = "The template cache was warm."
    for i in range(STARTS):
        seconds, demo = first_answer_seconds()
        starts.append(seconds)
        if i < STARTS - 1:
            demo.stop()
    assert demo is not None
    try:
        with httpx.Client(base_url=demo.base_url, timeout=60) as client:
            user = signed_in(demo.base_url)
            turn_ms = turns(client, user)
            push_ms = appear_times(client, user, push=True)
            appear_ms = appear_times(client, user, push=False)
    finally:
        demo.stop()

    def row(name: str, values: list[float], unit: str, target: float, *, on_p50: bool = False) -> list[str]:
        p50, p95 = median(values), percentile(values, 95)
        return [name, str(len(values)), f"{p50:.1f} {unit}", f"{p95:.1f} {unit}", f"{max(values):.1f} {unit}",
                f"{target:.0f} {unit} ({'p50' if on_p50 else 'p95'})", verdict(p50 if on_p50 else p95, target)]

    return "\n".join([
        f"{starts_note} The customer's page polls every {CUSTOMER_POLL_MS} ms (local/demo.py CUSTOMER_POLL_MS).",
        "",
        table(["measure", "n", "p50", "p95", "max", "target", "result"], [
            row("start to first answer (warm)", starts, "s", START_TARGET_S),
            row("turn through the local server", turn_ms, "ms", TURN_TARGET_P95_MS),
            row("expert's send to the customer: push", push_ms, "ms", PUSH_TARGET_P50_MS, on_p50=True),
            row("expert's send to the customer: polling fallback", appear_ms, "ms", APPEAR_TARGET_P95_MS),
        ]),
        "",
        f"Push is {median(appear_ms) / max(median(push_ms), 0.001):.1f} times faster than the polling fallback at "
        "the median (both measured in this run).",
    ])


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
