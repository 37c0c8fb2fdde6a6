"""How far the tuned model moved from the base, measured on answers the tuned model writes itself.

Used by training/evaluation.py after training. For each held-out prompt x, samples_per_prompt answers
y ~ p_tuned(. | x) are drawn (training/generation.py: seeded, temperature 1, no truncation of the
distribution, at most max_new_tokens tokens) and scored by both models on exactly the drawn tokens:

    sequence_kl = mean over samples of [log p_tuned(y | x) - log p_base(y | x)]
    log p(y | x) = sum over the answer's tokens (its stop token included) of log p(y_t | x, y_<t)

a Monte Carlo estimate of KL(p_tuned || p_base) over answers, in nats per answer (the KL the RLHF
literature budgets, e.g. Ziegler et al. 2019). An answer cut at max_new_tokens counts its first
max_new_tokens tokens only, so on long answers this is the KL of their beginnings: a lower bound of the
whole answers' KL. One estimate may come out below zero when the models barely differ; the standard error
says how far to trust it. The base is the same PEFT model with its adapter disabled (as training/reward_pg.py's
reference is), so nothing is loaded twice.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from training import generation, scoring

SCORE_BATCH_SIZE = 16


@torch.no_grad()
def sequence_logprobs(model, items: list[scoring.Encoded], *, is_encoder_decoder: bool, pad_id: int,
                       device) -> list[float]:
    scores: list[float] = []
    for start in range(0, len(items), SCORE_BATCH_SIZE):
        batch = scoring.collate(items[start:start + SCORE_BATCH_SIZE], is_encoder_decoder=is_encoder_decoder,
                                pad_id=pad_id, device=device)
        logits = scoring.response_logits(model, batch)
        scores.extend(scoring.sequence_logprob(logits, batch["targets"], batch["response_mask"]).tolist())
    return scores


def log_ratios(peft_model, items: list[scoring.Encoded], *, is_encoder_decoder: bool, pad_id: int,
               device) -> list[float]:
    """log p_tuned(y|x) - log p_base(y|x) per item; the base is the model with its adapter disabled."""
    was_training = peft_model.training
    peft_model.eval()
    args: dict[str, Any] = {"is_encoder_decoder": is_encoder_decoder, "pad_id": pad_id, "device": device}
    tuned = sequence_logprobs(peft_model, items, **args)
    with peft_model.disable_adapter():
        base = sequence_logprobs(peft_model, items, **args)
    peft_model.train(was_training)
    return [t - b for t, b in zip(tuned, base, strict=True)]


def estimate(peft_model, tokenizer, prompts: list[generation.Prompt], *, is_encoder_decoder: bool, device,
             max_prompt_length: int, max_new_tokens: int, samples_per_prompt: int, seed: int) -> dict[str, Any]:
    samples = generation.generate(peft_model, tokenizer, prompts, is_encoder_decoder=is_encoder_decoder,
                                  device=device, max_prompt_length=max_prompt_length, max_new_tokens=max_new_tokens,
                                  samples_per_prompt=samples_per_prompt, sample=True, seed=seed)
    items = [scoring.Encoded(prompt_ids=s.prompt_ids, response_ids=s.ids) for s in samples if s.ids]
    ratios = log_ratios(peft_model, items, is_encoder_decoder=is_encoder_decoder, pad_id=tokenizer.pad_token_id,
                        device=device)
    count = len(ratios)
    tokens = sum(len(item.response_ids) for item in items)
    mean = sum(ratios) / count if count else None
    stderr = None
    if mean is not None and count > 1:
        stderr = math.sqrt(sum((r - mean) ** 2 for r in ratios) / (count - 1) / count)
    return {"sequence_kl": mean, "sequence_kl_stderr": stderr,
            "per_token_kl": sum(ratios) / tokens if tokens else None,
            "samples": count, "prompts": len(prompts), "samples_per_prompt": samples_per_prompt,
            "max_new_tokens": max_new_tokens, "mean_sample_length": tokens / count if count else None, "seed": seed}
