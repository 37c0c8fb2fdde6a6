"""Fixtures for the fine-tuning job's tests: tiny RANDOMLY INITIALISED models and synthetic ratings from
local/tiny_models.py and testing/tiny_models.py (nothing downloaded; a simulation of the real job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lambdas.common.training_data import KTO_FILE, REWARD_FILE, to_jsonl
from local.tiny_models import build_tokenizer, save_tiny_llama, save_tiny_t5
from testing.tiny_models import all_texts, synthetic_splits

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def splits():
    return synthetic_splits()


@pytest.fixture(scope="session")
def tokenizer(splits):
    return build_tokenizer(all_texts(splits))


@pytest.fixture(scope="session")
def t5_path(tmp_path_factory, tokenizer) -> str:
    return save_tiny_t5(tokenizer, tmp_path_factory.mktemp("tiny-t5"))


@pytest.fixture(scope="session")
def llama_path(tmp_path_factory, tokenizer) -> str:
    return save_tiny_llama(tokenizer, tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory, splits) -> Path:
    """train/ and eval/ channels as the dataset Lambda writes them (reward.jsonl and kto.jsonl each)."""
    root = tmp_path_factory.mktemp("dataset")
    for split_name, split in splits.items():
        (root / split_name).mkdir()
        (root / split_name / REWARD_FILE).write_bytes(to_jsonl(split["reward"]))
        (root / split_name / KTO_FILE).write_bytes(to_jsonl(split["kto"]))
    return root


def read_metrics(output: Path) -> dict:
    return json.loads((output / "metrics.json").read_text())


def summary(name: str, metrics: dict) -> str:
    """One line of what a run measured and which checks failed, printed by the tests (pytest -s) for the record."""
    measured, checks = metrics["eval"], metrics["checks"]
    before, after = measured["before"], measured["after"]
    return (f"{name}: margin {before['margin']:+.3f} -> {after['margin']:+.3f}; well-rated "
            f"{before['good_mean_logprob']:.3f} -> {after['good_mean_logprob']:.3f}; badly rated "
            f"{before['bad_mean_logprob']:.3f} -> {after['bad_mean_logprob']:.3f}; distinct-2 "
            f"{before['generation']['distinct_2']:.3f} -> {after['generation']['distinct_2']:.3f}; repeat run "
            f"{before['generation']['mean_longest_repeat_run']:.1f} -> "
            f"{after['generation']['mean_longest_repeat_run']:.1f}; KL {measured['kl_to_base']['sequence_kl']:.2f}; "
            f"failed: {[failure['check'] for failure in checks['failures']]}")
