"""What the job leaves in its output directory (SM_MODEL_DIR on SageMaker, packed into model.tar.gz):

    adapter/              the LoRA adapter (PEFT save_pretrained) and the tokenizer
    merged/               the base with the adapter merged in: model.safetensors (or shards + index),
                          config.json, generation_config.json, tokenizer files; the layout Amazon Bedrock
                          Custom Model Import reads, with the keys of the transformers version its guide names
                          added beside transformers 5's (training/import_check.py checks the folder)
    import_check.json     whether Bedrock Custom Model Import would load merged/, and why not (import_check.py)
    metrics.json          hyperparameters, row counts, throughput, the evaluation before/after and the run's
                          checks, the import check's verdict, per-step log
    training_curves.png   per step: reward/mean and loss (reward-pg), or loss and KTO rewards (kto)

Used by training/job.py.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch

from training import import_check

logger = logging.getLogger(__name__)

ADAPTER_DIR, MERGED_DIR = "adapter", "merged"
METRICS_FILE, PLOT_FILE = "metrics.json", "training_curves.png"


def save_adapter(peft_model, tokenizer, output: Path) -> Path:
    folder = output / ADAPTER_DIR
    peft_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_merged(peft_model, tokenizer, output: Path, *, base_path: str, quantized: bool,
                is_encoder_decoder: bool, dtype: torch.dtype | None) -> Path:
    """Merges the adapter into the base weights and saves them in `dtype` (the checkpoint's own, so a bf16
    Llama stays bf16 although training ran in float32). An 8-bit base cannot take the merge without loss, so
    then the base is reloaded unquantized on the CPU and the saved adapter applied to it."""
    folder = output / MERGED_DIR
    if quantized:
        from peft import PeftModel

        from training.modeling import model_class

        base = model_class(is_encoder_decoder).from_pretrained(base_path, dtype="auto")
        peft_model = PeftModel.from_pretrained(base, output / ADAPTER_DIR)
    merged = peft_model.merge_and_unload()
    if dtype is not None and merged.dtype != dtype:
        merged = merged.to(dtype)
    merged.save_pretrained(folder)  # transformers 5 always writes safetensors
    tokenizer.save_pretrained(folder)
    # Bedrock's import guide names transformers 4.51.3, which reads torch_dtype, rope_theta/rope_scaling and a
    # tokenizer class it knows where transformers 5 writes dtype, rope_parameters and TokenizersBackend.
    for change in import_check.make_compatible(folder):
        logger.info("merged model, for Bedrock Custom Model Import: %s", change)
    return folder


def write_metrics(output: Path, metrics: dict[str, Any]) -> Path:
    path = output / METRICS_FILE
    path.write_text(json.dumps(_finite(metrics), indent=2, sort_keys=False) + "\n")
    return path


def _finite(value: Any) -> Any:
    """JSON has no NaN/Infinity: write null instead so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def plot_curves(output: Path, algorithm: str, history: list[dict[str, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on SageMaker or CI
    import matplotlib.pyplot as plt

    path = output / PLOT_FILE
    steps = [entry["step"] for entry in history]
    if algorithm == "kto":
        panels = [("loss", ["loss"]), ("KTO rewards", ["rewards/chosen", "rewards/rejected", "rewards/margins"])]
    else:
        panels = [("reward/mean", ["reward/mean"]), ("loss", ["loss"])]
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4))
    for axis, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            points = [(entry["step"], entry[key]) for entry in history if key in entry]
            if points:
                axis.plot(*zip(*points, strict=True), marker="." if len(points) < 50 else None, label=key)
        axis.set_title(title)
        axis.set_xlabel("step")
        if len(keys) > 1:
            axis.legend()
        axis.grid(alpha=0.3)
    figure.suptitle(f"{algorithm}: {len(steps)} steps")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
