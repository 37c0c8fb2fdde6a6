"""Algorithm `reward-pg`: learning from LOGGED answers rated 1-5, with a bounded push on the bad ones.

Used by training/job.py. It keeps the reference design's intent (each human score used directly as the
reward, LoRA on a frozen base) with maintained pieces: TRL 1.16 has no PPO, and the answers were already
generated and rated, so there is nothing to sample. Per row, with reward r = (rating - 3) / 2 in [-1, 1]
(the dataset's; its baseline is the rating scale's midpoint, 3: "neither good nor bad" moves nothing):

    loss = -max(r, 0) * mean_t log p(y_t)                                      well-rated: likelihood
           + max(-r, 0) * (2 / npo_beta) * softplus(npo_beta * mean_t log(p(y_t) / p_ref(y_t)))   badly rated: NPO
           + kl_coef * sum_t KL(p(. | y_<t) || p_ref(. | y_<t))                 the whole answer's KL

the means and the sum over the answer's tokens y_t given the prompt and the earlier tokens. This is NPO with a
retain loss and a KL regulariser (Zhang et al., "Negative Preference Optimization: From Catastrophic Collapse
to Effective Unlearning", arXiv:2404.05868): the badly rated answers are the "forget" set, the well-rated
ones the "retain" set. NPO's term is bounded below (by 0) and its gradient is the unlikelihood gradient
times 2 * sigmoid(npo_beta * log-ratio), which fades as the bad answer becomes unlikely compared with the
base (half the push at 1/npo_beta nats per token below it, a tenth at 3/npo_beta), instead of moving
probability onto other tokens for ever (plain unlikelihood, the previous objective, whose gradient never
fades). The log-ratio is averaged per token (the length normalisation SimNPO, arXiv:2410.07163,
argues for), as the likelihood term is, so an answer's length does not scale its push.

The reference is the frozen base: the same PEFT model with its adapter disabled, run without gradients. The
KL is exact (summed over the whole vocabulary at each position) and summed over the answer's tokens: the
sequence KL in nats per answer, the unit of a KL budget and of the old PPO's per-token penalty whose
default (0.2) kl_coef keeps. A batch of batch_size rows is one optimizer step; mini_batch_size splits it
into chunks whose gradients accumulate (the memory knob).
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from training import scoring
from training.config import Hyperparameters

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per optimizer step
    steps: int = 0
    seconds: float = 0.0
    rows: int = 0
    # kto: per row source, the rows given and trained, their labels and weights (training/kto.py rows_by_source)
    kto_by_source: dict[str, dict[str, Any]] | None = None
    # kto: TRL's desirable_weight and undesirable_weight, set from the rows' balance (training/kto.py class_weights)
    kto_label_weights: dict[str, float] | None = None


@dataclass
class LossTerms:
    loss: torch.Tensor  # per row, differentiable
    mean_logprob: torch.Tensor  # per row: mean log p of the answer's tokens
    log_ratio: torch.Tensor  # per row: mean log(p / p_ref) of the answer's tokens
    kl: torch.Tensor  # per row: KL(policy || reference) summed over the answer's tokens


def npo_term(log_ratio: torch.Tensor, npo_beta: float) -> torch.Tensor:
    """NPO's loss on an answer to be made less likely: -(2 / beta) * log sigmoid(-beta * log-ratio), written
    with softplus (softplus(x) = -log sigmoid(-x)) for numerical stability. It is (2 / beta) * log 2 at the
    base and falls to 0 as the answer becomes unlikely."""
    return (2 / npo_beta) * torch.nn.functional.softplus(npo_beta * log_ratio)


def policy_gradient_loss(logits: torch.Tensor, ref_logits: torch.Tensor, targets: torch.Tensor,
                         mask: torch.Tensor, rewards: torch.Tensor, *, kl_coef: float, npo_beta: float) -> LossTerms:
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    ref_logprobs = torch.log_softmax(ref_logits.float(), dim=-1)
    mask = mask.float()
    tokens = mask.sum(-1).clamp(min=1)
    token_logprob = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ref_token_logprob = ref_logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    mean_logprob = (token_logprob * mask).sum(-1) / tokens
    log_ratio = ((token_logprob - ref_token_logprob) * mask).sum(-1) / tokens
    # KL(p || q) = sum_v p(v) (log p(v) - log q(v)) at every answer position, summed over the answer.
    token_kl = (logprobs.exp() * (logprobs - ref_logprobs)).sum(-1)
    kl = (token_kl * mask).sum(-1)
    good, bad = rewards.clamp(min=0), (-rewards).clamp(min=0)
    loss = -good * mean_logprob + bad * npo_term(log_ratio, npo_beta) + kl_coef * kl
    return LossTerms(loss=loss, mean_logprob=mean_logprob, log_ratio=log_ratio, kl=kl)


def batch_loss(model, items: list[scoring.Encoded], rewards: list[float], *, is_encoder_decoder: bool,
               pad_id: int, device, kl_coef: float, npo_beta: float) -> LossTerms:
    batch = scoring.collate(items, is_encoder_decoder=is_encoder_decoder, pad_id=pad_id, device=device)
    logits = scoring.response_logits(model, batch)
    with torch.no_grad(), model.disable_adapter():
        ref_logits = scoring.response_logits(model, batch)
    reward = torch.tensor(rewards, dtype=torch.float32, device=logits.device)
    return policy_gradient_loss(logits, ref_logits, batch["targets"], batch["response_mask"], reward,
                                kl_coef=kl_coef, npo_beta=npo_beta)


def accumulate_gradients(model, items: list[scoring.Encoded], rewards: list[float], *, mini_batch_size: int,
                         is_encoder_decoder: bool, pad_id: int, device, kl_coef: float,
                         npo_beta: float) -> dict[str, float]:
    """Backpropagates one batch, mini_batch_size rows at a time, into the parameters' .grad (the mean over
    the batch, whatever the chunking). Returns the batch means for the step log."""
    sums = {"loss": 0.0, "kl": 0.0, "logprob": 0.0}
    for start in range(0, len(items), mini_batch_size):
        chunk = slice(start, start + mini_batch_size)
        terms = batch_loss(model, items[chunk], rewards[chunk], is_encoder_decoder=is_encoder_decoder,
                           pad_id=pad_id, device=device, kl_coef=kl_coef, npo_beta=npo_beta)
        (terms.loss.sum() / len(items)).backward()
        sums["loss"] += terms.loss.detach().sum().item()
        sums["kl"] += terms.kl.detach().sum().item()
        sums["logprob"] += terms.mean_logprob.detach().sum().item()
    return {"loss": sums["loss"] / len(items), "reward/mean": sum(rewards) / len(items),
            "kl": sums["kl"] / len(items), "logprob/mean": sums["logprob"] / len(items)}


def train(peft_model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
          is_encoder_decoder: bool, device, max_steps: int | None = None,
          on_step: Callable[[dict[str, float]], None] | None = None) -> TrainResult:
    """Trains the adapter in place. max_steps stops early (tests, benchmarks); None runs every epoch."""
    items = scoring.encode_rows(tokenizer, rows, "response", is_encoder_decoder=is_encoder_decoder,
                                max_prompt_length=hparams.max_prompt_length,
                                max_response_length=hparams.max_response_length)
    rewards = [float(row["reward"]) for row in rows]
    parameters = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=hparams.learning_rate)
    order_rng = random.Random(hparams.seed)  # the row order, reproducible per seed
    steps_per_epoch = math.ceil(len(items) / hparams.batch_size)
    total = steps_per_epoch * hparams.epochs if max_steps is None else min(max_steps,
                                                                            steps_per_epoch * hparams.epochs)
    result = TrainResult(rows=len(items))
    peft_model.train()
    progress = tqdm(total=total, desc="reward-pg", disable=not sys.stderr.isatty())
    started = time.perf_counter()
    for epoch in range(hparams.epochs):
        if result.steps >= total:
            break
        order = list(range(len(items)))
        order_rng.shuffle(order)
        for start in range(0, len(order), hparams.batch_size):
            if result.steps >= total:
                break
            batch_rows = order[start:start + hparams.batch_size]
            optimizer.zero_grad(set_to_none=True)
            means = accumulate_gradients(peft_model, [items[i] for i in batch_rows],
                                         [rewards[i] for i in batch_rows], mini_batch_size=hparams.mini_batch_size,
                                         is_encoder_decoder=is_encoder_decoder, pad_id=tokenizer.pad_token_id,
                                         device=device, kl_coef=hparams.kl_coef, npo_beta=hparams.npo_beta)
            optimizer.step()
            result.steps += 1
            entry = {"step": result.steps, "epoch": epoch + 1, **means}
            result.history.append(entry)
            # One parseable line per step (a SageMaker metric definition can pick the values out).
            logger.info("step=%d epoch=%d loss=%.6f reward/mean=%.4f kl=%.6f", entry["step"], entry["epoch"],
                        entry["loss"], entry["reward/mean"], entry["kl"])
            progress.update(1)
            if on_step is not None:
                on_step(entry)
    result.seconds = time.perf_counter() - started
    progress.close()
    peft_model.eval()
    return result
