"""Algorithm `kto`: TRL's KTOTrainer (trl 1.16) on the KTO rows (prompt, completion, label), with LoRA.

Used by training/job.py. KTO learns from unpaired thumbs-up / thumbs-down answers, which is what expert
ratings are once split at the good/bad thresholds. TRL's trainers support causal language models only, so
an encoder-decoder (T5) is refused before any loading (training/modeling.py names the reason).

Batch size: KTO estimates its KL reference point from mismatched pairs inside each batch, so TRL refuses
a batch of 1. The reference design's default is 1, so a batch size below 2 is raised to 2 with a warning
(recorded in metrics.json) rather than failing a job started with the defaults. mini_batch_size is not
used here: splitting a batch would break that in-batch KL estimate.

Row weights: each KTO row carries a `weight` (1 for an expert's rating, the dataset's thumbs_weight for a
customer's thumb; 1 when absent) and TRL weighs only by label (desirable_weight, undesirable_weight), so
WeightedKTOTrainer multiplies each row's term of the loss by its weight before TRL's mean over the batch:

    loss = (1 / batch) * sum_i weight_i * label_weight_i * (1 - sigmoid(beta * z_i))
    z_i = log-ratio_i - KL for a desirable row, KL - log-ratio_i for an undesirable one

The KL reference point is TRL's, estimated from every row of the batch and not weighted (it carries no
gradient). The mean stays over the batch size, not the sum of the weights, so a batch of thumbs moves the
model by thumbs_weight of what a batch of ratings of the same size would.

Label weights: label_weight is TRL's desirable_weight or undesirable_weight, set from the data's balance
(class_weights): the KTO paper (Ethayarajh et al., arXiv:2402.01306, Eq. 8) recommends
desirable_weight * n_desirable / (undesirable_weight * n_undesirable) in [1, 4/3]; here n is each label's sum
of row weights (a thumb counts for its weight), the ratio is the middle of that range, 7/6, and the weights
keep the sum over all rows equal to the sum of the row weights, so the loss keeps its scale.

Row order: TRL 1.16 samples KTO rows SEQUENTIALLY (KTOConfig's train_sampling_strategy "sequential", which
the trainer requires, because each row's mismatched completion for the KL estimate is fixed against its
neighbours when the dataset is prepared), so the seed never reaches the order. The rows are shuffled here with
the seed before TRL sees them: the order depends on the seed, and stays the same in every epoch.
"""

from __future__ import annotations

import logging
import random
import sys
import tempfile
import time
from typing import Any

import torch
from datasets import Dataset
from transformers import PrinterCallback, TrainerCallback
from trl import KTOConfig, KTOTrainer
from trl.trainer.kto_trainer import DataCollatorForUnpairedPreference

from training.config import Hyperparameters
from training.reward_pg import TrainResult
from training.scoring import causal_example

logger = logging.getLogger(__name__)

MIN_BATCH_SIZE = 2
WEIGHT = "weight"  # the KTO row's field, and the dataset column and batch key that carry it through TRL
DEFAULT_WEIGHT = 1.0  # a row without one (written before rows had weights) counts as an expert's rating
UNKNOWN_SOURCE = "unknown"  # a row without a source (written before rows had one)
# KTO paper, Eq. 8: desirable_weight * n_desirable / (undesirable_weight * n_undesirable) in [1, 4/3]; the
# middle of the range, which also keeps TRL's own check of that range (rounded to 2 decimals) quiet.
DESIRABLE_TO_UNDESIRABLE = 7 / 6
LOGGED_KEYS = ("loss", "kl", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen",
               "logps/rejected")


def effective_batch_size(hparams: Hyperparameters) -> int:
    if hparams.batch_size >= MIN_BATCH_SIZE:
        return hparams.batch_size
    logger.warning("kto needs batch_size >= %d (its KL term is estimated within a batch): using %d instead "
                   "of %d", MIN_BATCH_SIZE, MIN_BATCH_SIZE, hparams.batch_size)
    return MIN_BATCH_SIZE


class _WeightedCollator(DataCollatorForUnpairedPreference):
    """TRL's collator, plus each row's weight as a float tensor (TRL's own collator drops unknown keys)."""

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = super().torch_call(examples)
        batch[WEIGHT] = torch.tensor([float(example[WEIGHT]) for example in examples], dtype=torch.float32)
        return batch


class WeightedKTOTrainer(KTOTrainer):
    """KTOTrainer with a weight per row (see the module docstring for the formula).

    TRL 1.16 forms the per-row losses inside its 200-line _compute_loss and scales them with one line,
    `torch.cat((self.desirable_weight * chosen_losses, self.undesirable_weight * rejected_losses))`, before
    `losses.nanmean()`; it reads those two attributes nowhere else while computing a loss. Rather than copy
    that method, compute_loss sets them for the length of one call to the label weight times the weights of
    the batch's desirable rows, and of its undesirable rows, in batch order (TRL selects the rows of each
    label in increasing index, as a boolean mask does), so each row's term is scaled by its own weight.
    The weight column survives TRL's tokenization (its maps keep extra columns) and reaches the batch through
    the signature columns and _WeightedCollator; compute_loss takes it out before TRL passes the batch's
    remaining keys to the model. tests/training/test_kto_weights.py checks the gradient against the formula,
    so a TRL upgrade that changes this breaks a test, not the training silently."""

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if WEIGHT not in self._signature_columns:
            self._signature_columns = [*self._signature_columns, WEIGHT]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        weight = inputs.pop(WEIGHT).to(self.accelerator.device)
        desirable = torch.as_tensor(inputs["label"], dtype=torch.bool, device=weight.device)
        label_weights = self.desirable_weight, self.undesirable_weight
        self.desirable_weight = label_weights[0] * weight[desirable]
        self.undesirable_weight = label_weights[1] * weight[~desirable]
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self.desirable_weight, self.undesirable_weight = label_weights


def row_weight(row: dict[str, Any]) -> float:
    return float(row.get(WEIGHT, DEFAULT_WEIGHT))


def class_weights(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """(desirable_weight, undesirable_weight) for TRL from the rows' balance, counting each row by its weight:
    desirable_weight * D / (undesirable_weight * U) = DESIRABLE_TO_UNDESIRABLE and
    desirable_weight * D + undesirable_weight * U = D + U, with D and U the desirable and undesirable rows'
    weight sums. Rows of one label only: (1, 1), nothing to balance."""
    desirable = sum(row_weight(row) for row in rows if row["label"])
    undesirable = sum(row_weight(row) for row in rows if not row["label"])
    if desirable == 0 or undesirable == 0:
        return 1.0, 1.0
    total, ratio = desirable + undesirable, DESIRABLE_TO_UNDESIRABLE
    return ratio * total / ((1 + ratio) * desirable), total / ((1 + ratio) * undesirable)


def shuffled(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """The rows in the order TRL trains on them (it samples sequentially), fixed by the seed."""
    order = list(rows)
    random.Random(seed).shuffle(order)
    return order


def rows_by_source(rows: list[dict[str, Any]], trained: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per source (a rating source such as groundtruth or import, or thumbs): the rows given, the rows TRL
    kept to train on (it drops a row whose prompt alone fills max_length), and the labels, distinct weights
    and weight sum of those kept, so a run reports apart what came from the customers' thumbs and what from
    the experts' ratings, and how much of the loss each could carry."""
    counts: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = counts.setdefault(row.get("source") or UNKNOWN_SOURCE, {
            "rows": 0, "trained": 0, "kto_true": 0, "kto_false": 0, "weights": set(), "weight_sum": 0.0})
        entry["rows"] += 1
    for row in trained:
        entry = counts[row.get("source") or UNKNOWN_SOURCE]
        entry["trained"] += 1
        entry["kto_true" if row["label"] else "kto_false"] += 1
        entry["weights"].add(row_weight(row))
        entry["weight_sum"] += row_weight(row)
    return {source: {**entry, "weights": sorted(entry["weights"]), "weight_sum": round(entry["weight_sum"], 6)}
            for source, entry in sorted(counts.items())}


class _CountsCheckFilter(logging.Filter):
    """TRL checks its label weights against the rows' COUNTS and warns when they are "not in an ideal range";
    class_weights balances the rows' weight SUMS (a thumb counts for its weight), so with thumbs in the data
    that warning would be wrong. It is dropped while the trainer is built; train() logs the weights used."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ideal range" not in record.getMessage()


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


def build_trainer(base_model, tokenizer, peft_config, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
                  output_dir: str, batch_size: int, max_steps: int | None = None,
                  callbacks: list[TrainerCallback] | None = None) -> WeightedKTOTrainer:
    """The trainer train() runs; tests build it to look at one batch's loss. The rows are shuffled with the
    seed (see the module docstring) and the label weights are set from their balance."""
    # The same prompt format reward-pg and the evaluation score (scoring.causal_example); source and weight
    # ride along as columns (TRL keeps them through tokenization and drops source before the batch).
    dataset = Dataset.from_list([
        {**causal_example(tokenizer, row["prompt"], row["completion"], row.get("system")), "label": bool(row["label"]),
         "source": row.get("source") or UNKNOWN_SOURCE, WEIGHT: row_weight(row)}
        for row in shuffled(rows, hparams.seed)])
    desirable_weight, undesirable_weight = class_weights(rows)
    cuda = torch.cuda.is_available()
    args = KTOConfig(
        output_dir=output_dir, learning_rate=hparams.learning_rate, num_train_epochs=hparams.epochs,
        max_steps=max_steps if max_steps is not None else -1,
        per_device_train_batch_size=batch_size, gradient_accumulation_steps=1,
        lr_scheduler_type="constant", beta=hparams.kto_beta,
        desirable_weight=desirable_weight, undesirable_weight=undesirable_weight,
        max_length=hparams.max_prompt_length + hparams.max_response_length,
        logging_steps=1, save_strategy="no", report_to="none", seed=hparams.seed, data_seed=hparams.seed,
        # bf16 autocast and activation checkpointing save GPU memory; on CPU they only slow things down.
        bf16=cuda and torch.cuda.is_bf16_supported(), activation_checkpointing=cuda,
        use_cpu=not cuda, disable_tqdm=not sys.stderr.isatty(), dataloader_num_workers=0)
    collator = _WeightedCollator(pad_token_id=tokenizer.pad_token_id, max_length=args.max_length,
                                 pad_to_multiple_of=args.pad_to_multiple_of)
    trl_logger, counts_check = logging.getLogger("trl.trainer.kto_trainer"), _CountsCheckFilter()
    trl_logger.addFilter(counts_check)
    try:
        trainer = WeightedKTOTrainer(model=base_model, args=args, train_dataset=dataset, processing_class=tokenizer,
                                     data_collator=collator, peft_config=peft_config, callbacks=callbacks)
    finally:
        trl_logger.removeFilter(counts_check)
    trainer.remove_callback(PrinterCallback)  # it print()s every log dict; _StepLogger logs instead
    return trainer


def train(base_model, tokenizer, peft_config, rows: list[dict[str, Any]], hparams: Hyperparameters, *,
          max_steps: int | None = None) -> tuple[Any, TrainResult, int]:
    """Returns (the trained PeftModel, the result, the batch size used)."""
    if len(rows) < MIN_BATCH_SIZE:
        raise ValueError(f"kto needs at least {MIN_BATCH_SIZE} training rows, got {len(rows)}")
    batch_size = effective_batch_size(hparams)
    if hparams.mini_batch_size != hparams.batch_size:
        logger.info("kto does not use mini_batch_size (%d): each batch is one step", hparams.mini_batch_size)
    result = TrainResult(rows=len(rows))
    with tempfile.TemporaryDirectory(prefix="kto-") as scratch:  # nothing is saved there (save_strategy=no)
        trainer = build_trainer(base_model, tokenizer, peft_config, rows, hparams, output_dir=scratch,
                                batch_size=batch_size, max_steps=max_steps, callbacks=[_StepLogger(result)])
        prepared = trainer.train_dataset
        result.kto_by_source = rows_by_source(rows, prepared.select_columns(["source", "label", WEIGHT]).to_list())
        logger.info("kto rows by source: %s", "; ".join(
            f"{source} {entry['trained']} of {entry['rows']} (weights {', '.join(f'{w:g}' for w in entry['weights'])})"
            for source, entry in result.kto_by_source.items()))
        result.kto_label_weights = {"desirable": trainer.desirable_weight, "undesirable": trainer.undesirable_weight}
        logger.info("kto label weights: desirable %.4f, undesirable %.4f (from the rows' balance; seed %d orders "
                    "the rows)", trainer.desirable_weight, trainer.undesirable_weight, hparams.seed)
        started = time.perf_counter()
        trainer.train()
        result.seconds = time.perf_counter() - started
        result.steps = trainer.state.global_step
    model = trainer.model
    assert model is not None  # the trainer was built with one
    model.eval()
    return model, result, batch_size
