"""A pinned copy of reward-pg's first objective, the one that let degenerate runs through: per row

    loss = -(reward * mean log p(response token | prompt)) + kl_coef * mean token KL(policy || base)

Its negative side is unbounded: for a badly rated answer (reward < 0) the push on its tokens never fades
as their probability goes to zero, and the KL term, averaged per token, does not hold the model back. Trained
on badly rated rows only it makes well-rated answers less likely and greedy answers collapse into one
repeated token; trained hard it drifts tens of nats from the base. The run checks' tests
(tests/training/test_degenerate_runs.py) train with it through training/job.py, so they keep showing that
the checks reject those runs whatever objective training/reward_pg.py implements.
"""

from __future__ import annotations

import random
import time
from types import SimpleNamespace
from typing import Any

import torch

from training import scoring
from training.config import Hyperparameters


def train(peft_model, tokenizer, rows: list[dict[str, Any]], hparams: Hyperparameters, *, is_encoder_decoder: bool,
          device, max_steps: int | None = None, **_: Any) -> SimpleNamespace:
    """Takes training/reward_pg.py train()'s place in training/job.py; returns what the job reads of a result."""
    items = scoring.encode_rows(tokenizer, rows, "response", is_encoder_decoder=is_encoder_decoder,
                                max_prompt_length=hparams.max_prompt_length,
                                max_response_length=hparams.max_response_length)
    rewards = [float(row["reward"]) for row in rows]
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=hparams.learning_rate)
    order_rng = random.Random(hparams.seed)
    result = SimpleNamespace(history=[], steps=0, seconds=0.0, kto_by_source=None, kto_label_weights=None)
    started = time.perf_counter()
    peft_model.train()
    for epoch in range(hparams.epochs):
        order = list(range(len(items)))
        order_rng.shuffle(order)
        for start in range(0, len(order), hparams.batch_size):
            if max_steps is not None and result.steps >= max_steps:
                break
            chosen = order[start:start + hparams.batch_size]
            batch = scoring.collate([items[i] for i in chosen], is_encoder_decoder=is_encoder_decoder,
                                    pad_id=tokenizer.pad_token_id, device=device)
            logprobs = torch.log_softmax(scoring.response_logits(peft_model, batch).float(), dim=-1)
            with torch.no_grad(), peft_model.disable_adapter():
                ref_logprobs = torch.log_softmax(scoring.response_logits(peft_model, batch).float(), dim=-1)
            mask = batch["response_mask"].float()
            tokens = mask.sum(-1).clamp(min=1)
            token_logprob = logprobs.gather(-1, batch["targets"].unsqueeze(-1)).squeeze(-1)
            mean_logprob = (token_logprob * mask).sum(-1) / tokens
            kl = (((logprobs.exp() * (logprobs - ref_logprobs)).sum(-1)) * mask).sum(-1) / tokens
            reward = torch.tensor([rewards[i] for i in chosen], device=mean_logprob.device)
            loss = (-(reward * mean_logprob) + hparams.kl_coef * kl).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.steps += 1
            result.history.append({"step": result.steps, "epoch": epoch + 1, "loss": loss.item(),
                                   "reward/mean": reward.mean().item(), "kl": kl.mean().item()})
    result.seconds = time.perf_counter() - started
    peft_model.eval()
    return result
