"""What a run did to the model, measured before and after training: the inputs of the run's checks.

Used by training/job.py: measure() on the base before training and on the tuned model after, kl_to_base()
after, compare() to put them together as metrics.json's "eval" (training/run_checks.py then judges it).
Everything is measured on the eval split (sessions never trained on):

- held-out log-probs: for each row, the mean per-token log-probability of the logged answer given its
  question; averaged over the well-rated rows (rating >= good_min_rating) and over the badly rated ones
  (rating <= bad_max_rating) SEPARATELY, and the margin = well-rated minus badly rated. A rising margin
  alone can hide a damaged model (well-rated answers falling, bad ones falling faster), so both sides are
  kept;
- generic drift: the same mean log-prob on a fixed set of ordinary questions and answers
  (training/generic_text.py);
- generation health: the held-out questions answered greedily (training/generation_health.py);
- sequence KL to the base on the tuned model's own sampled answers (training/sequence_kl.py), after only:
  before training the model is the base.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from training import generation, generation_health, generic_text, scoring, sequence_kl
from training.config import Hyperparameters

logger = logging.getLogger(__name__)

EVAL_BATCH_SIZE = 8


@torch.no_grad()
def response_logprobs(model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
                      is_encoder_decoder: bool, device) -> list[float]:
    items = scoring.encode_rows(tokenizer, rows, "response", is_encoder_decoder=is_encoder_decoder,
                                max_prompt_length=hparams.max_prompt_length,
                                max_response_length=hparams.max_response_length)
    was_training = model.training
    model.eval()
    scores: list[float] = []
    for start in range(0, len(items), EVAL_BATCH_SIZE):
        batch = scoring.collate(items[start:start + EVAL_BATCH_SIZE], is_encoder_decoder=is_encoder_decoder,
                                pad_id=tokenizer.pad_token_id, device=device)
        logits = scoring.response_logits(model, batch)
        scores.extend(scoring.mean_token_logprob(logits, batch["targets"], batch["response_mask"]).tolist())
    model.train(was_training)
    return scores


def margin(model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
           is_encoder_decoder: bool, device) -> dict[str, Any]:
    good = [row for row in rows if row["rating"] >= hparams.good_min_rating]
    bad = [row for row in rows if row["rating"] <= hparams.bad_max_rating]
    result: dict[str, Any] = {"good_rows": len(good), "bad_rows": len(bad), "good_mean_logprob": None,
                              "bad_mean_logprob": None, "margin": None}
    if good:
        scores = response_logprobs(model, tokenizer, good, hparams, is_encoder_decoder=is_encoder_decoder,
                                   device=device)
        result["good_mean_logprob"] = sum(scores) / len(scores)
    if bad:
        scores = response_logprobs(model, tokenizer, bad, hparams, is_encoder_decoder=is_encoder_decoder,
                                   device=device)
        result["bad_mean_logprob"] = sum(scores) / len(scores)
    if good and bad:
        result["margin"] = result["good_mean_logprob"] - result["bad_mean_logprob"]
    else:
        logger.warning("the eval split has %d well-rated and %d badly rated rows: no margin without both",
                       len(good), len(bad))
    return result


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def prompts(rows: list[dict[str, Any]], hparams: Hyperparameters) -> list[generation.Prompt]:
    return generation.held_out_prompts(rows, hparams.eval_prompts)


def measure(model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *, is_encoder_decoder: bool,
            device) -> dict[str, Any]:
    """One model's measures: the margin's parts, the generic text's log-prob and the generation health."""
    result = margin(model, tokenizer, rows, hparams, is_encoder_decoder=is_encoder_decoder, device=device)
    result["generic_mean_logprob"] = _mean(response_logprobs(model, tokenizer, generic_text.rows(), hparams,
                                                             is_encoder_decoder=is_encoder_decoder, device=device))
    result["generation"] = generation_health.measure(
        model, tokenizer, prompts(rows, hparams), is_encoder_decoder=is_encoder_decoder, device=device,
        max_prompt_length=hparams.max_prompt_length, max_new_tokens=hparams.eval_max_new_tokens)
    return result


def kl_to_base(peft_model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
               is_encoder_decoder: bool, device) -> dict[str, Any]:
    return sequence_kl.estimate(peft_model, tokenizer, prompts(rows, hparams), is_encoder_decoder=is_encoder_decoder,
                                device=device, max_prompt_length=hparams.max_prompt_length,
                                max_new_tokens=hparams.eval_max_new_tokens, samples_per_prompt=hparams.eval_samples,
                                seed=hparams.seed)


CHANGES = ("margin", "good_mean_logprob", "bad_mean_logprob", "generic_mean_logprob")


def compare(before: dict[str, Any], after: dict[str, Any], kl: dict[str, Any] | None = None) -> dict[str, Any]:
    """metrics.json's "eval": both measures, after minus before for each log-prob (None where one side was
    not measured), and the tuned model's KL to the base."""
    delta = {name: after[name] - before[name] if before.get(name) is not None and after.get(name) is not None
             else None for name in CHANGES}
    return {"before": before, "after": after, "delta": delta, "kl_to_base": kl,
            "margin_before": before["margin"], "margin_after": after["margin"], "margin_delta": delta["margin"]}
