"""Algorithm `kto`: TRL's KTOTrainer (trl 1.16) on the KTO rows (prompt, completion, label), with LoRA.

Used by training/job.py. KTO learns from unpaired thumbs-up / thumbs-down answers, which is what expert
ratings are once split at the good/bad thresholds. TRL's trainers support causal language models only, so
an encoder-decoder (T5) is refused before any loading (training/modeling.py names the reason).

Batch size: KTO estimates its KL reference point from mismatched pairs inside each batch, so TRL refuses
a batch of 1. The reference design's default is 1, so a batch size below 2 is raised to 2 with a warning
(recorded in metrics.json) rather than failing a job started with the defaults. mini_batch_size is not
used here: splitting a batch would break that in-batch KL estimate.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from typing import Any

import torch
from datasets import Dataset
from transformers import PrinterCallback, TrainerCallback
from trl import KTOConfig, KTOTrainer

from training.config import Hyperparameters
from training.reward_pg import TrainResult
from training.scoring import causal_example

logger = logging.getLogger(__name__)

MIN_BATCH_SIZE = 2
LOGGED_KEYS = ("loss", "kl", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen",
               "logps/rejected")


def effective_batch_size(hparams: Hyperparameters) -> int:
    if hparams.batch_size >= MIN_BATCH_SIZE:
        return hparams.batch_size
    logger.warning("kto needs batch_size >= %d (its KL term is estimated within a batch): using %d instead "
                   "of %d", MIN_BATCH_SIZE, MIN_BATCH_SIZE, hparams.batch_size)
    return MIN_BATCH_SIZE


class _StepLogger(TrainerCallback):
    """Collects the trainer's per-step logs for metrics.json and the plot, and logs one line per step."""

    def __init__(self, result: TrainResult):
        self.result = result

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "loss" not in logs:
            return  # the final summary (train_runtime, ...) has no per-step loss
        entry = {"step": state.global_step, "epoch": float(logs.get("epoch", state.epoch or 0))}
        entry.update({key: float(logs[key]) for key in LOGGED_KEYS if key in logs})
        self.result.history.append(entry)
        logger.info("step=%d %s", entry["step"], " ".join(
            f"{key}={entry[key]:.6f}" for key in LOGGED_KEYS if key in entry))


def train(base_model, tokenizer, peft_config, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
          max_steps: int | None = None) -> tuple[Any, TrainResult, int]:
    """Returns (the trained PeftModel, the result, the batch size used)."""
    if len(rows) < MIN_BATCH_SIZE:
        raise ValueError(f"kto needs at least {MIN_BATCH_SIZE} training rows, got {len(rows)}")
    batch_size = effective_batch_size(hparams)
    if hparams.mini_batch_size != hparams.batch_size:
        logger.info("kto does not use mini_batch_size (%d): each batch is one step", hparams.mini_batch_size)
    # The same prompt format reward-pg and the evaluation score (scoring.causal_example).
    dataset = Dataset.from_list([
        {**causal_example(tokenizer, row["prompt"], row["completion"], row.get("system")), "label": bool(row["label"])}
        for row in rows])
    result = TrainResult(rows=len(rows))
    cuda = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="kto-") as scratch:  # nothing is saved there (save_strategy=no)
        args = KTOConfig(
            output_dir=scratch, learning_rate=hparams.learning_rate, num_train_epochs=hparams.epochs,
            max_steps=max_steps if max_steps is not None else -1,
            per_device_train_batch_size=batch_size, gradient_accumulation_steps=1,
            lr_scheduler_type="constant", beta=hparams.kto_beta,
            max_length=hparams.max_prompt_length + hparams.max_response_length,
            logging_steps=1, save_strategy="no", report_to="none", seed=hparams.seed, data_seed=hparams.seed,
            # bf16 autocast and activation checkpointing save GPU memory; on CPU they only slow things down.
            bf16=cuda and torch.cuda.is_bf16_supported(), activation_checkpointing=cuda,
            use_cpu=not cuda, disable_tqdm=not sys.stderr.isatty(), dataloader_num_workers=0)
        trainer = KTOTrainer(model=base_model, args=args, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=peft_config, callbacks=[_StepLogger(result)])
        trainer.remove_callback(PrinterCallback)  # it print()s every log dict; _StepLogger logs instead
        started = time.perf_counter()
        trainer.train()
        result.seconds = time.perf_counter() - started
        result.steps = trainer.state.global_step
    model = trainer.model
    assert model is not None  # the trainer was built with one
    model.eval()
    return model, result, batch_size
