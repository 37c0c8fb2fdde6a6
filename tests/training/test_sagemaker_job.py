"""The training job as the pipeline starts it on SageMaker, played out here with the toolkit's conventions.

What is real: the training-code archive the stack uploads (stacks/constructs/training_code.build_archive of
this repository), the hyperparameters FinetuneStack writes into the pipeline's CreateTrainingJob request
(read back from the synthesized template), and how SageMaker's training toolkit runs a
`sagemaker_program`: the archive unpacked into a folder, `python train.py --name value ...` from there
for every hyperparameter but its own `sagemaker_*` ones (values JSON-decoded where they parse, then turned
back into text), channels in SM_CHANNEL_<NAME>, the model folder in SM_MODEL_DIR. The process gets no
PYTHONPATH, so it imports only what the archive ships.
What is simulated: the base model (the tiny randomly initialised T5 of local/tiny_models.py, given as the
`model` channel, as an s3:// finetune_base_model is) and the hyperparameters that make it quick.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

from stacks.constructs.training_code import build_archive
from tests.stacks.conftest import stack_template
from tests.stacks.test_finetune_stack import hyperparameters
from tests.training.conftest import read_metrics

QUICK = {"epochs": 1, "batch_size": 4, "mini_batch_size": 2, "lora_r": 4, "lora_alpha": 4, "learning_rate": "0.005",
         "eval_max_new_tokens": 16, "kl_budget": "9.5"}


def toolkit_arguments(values: dict[str, str]) -> list[str]:
    """sagemaker-training-toolkit: hyperparameters become `--name value`, sagemaker_* ones stay its own."""
    arguments = []
    for name, text in values.items():
        if name.startswith("sagemaker_"):
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = text
        arguments += [f"--{name}", str(value)]
    return arguments


def test_the_uploaded_code_runs_with_the_pipelines_hyperparameters(tmp_path, t5_path, data_dir):
    template = stack_template("finetune", finetune_base_model="s3://tandem-models-unit/flan-t5-xl/",
                              finetune_good_min_rating=4.5, finetune_hyperparameters=QUICK)
    values, _ = hyperparameters(template)
    assert "model_name_or_path" not in values  # the weights come as the model channel

    code = tmp_path / "opt" / "ml" / "code"
    with tarfile.open(fileobj=io.BytesIO(build_archive()), mode="r:gz") as archive:
        archive.extractall(code, filter="data")
    model_dir = tmp_path / "opt" / "ml" / "model"
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment.update(SM_CHANNEL_TRAIN=str(data_dir / "train"), SM_CHANNEL_EVAL=str(data_dir / "eval"),
                       SM_CHANNEL_MODEL=t5_path, SM_MODEL_DIR=str(model_dir),
                       SM_OUTPUT_DIR=str(tmp_path / "opt" / "ml" / "output"))
    run = subprocess.run([sys.executable, "train.py", *toolkit_arguments(values)], cwd=code, env=environment,
                         capture_output=True, text=True, timeout=300)

    assert run.returncode == 0, run.stderr[-3000:]
    metrics = read_metrics(model_dir)
    assert metrics["algorithm"] == values["algorithm"] == "reward-pg"
    assert metrics["model"]["loaded_from"] == t5_path
    assert metrics["hyperparameters"]["good_min_rating"] == 4.5  # the stack's threshold reached the evaluation
    assert metrics["hyperparameters"]["epochs"] == 1 and metrics["training"]["steps"] > 0
    # The run's checks use the stack's budget, on answers as long as the stack allows.
    assert metrics["checks"]["thresholds"]["kl_budget"] == 9.5
    assert metrics["eval"]["after"]["generation"]["max_new_tokens"] == 16
    assert (model_dir / "merged" / "model.safetensors").is_file()  # where the import step looks
    assert not (tmp_path / "opt" / "ml" / "output" / "failure").exists()
