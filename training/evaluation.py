"""The held-out check: does the model prefer the answers experts rated well over those they rated badly?

Used by training/job.py before and after training, on the eval split's reward rows (sessions never seen in
training). For each row: the mean per-token log-probability of the logged response given the prompt. The
margin is the average over well-rated rows (rating >= good_min_rating) minus the average over badly rated
rows (rating <= bad_max_rating); training should raise it.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from training import scoring
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


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    delta = None
    if before["margin"] is not None and after["margin"] is not None:
        delta = after["margin"] - before["margin"]
    return {"before": before, "after": after, "margin_before": before["margin"],
            "margin_after": after["margin"], "margin_delta": delta}
