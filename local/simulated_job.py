"""The demo's stand-in for the SageMaker training job: `python -m local.simulated_job <hyperparameters>`.

A SIMULATION. SageMaker would start the training image with the base model (Flan-T5 XL) in SM_CHANNEL_MODEL;
here the base model is a tiny RANDOMLY INITIALISED T5 (or Llama, for kto) built from a config by
local/tiny_models.py, with a tokenizer trained on the spot on the dataset's own questions and answers. Then the
real job runs: training.cli.main, the entry point the SageMaker job's train.py calls, with the hyperparameters
as `--name value` and the paths in the same SM_* variables SageMaker sets:

    SM_CHANNEL_TRAIN, SM_CHANNEL_EVAL   the dataset Lambda's train/ and eval/ folders (reward.jsonl, kto.jsonl)
    SM_CHANNEL_MODEL                    where the tiny base model is written, and read from by the job
    SM_MODEL_DIR                        the job's outputs (metrics.json, gate_answers.jsonl, merged/, ...)
    SM_OUTPUT_DIR                       `failure`: the job's failure reason, when it refuses its input

It runs in a process of its own (local/finetuning.py starts it), as the job runs in a container of its own:
the demo's server keeps answering, torch is loaded here only, and stopping the demo stops the job. The tiny
model's answers mean nothing: the point is to run every line of the pipeline's code, not to tune a chatbot.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from lambdas.common.training_data import REWARD_FILE, read_rows
from local.tiny_models import MODELS, build_tokenizer, save_tiny_llama, save_tiny_t5

logger = logging.getLogger("tandem.local.simulated_job")


def dataset_texts(*folders: Path) -> list[str]:
    """The questions and answers of the dataset's reward rows: what the tiny tokenizer is trained on."""
    texts = []
    for folder in folders:
        path = folder / REWARD_FILE
        if not path.is_file():
            continue
        for row in read_rows(path.read_text(encoding="utf-8").splitlines(), "reward", str(path)):
            texts += [row["prompt"], row["response"], f"{row['prompt']}\n{row['response']}"]
    return texts


def build_base_model(model: str, texts: list[str], folder: Path) -> str:
    """The tiny randomly initialised base model (`model` "t5" or "llama") saved to `folder`."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, not {model!r}")
    tokenizer = build_tokenizer(texts)
    return (save_tiny_t5 if model == "t5" else save_tiny_llama)(tokenizer, folder)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    model = os.environ.get("TANDEM_TINY_MODEL", "t5")
    folder = Path(os.environ["SM_CHANNEL_MODEL"])
    channels = [os.environ.get(name) for name in ("SM_CHANNEL_TRAIN", "SM_CHANNEL_EVAL")]
    texts = dataset_texts(*(Path(channel) for channel in channels if channel))
    logger.info("building the tiny randomly initialised %s base model (a simulation) in %s", model, folder)
    build_base_model(model, texts, folder)

    from training import cli  # the job SageMaker runs

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
