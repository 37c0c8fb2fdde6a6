"""Generation health: does the model still write answers that end, vary and say something?

Used by training/evaluation.py on the base model (before training) and the tuned one (after), each answering
the same held-out prompts greedily (the argmax at each step: deterministic, and where a collapsed model shows
it first, repeating one token to the length limit). Every measure is over the answers' tokens (the stop token
excluded):

    stop_rate              share of answers that ended with a stop token within max_new_tokens
    mean_length            mean number of tokens per answer
    empty_share            share of answers whose text is empty or whitespace once special tokens are dropped
    distinct_1, distinct_2 distinct n-grams / all n-grams, over all answers together (Li et al. 2016,
                           "A Diversity-Promoting Objective Function for Neural Conversation Models"); 0 when
                           the answers hold no n-gram at all
    longest_repeat_run     the longest run of one token repeated back to back, in any answer
    mean_longest_repeat_run  that run per answer, averaged over the answers

health() is a pure function of the answers; measure() generates them.
"""

from __future__ import annotations

from typing import Any

from training import generation

EXAMPLES = 3  # answers kept in metrics.json, so a reader sees what the numbers describe


def distinct_n(answers: list[list[int]], n: int) -> float:
    grams = [tuple(ids[i:i + n]) for ids in answers for i in range(len(ids) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def longest_run(ids: list[int]) -> int:
    longest = current = 0
    previous = None
    for token in ids:
        current = current + 1 if token == previous else 1
        previous = token
        longest = max(longest, current)
    return longest


def health(answers: list[generation.Generated]) -> dict[str, Any]:
    tokens = [answer.answer_ids for answer in answers]
    count = len(answers)
    runs = [longest_run(ids) for ids in tokens]
    return {
        "answers": count,
        "stop_rate": sum(answer.stopped for answer in answers) / count if count else None,
        "mean_length": sum(len(ids) for ids in tokens) / count if count else None,
        "empty_share": sum(not answer.text.strip() for answer in answers) / count if count else None,
        "distinct_1": distinct_n(tokens, 1),
        "distinct_2": distinct_n(tokens, 2),
        "longest_repeat_run": max(runs, default=0),
        "mean_longest_repeat_run": sum(runs) / count if count else None,
    }


def measure(model, tokenizer, prompts: list[generation.Prompt], *, is_encoder_decoder: bool, device,
            max_prompt_length: int, max_new_tokens: int) -> dict[str, Any]:
    answers = generation.generate(model, tokenizer, prompts, is_encoder_decoder=is_encoder_decoder, device=device,
                                  max_prompt_length=max_prompt_length, max_new_tokens=max_new_tokens)
    return {**health(answers), "max_new_tokens": max_new_tokens,
            "examples": [answer.text for answer in answers[:EXAMPLES]]}

