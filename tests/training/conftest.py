"""Fixtures for the fine-tuning job's tests: tiny RANDOMLY INITIALISED models and synthetic ratings from
testing/tiny_models.py (nothing downloaded; a simulation of the real job)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from lambdas.common.training_data import KTO_FILE, REWARD_FILE, to_jsonl
from testing.tiny_models import all_texts, build_tokenizer, save_tiny_llama, save_tiny_t5, synthetic_splits

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
