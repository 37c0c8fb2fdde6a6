"""Runs that got worse while the held-out margin rose are failed by the run checks, through training/job.py.

The runs train with reward-pg's first objective (tests/training/unbounded_reward_pg.py, pinned so these tests
keep meaning the same whatever training/reward_pg.py becomes): on badly rated rows only, the margin rises
while well-rated answers become less likely or greedy answers collapse; trained hard, the model drifts far
past the KL budget. The measured numbers are printed (pytest -s) for the record.
"""

from __future__ import annotations

import pytest

from tests.training import unbounded_reward_pg
from tests.training.conftest import summary
from training import job, reward_pg
from training.config import Hyperparameters
from training.data import TrainingData

SETTINGS = {"learning_rate": 5e-3, "epochs": 4, "batch_size": 8, "mini_batch_size": 4, "lora_r": 8, "lora_alpha": 16,
            "seed": 7, "load_in_8bit": False, "merge": False}
MIN_MARGIN_GAIN = 0.2  # tests/training/test_job.py's bar for "training raised the margin"
# What "worse" can show as: well-rated answers fell, or greedy answers collapsed.
GOT_WORSE = {"good_answers_logprob", "generation_stop_rate", "generation_empty", "generation_distinct_2",
             "generation_repeat_run"}


def _run(model_path: str, rows: list[dict], held_out: list[dict], output, **overrides) -> dict:
    hparams = Hyperparameters(model_name_or_path=model_path, **{**SETTINGS, **overrides})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reward_pg, "train", unbounded_reward_pg.train)
        return job.run(hparams, TrainingData(train=rows, eval=held_out, sources={}), output)


@pytest.mark.parametrize("model", ["t5_path", "llama_path"])
def test_training_on_badly_rated_rows_only_is_failed_though_the_margin_rose(model, request, splits, tmp_path):
    bad_rows = [row for row in splits["train"]["reward"] if row["reward"] < 0]
    metrics = _run(request.getfixturevalue(model), bad_rows, splits["eval"]["reward"], tmp_path)
    print("\n" + summary(f"bad rows only, {model}", metrics))

    assert metrics["eval"]["margin_delta"] > MIN_MARGIN_GAIN  # the margin alone would call this run a success
    checks = metrics["checks"]
    assert checks["passed"] is False
    assert GOT_WORSE & {failure["check"] for failure in checks["failures"]}


def test_an_over_trained_run_is_failed_by_the_kl_budget(t5_path, splits, tmp_path):
    metrics = _run(t5_path, splits["train"]["reward"], splits["eval"]["reward"], tmp_path,
                   learning_rate=5e-2, epochs=6)
    print("\n" + summary("over-trained, t5", metrics))

    failures = {failure["check"]: failure for failure in metrics["checks"]["failures"]}
    assert failures["kl_budget"]["value"] == metrics["eval"]["kl_to_base"]["sequence_kl"]
    assert failures["kl_budget"]["value"] > failures["kl_budget"]["limit"] == Hyperparameters().kl_budget


def test_a_lightly_trained_run_stays_inside_the_kl_budget(t5_path, splits, tmp_path):
    """The budget is not a bar every trained model fails: one small step moves the model a little."""
    metrics = _run(t5_path, splits["train"]["reward"], splits["eval"]["reward"], tmp_path,
                   learning_rate=1e-3, epochs=1, batch_size=8)
    print("\n" + summary("one epoch at 1e-3, t5", metrics))

    kl = metrics["eval"]["kl_to_base"]
    assert 0 < kl["sequence_kl"] < metrics["checks"]["thresholds"]["kl_budget"]
    assert "kl_budget" not in {failure["check"] for failure in metrics["checks"]["failures"]}
