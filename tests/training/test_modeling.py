"""The 8-bit decision (no GPU here, so CUDA is simulated) and the LoRA target modules by model type."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from training import modeling
from training.config import ConfigError


def test_without_cuda_8bit_falls_back_to_full_precision_with_a_warning(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    plan = modeling.plan_quantization(True)
    assert (plan.requested, plan.used) == (True, "none") and "CUDA is not available" in plan.reason
    assert "load_in_8bit=true ignored" in caplog.text


def test_with_cuda_but_no_bitsandbytes_8bit_falls_back_too(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert modeling.plan_quantization(True).reason == "bitsandbytes is not installed: training in full precision"


def test_with_cuda_and_bitsandbytes_8bit_is_used(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "bitsandbytes" else None)
    assert modeling.plan_quantization(True).to_dict() == {"requested": "8bit", "used": "8bit",
                                                          "reason": "load_in_8bit=true on CUDA"}
    assert modeling.plan_quantization(False).used == "none"


@pytest.mark.parametrize(("model_type", "expected"), [("t5", ["q", "v"]), ("llama", ["q_proj", "v_proj"]),
                                                      ("mistral", ["q_proj", "v_proj"])])
def test_target_modules_default_by_model_type(model_type, expected):
    assert modeling.target_modules(model_type, None) == expected
    assert modeling.target_modules(model_type, ("k", "o")) == ["k", "o"]


def test_an_unknown_model_type_needs_explicit_target_modules():
    with pytest.raises(ConfigError, match="^lora_target_modules: no default for model type 'mystery'"):
        modeling.target_modules("mystery", None)


@pytest.mark.parametrize("model_path", ["t5_path", "llama_path"])
def test_with_dropout_off_a_training_mode_pass_is_deterministic(model_path, request, tokenizer):
    """reward-pg compares two passes in training mode (adapter on, adapter off): any dropout left on would add
    noise to that KL. T5's attention drops attention weights through a rate it keeps as a number
    (config.dropout_rate), not an nn.Dropout module."""
    from training.config import Hyperparameters

    hparams = Hyperparameters(model_name_or_path=request.getfixturevalue(model_path), load_in_8bit=False)
    loaded = modeling.load(hparams.model_name_or_path, hparams)
    if loaded.is_encoder_decoder:
        assert loaded.model.config.dropout_rate > 0  # the checkpoint's own rate, which training must not apply
    loaded.model.train()
    ids = torch.tensor([tokenizer("How do I reset my email? Open Settings.")["input_ids"]])
    inputs = {"input_ids": ids, "labels": ids} if loaded.is_encoder_decoder else {"input_ids": ids}
    with torch.no_grad():
        first, second = loaded.model(**inputs).logits, loaded.model(**inputs).logits
    assert torch.equal(first, second)
