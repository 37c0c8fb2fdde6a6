"""Training throughput and what each run did to the model, for the fine-tuning job on tiny models, on the CPU.

Models: the tiny RANDOMLY INITIALISED T5 and Llama of local/tiny_models.py (d_model/hidden 64, 2 layers,
a BPE tokenizer trained on the spot), on its synthetic ratings: 64 training rows (32 sessions, one well-
and one badly-rated answer each) and 16 held-out rows from sessions whose verb/noun pairs training never
saw. These numbers measure our training loop and show that each algorithm moves the model the way the
ratings say without breaking it; they say nothing about the speed or quality of Flan-T5 XL or Llama on a
SageMaker GPU.

Each configuration runs the whole job (training.job.run: load, evaluate, train, evaluate, save adapter,
merged model, metrics and plot) RUNS times in this process. steps/s is the job's own figure (the training
loop only, metrics.json "training.steps_per_second"); the table shows its median. The rest is metrics.json
"eval" and "checks" (training/README.md): the held-out margin (mean log-prob of well-rated minus
badly-rated answers) before and after, each side's mean log-prob per token before -> after, the sequence KL
to the base on the tuned model's own samples, and whether the run checks passed (else which failed). Fixed
seeds make these identical in every run, which the benchmark checks, and
tests/bench/test_training_throughput.py reruns every configuration and fails when the latest table in
bench/RESULTS.md no longer matches what the code produces. Hyperparameters: the tests' (local/tiny_models.py
training_settings: learning rate 1e-3 for the T5 and 5e-3 for the Llama, 4 epochs, batch 8, mini-batch 4
for reward-pg, LoRA r=8 alpha=16, seed 7).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from bench.common import median, table
from lambdas.common.training_data import KTO_FILE, REWARD_FILE, to_jsonl
from local.tiny_models import build_tokenizer, save_tiny_llama, save_tiny_t5, training_settings
from testing.tiny_models import all_texts, synthetic_splits
from training import data as training_data
from training import job
from training.config import Hyperparameters

RUNS = 3
THREADS = 2  # the machine's cores; pinned so runs on other machines of this kind compare
CONFIGURATIONS = (("reward-pg", "t5"), ("reward-pg", "llama"), ("kto", "llama"))
DECIMALS = 3  # of every log-prob, margin and KL in the table
SPEED_HEADERS = ["algorithm", "model", "learning rate", "steps", "batch", "steps/s", "samples/s"]
PASSED = "passed"
FAILED = "FAILED: "


@dataclass(frozen=True)
class Outcome:
    """What a run did to the model: the table's columns that fixed seeds make identical in every run."""

    margin_before: float
    margin_after: float
    good_before: float
    good_after: float
    bad_before: float
    bad_after: float
    sequence_kl: float
    failed_checks: tuple[str, ...]

    HEADERS = ("margin before", "margin after", "gain", "well-rated before -> after",
               "badly rated before -> after", "sequence KL", "checks")

    @classmethod
    def from_metrics(cls, metrics: dict[str, Any]) -> Outcome:
        measured = metrics["eval"]
        before, after = measured["before"], measured["after"]
        return cls(measured["margin_before"], measured["margin_after"], before["good_mean_logprob"],
                   after["good_mean_logprob"], before["bad_mean_logprob"], after["bad_mean_logprob"],
                   measured["kl_to_base"]["sequence_kl"],
                   tuple(failure["check"] for failure in metrics["checks"]["failures"]))

    def cells(self) -> list[str]:
        def signed(value: float) -> str:
            return f"{value:+.{DECIMALS}f}"

        def moved(before: float, after: float) -> str:
            return f"{before:.{DECIMALS}f} -> {after:.{DECIMALS}f}"

        return [signed(self.margin_before), signed(self.margin_after), signed(self.margin_after - self.margin_before),
                moved(self.good_before, self.good_after), moved(self.bad_before, self.bad_after),
                f"{self.sequence_kl:.{DECIMALS}f}",
                FAILED + ", ".join(self.failed_checks) if self.failed_checks else PASSED]

    @classmethod
    def from_cells(cls, row: dict[str, str]) -> Outcome:
        """The outcome a table row records (row: header -> cell), as cells() wrote it."""
        good = [float(part) for part in row["well-rated before -> after"].split("->")]
        bad = [float(part) for part in row["badly rated before -> after"].split("->")]
        checks = row["checks"]
        failed = tuple(name.strip() for name in checks.removeprefix(FAILED).split(",")) if checks != PASSED else ()
        return cls(float(row["margin before"]), float(row["margin after"]), good[0], good[1], bad[0], bad[1],
                   float(row["sequence KL"]), failed)

    def differences(self, measured: Outcome) -> list[str]:
        """Where this (recorded) outcome and a measured one disagree beyond the table's rounding: one printed
        digit, which holds half a digit of rounding and the float noise of another machine."""
        tolerance = 10.0 ** -DECIMALS
        found = []
        for field in fields(self):
            recorded, now = getattr(self, field.name), getattr(measured, field.name)
            if field.name == "failed_checks":
                if recorded != now:
                    found.append(f"failed checks recorded {list(recorded)}, measured {list(now)}")
            elif abs(recorded - now) > tolerance:
                found.append(f"{field.name} recorded {recorded:.{DECIMALS}f}, measured {now:.{DECIMALS + 3}f}")
        return found


HEADERS = [*SPEED_HEADERS, *Outcome.HEADERS]


def write_channels(root: Path) -> tuple[Path, Path]:
    splits = synthetic_splits()
    for name, split in splits.items():
        (root / name).mkdir(parents=True)
        (root / name / REWARD_FILE).write_bytes(to_jsonl(split["reward"]))
        (root / name / KTO_FILE).write_bytes(to_jsonl(split["kto"]))
    return root / "train", root / "eval"


def save_models(root: Path) -> dict[str, str]:
    tokenizer = build_tokenizer(all_texts(synthetic_splits()))
    return {"t5": save_tiny_t5(tokenizer, root / "tiny-t5"), "llama": save_tiny_llama(tokenizer, root / "tiny-llama")}


def measure(algorithm: str, model: str, model_path: str, train: Path, evaluation: Path, output: Path) -> dict:
    hparams = Hyperparameters(algorithm=algorithm, model_name_or_path=model_path, merge=True,
                              **training_settings(model))
    return job.run(hparams, training_data.load(train, evaluation, algorithm), output)


def parse_table(section: str) -> dict[tuple[str, str], dict[str, str]]:
    """The first markdown table in `section` (a RESULTS.md section of this benchmark), by (algorithm, model):
    each row as header -> cell. Raises ValueError when the table lacks a column this benchmark writes."""
    lines: list[str] = []
    for line in section.splitlines():
        if line.startswith("|"):
            lines.append(line)
        elif lines:
            break
    if len(lines) < 2:
        raise ValueError("no table")
    header, *rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    missing = [name for name in HEADERS if name not in header]
    if missing:
        raise ValueError(f"the table has no column {', '.join(repr(name) for name in missing)}")
    parsed = [dict(zip(header, row, strict=True)) for row in rows[1:]]  # rows[0] is the |---| line
    return {(row["algorithm"], row["model"].removeprefix("tiny ")): row for row in parsed}


def run() -> str:
    torch.set_num_threads(THREADS)
    logging.getLogger("training").setLevel(logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library deprecation notices, not results
        root = Path(tmp)
        train, evaluation = write_channels(root / "channels")
        models = save_models(root)
        for algorithm, model in CONFIGURATIONS:
            runs = [measure(algorithm, model, models[model], train, evaluation,
                            root / f"out-{algorithm}-{model}-{n}") for n in range(RUNS)]
            outcomes = {Outcome.from_metrics(m) for m in runs}
            if len(outcomes) != 1:
                raise AssertionError(f"{algorithm}/{model}: fixed seeds gave different outcomes {outcomes}")
            first = runs[0]
            rows.append([algorithm, f"tiny {model}", f"{first['hyperparameters']['learning_rate']:g}",
                         first["training"]["steps"], first["training"]["batch_size"],
                         f"{median([m['training']['steps_per_second'] for m in runs]):.1f}",
                         f"{median([m['training']['samples_per_second'] for m in runs]):.0f}",
                         *outcomes.pop().cells()])
    return "\n".join([
        f"Tiny simulated models on the CPU ({THREADS} threads), {RUNS} runs each (median steps/s); "
        "64 training rows, 16 held-out rows (8 well-rated, 8 badly rated). Margin = mean log-prob per token of "
        "well-rated minus badly-rated held-out answers; well-rated and badly rated = each side's mean log-prob "
        "per token, base -> tuned; sequence KL = KL(tuned || base) in nats per answer on the tuned model's own "
        f"samples (budget {Hyperparameters().kl_budget:g}); checks = metrics.json's run checks. All identical in "
        "every run (fixed seeds); tests/bench/test_training_throughput.py checks this table against the code.",
        "",
        table(HEADERS, rows),
    ])


if __name__ == "__main__":
    print(run())
