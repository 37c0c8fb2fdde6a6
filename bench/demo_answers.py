"""Demo answers: how long the local demo's offline stand-in for Bedrock (local/answer_model.py) takes to build
its index over local/knowledge/ and to answer a question.

Measured in-process, without AWS: the index alone (read and split every page, count the terms), the whole
answerer as the local runtime builds it once at start (index, retriever, model), then per question the
retrieval alone and the chatbot's real Answerer (retrieval, the reference block, a LangChain invoke of the
extractive model). Questions: every section heading of the help pages and a fixed list of customer
questions, some of which the pages do not cover (those are answered "I don't know" without sources).
"""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from bench.common import median, percentile, table, verdict

BUILDS = 50
ROUNDS = 20  # over every question
BUILD_TARGET_MS = 50.0  # p95, the answerer built once when the local chatbot starts
ANSWER_TARGET_MS = 5.0  # p95 per question: milliseconds, as a stand-in for a model should be
QUESTIONS = [
    "How do I reset my router?", "What does the orange light mean?", "How much is the late payment fee?",
    "Can I block websites for my kids?", "I forgot my password", "What is your phone number?",
    "How do I cancel?", "I'm moving house next month", "My wifi is slow in the bedroom", "Can I pay with cash?",
    "How long does a refund take?", "Is there an outage in my area?", "Can you compensate me for the outage?",
    "What is the capital of France?", "Can I order a pizza?", "Do you have fibre broadband in Manchester?",
]


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def run() -> str:
    from lambdas.chatbot.answer import Answer
    from lambdas.chatbot.settings import ChatbotSettings
    from local.answer_model import KNOWLEDGE, NOT_FOUND, KnowledgeIndex, build_answerer
    from stacks.config import TandemConfig

    settings = ChatbotSettings.from_config(TandemConfig(), sessions_table="tandem-sessions-bench")
    index_ms = [_timed(KnowledgeIndex.from_folder) for _ in range(BUILDS)]
    answerer_ms = [_timed(lambda: build_answerer(settings)) for _ in range(BUILDS)]
    index, answerer = KnowledgeIndex.from_folder(), build_answerer(settings)
    pages = [p for p in KNOWLEDGE.glob("*.md") if p.name != "README.md"]
    headings = [h for p in pages for h in re.findall(r"^## (.+)$", p.read_text(encoding="utf-8"), re.M)]
    questions = QUESTIONS + headings
    answers = [answerer.answer(q, []) for q in questions]  # also warms LangChain up
    if not all(isinstance(a, Answer) for a in answers):
        raise AssertionError(f"a question failed: {[a for a in answers if not isinstance(a, Answer)][:1]}")
    not_found = sum(a.text.startswith(NOT_FOUND) for a in answers if isinstance(a, Answer))
    search_ms, answer_ms = [], []
    for _ in range(ROUNDS):
        for question in questions:
            search_ms.append(_timed(lambda q=question: index.search(q, settings.knowledge_base_results)))
            answer_ms.append(_timed(lambda q=question: answerer.answer(q, [])))

    def row(name: str, values: list[float], target: float | None) -> list[str]:
        p95 = percentile(values, 95)
        return [name, str(len(values)), f"{median(values):.3f}", f"{p95:.3f}", f"{max(values):.3f}",
                f"{target:.0f}" if target else "", verdict(p95, target) if target else ""]

    return "\n".join([
        f"{len(pages)} pages, {len(index.sections)} sections; {len(questions)} questions "
        f"({len(headings)} section headings), {not_found} answered \"not in the help pages\".",
        "",
        table(["step", "n", "median ms", "p95 ms", "max ms", "target p95 ms", "result"], [
            row("index build (read, split, count)", index_ms, None),
            row("answerer build (index, retriever, model)", answerer_ms, BUILD_TARGET_MS),
            row("retrieval per question", search_ms, None),
            row("Answerer.answer per question", answer_ms, ANSWER_TARGET_MS),
        ]),
    ])


def main() -> None:
    print(run())


if __name__ == "__main__":
    main()
