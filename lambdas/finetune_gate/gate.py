"""One evaluation, from the read questions to the decision: judge every question (or a fixed sample of them
when there are more than `max_questions`), count, compute the win rate, decide. AWS is reached only through
the judge passed in."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from lambdas.finetune_gate.answers import Question, Unreadable
from lambdas.finetune_gate.decision import Decision, Thresholds, decide
from lambdas.finetune_gate.judge import Judgement, PairwiseJudge, judge_all
from lambdas.finetune_gate.win_rate import Counts, WinRate, count, win_rate


@dataclass(frozen=True)
class Evaluation:
    items: tuple[Question | Unreadable, ...]  # what was judged (all lines, or the sample of them)
    lines: int  # the lines the input held, before any sampling
    judgements: tuple[Judgement, ...]
    counts: Counts
    rate: WinRate | None
    decision: Decision


def stable_order(question_id: str) -> str:
    """A key that orders questions the same way on every run, unrelated to the order the file lists them in."""
    return hashlib.sha256(question_id.encode("utf-8")).hexdigest()


def select(items: Sequence[Question | Unreadable], max_questions: int) -> list[Question | Unreadable]:
    """All items when there are at most `max_questions`; else that many, chosen by `stable_order` (the same
    sample on every run of the same file), kept in the file's order."""
    if len(items) <= max_questions:
        return list(items)
    chosen = set(sorted(range(len(items)), key=lambda i: stable_order(items[i].question_id))[:max_questions])
    return [item for i, item in enumerate(items) if i in chosen]


def evaluate(items: Sequence[Question | Unreadable], judge: PairwiseJudge, thresholds: Thresholds, *,
             max_questions: int, concurrency: int, metrics_checks: Mapping[str, Any] | None,
             import_check: Mapping[str, Any] | None = None) -> Evaluation:
    chosen = select(items, max_questions)
    judgements = judge_all(judge, chosen, concurrency=concurrency,
                           failure_budget=thresholds.failure_budget(len(chosen)))
    counts = count(judgements)
    rate = win_rate(counts)
    return Evaluation(items=tuple(chosen), lines=len(items), judgements=tuple(judgements), counts=counts,
                      rate=rate, decision=decide(counts, rate, thresholds, metrics_checks,
                                                               import_check))
