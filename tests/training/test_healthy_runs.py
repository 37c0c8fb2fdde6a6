"""Ordinary runs of both algorithms with today's objectives pass every run check, through training/job.py.

The counterpart of tests/training/test_degenerate_runs.py: there, runs that got worse while the margin rose are
failed; here, reward-pg on the tiny T5 and the tiny Llama and kto on the tiny Llama, trained with the settings
the tests and the benchmark use (local/tiny_models.py training_settings), make the well-rated held-out
answers more likely than the base did, keep greedy generation as healthy as the base's and stay inside the KL
budget: metrics.json "checks" passes. The measured numbers are printed (pytest -s) for the record.
"""

from __future__ import annotations

import pytest

from local.tiny_models import training_settings
from tests.training.conftest import summary
from training import job
from training.config import Hyperparameters
from training.data import TrainingData

CONFIGURATIONS = [("reward-pg", "t5"), ("reward-pg", "llama"), ("kto", "llama")]


def _run(algorithm: str, model: str, model_path: str, splits, output) -> dict:
    hparams = Hyperparameters(algorithm=algorithm, model_name_or_path=model_path, merge=False,
                              **training_settings(model))
    rows = splits["train"]["reward" if algorithm == "reward-pg" else "kto"]
    return job.run(hparams, TrainingData(train=rows, eval=splits["eval"]["reward"], sources={}), output)


@pytest.mark.parametrize(("algorithm", "model"), CONFIGURATIONS)
def test_a_healthy_run_raises_the_well_rated_answers_and_passes_every_check(algorithm, model, request, splits,
                                                                             tmp_path):
    metrics = _run(algorithm, model, request.getfixturevalue(f"{model}_path"), splits, tmp_path)
    print("\n" + summary(f"{algorithm}, {model}", metrics))

    checks, measured = metrics["checks"], metrics["eval"]
    assert checks["passed"] is True, [failure["reason"] for failure in checks["failures"]]
    # Passing allows the well-rated answers to stay where they were (within logprob_tolerance); a healthy run
    # must have learned them: more likely by more than that tolerance.
    assert measured["delta"]["good_mean_logprob"] > checks["thresholds"]["logprob_tolerance"]
    assert measured["kl_to_base"]["sequence_kl"] > 0  # trained, measured, and inside the budget (checks)
