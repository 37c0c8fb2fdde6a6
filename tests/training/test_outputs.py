"""metrics.json stays valid JSON whatever the numbers, and the plot is drawn from the per-step history."""

from __future__ import annotations

import json

import pytest

from training import outputs


def test_non_finite_numbers_are_written_as_null(tmp_path):
    outputs.write_metrics(tmp_path, {"history": [{"loss": float("nan")}, {"loss": float("inf")}], "ok": 1.5})
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"history": [{"loss": None}, {"loss": None}], "ok": 1.5}


@pytest.mark.parametrize(("algorithm", "history"), [
    ("reward-pg", [{"step": 1, "loss": 0.5, "reward/mean": 0.2, "kl": 0.0},
                   {"step": 2, "loss": 0.3, "reward/mean": -0.1, "kl": 0.01}]),
    # kto: a batch holding only one label logs no margin; the plot draws what there is.
    ("kto", [{"step": 1, "loss": 0.5, "rewards/chosen": 0.1, "rewards/rejected": -0.1, "rewards/margins": 0.2},
             {"step": 2, "loss": 0.4, "rewards/chosen": 0.2}]),
])
def test_the_training_curves_are_a_png(tmp_path, algorithm, history):
    path = outputs.plot_curves(tmp_path, algorithm, history)
    assert path.name == "training_curves.png" and path.read_bytes()[:4] == b"\x89PNG"
