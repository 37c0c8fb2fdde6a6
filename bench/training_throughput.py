"""Training throughput and held-out margins of the fine-tuning job on tiny models, on the CPU.

Models: the tiny RANDOMLY INITIALISED T5 and Llama of testing/tiny_models.py (d_model/hidden 64, 2 layers,
a BPE tokenizer trained on the spot), on its synthetic ratings: 64 training rows (32 sessions, one well-
and one badly-rated answer each) and 16 held-out rows from sessions whose verb/noun pairs training never
saw. These numbers measure our training loop and show that each algorithm moves the model the way the
ratings say; they say nothing about the speed or quality of Flan-T5 XL or Llama on a SageMaker GPU.

Each configuration runs the whole job (training.job.run: load, evaluate, train, evaluate, save adapter,
merged model, metrics and plot) RUNS times in this process. steps/s is the job's own figure (the training
loop only, metrics.json "training.steps_per_second"); the table shows its median. The margins are the
mean log-probability of well-rated minus badly-rated held-out answers, before and after training; fixed
seeds make them identical in every run, which the benchmark checks. Same hyperparameters as the tests:
learning rate 5e-3, 4 epochs, batch 8 (mini-batch 4 for reward-pg), LoRA r=8, seed 7.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path

import torch

from bench.common import median, table
from lambdas.common.training_data import KTO_FILE, REWARD_FILE, to_jsonl
from testing.tiny_models import all_texts, build_tokenizer, save_tiny_llama, save_tiny_t5, synthetic_splits
from training import data as training_data
from training import job
from training.config import Hyperparameters

RUNS = 3
THREADS = 2  # the machine's cores; pinned so runs on other machines of this kind compare
CONFIGURATIONS = (("reward-pg", "t5"), ("reward-pg", "llama"), ("kto", "llama"))
HYPERPARAMETERS = {"learning_rate": 5e-3, "epochs": 4, "batch_size": 8, "lora_r": 8, "lora_alpha": 8,
                   "seed": 7, "load_in_8bit": False, "merge": True}


def _write_channels(root: Path) -> tuple[Path, Path]:
    splits = synthetic_splits()
    for name, split in splits.items():
        (root / name).mkdir(parents=True)
        (root / name / REWARD_FILE).write_bytes(to_jsonl(split["reward"]))
        (root / name / KTO_FILE).write_bytes(to_jsonl(split["kto"]))
    return root / "train", root / "eval"


def _models(root: Path) -> dict[str, str]:
    tokenizer = build_tokenizer(all_texts(synthetic_splits()))
    return {"t5": save_tiny_t5(tokenizer, root / "tiny-t5"), "llama": save_tiny_llama(tokenizer, root / "tiny-llama")}


def measure(algorithm: str, model_path: str, train: Path, evaluation: Path, output: Path) -> dict:
    hparams = Hyperparameters(algorithm=algorithm, model_name_or_path=model_path,
                              mini_batch_size=4 if algorithm == "reward-pg" else 8, **HYPERPARAMETERS)
    return job.run(hparams, training_data.load(train, evaluation, algorithm), output)


def run() -> str:
    torch.set_num_threads(THREADS)
    logging.getLogger("training").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library deprecation notices, not results
        root = Path(tmp)
        train, evaluation = _write_channels(root / "channels")
        models = _models(root)
        for algorithm, model in CONFIGURATIONS:
            runs = [measure(algorithm, models[model], train, evaluation, root / f"out-{algorithm}-{model}-{n}")
                    for n in range(RUNS)]
            margins = {(m["eval"]["margin_before"], m["eval"]["margin_after"]) for m in runs}
            if len(margins) != 1:
                raise AssertionError(f"{algorithm}/{model}: fixed seeds gave different margins {margins}")
            ((before, after),) = margins
            first = runs[0]
            rows.append([algorithm, f"tiny {model}", first["training"]["steps"], first["training"]["batch_size"],
                         f"{median([m['training']['steps_per_second'] for m in runs]):.1f}",
                         f"{median([m['training']['samples_per_second'] for m in runs]):.0f}",
                         f"{before:+.3f}", f"{after:+.3f}", f"{after - before:+.3f}",
                         "yes" if after > before else "NO"])
    return "\n".join([
        f"Tiny simulated models on the CPU ({THREADS} threads), {RUNS} runs each (median steps/s); "
        "64 training rows, 16 held-out rows; margin = mean log-prob of well-rated minus badly-rated held-out "
        "answers (identical in every run: fixed seeds).",
        "",
        table(["algorithm", "model", "steps", "batch", "steps/s", "samples/s", "margin before", "margin after",
               "gain", "raised"], rows),
    ])


if __name__ == "__main__":
    print(run())
