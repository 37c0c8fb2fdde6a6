"""Log-prob drift on ordinary text: did fine-tuning on support answers damage the model's language elsewhere?

Used by training/evaluation.py before and after training. A fixed set of everyday questions and plain
answers, unrelated to any product, scored exactly as the held-out answers are (training/scoring.py: the
answer given the question, mean log-probability per answer token, averaged over the pairs). The set is a
constant so every run, model and algorithm is measured on the same text; a fall after training means the
adapter made ordinary sentences less likely, which the held-out answers alone would not show. Any tokenizer
can score it (a byte-level one spells unknown words out), so the tests' tiny models measure it too.
"""

from __future__ import annotations

from typing import Any

GENERIC_PAIRS = (
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How many days are in a week?", "A week has seven days."),
    ("What colour is the sky on a clear day?", "On a clear day the sky is blue."),
    ("What do plants need to grow?", "Plants need water, light and good soil to grow."),
    ("When do people usually eat breakfast?", "Most people eat breakfast in the morning."),
    ("What is two plus three?", "Two plus three is five."),
    ("Why do we wear coats in winter?", "We wear coats in winter to stay warm when it is cold outside."),
    ("Where do fish live?", "Fish live in rivers, lakes and the sea."),
    ("What does a library lend?", "A library lends books to the people who visit it."),
    ("How do you make a cup of tea?", "Boil water, pour it over a tea bag, wait a few minutes and add milk if you like."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
    ("Which season comes after spring?", "Summer comes after spring."),
)


def rows() -> list[dict[str, Any]]:
    """The pairs as scoring rows (prompt, response; no system prompt)."""
    return [{"prompt": question, "response": answer} for question, answer in GENERIC_PAIRS]
