"""The relevance scale Tandem's raters use, in one place: the question they are asked and what each of the
five ratings means.

The raters' console (web/rate.html) shows these words under its 1-5 scale, docs/rating-console.md lists
them, and the evaluation gate's judge (lambdas/finetune_gate/judge.py) is given them as its rubric, so a
model is judged by the rule its training ratings were given by. The page and the doc are static files:
tests/lambdas/common/test_relevance_scale.py checks that they say exactly what this module says.
"""

from __future__ import annotations

RELEVANCE_QUESTION = "How relevant is the answer to the question?"
# rating -> what it means, lowest first
RELEVANCE_MEANINGS: dict[int, str] = {
    1: "Irrelevant or wrong",
    2: "Mostly off: touches the topic, does not help",
    3: "Partly answers it: something important is missing or unclear",
    4: "Answers it, with small gaps or mistakes",
    5: "Fully answers it, correctly",
}
LOWEST, HIGHEST = min(RELEVANCE_MEANINGS), max(RELEVANCE_MEANINGS)


def rubric() -> str:
    """The scale as lines of text ("1: Irrelevant or wrong"), for a prompt."""
    return "\n".join(f"{rating}: {meaning}" for rating, meaning in RELEVANCE_MEANINGS.items())
