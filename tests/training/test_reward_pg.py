"""The reward-pg objective on tiny randomly initialised models: the loss formula, the exact KL against the
adapter-disabled base, gradient accumulation over mini-batches, and the per-step log."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
import torch

from training import modeling, reward_pg, scoring
from training.config import Hyperparameters


def _hparams(model_path: str, **overrides) -> Hyperparameters:
    values = {"model_name_or_path": model_path, "load_in_8bit": False, "lora_r": 4, "lora_alpha": 8,
              "lora_dropout": 0.0, "learning_rate": 1e-2, "epochs": 1, "batch_size": 4, "mini_batch_size": 4}
    return Hyperparameters(**{**values, **overrides})


def _lora_model(model_path: str, hparams: Hyperparameters, seed: int = 0):
    torch.manual_seed(seed)
    loaded = modeling.load(model_path, hparams)
    torch.manual_seed(seed)
    return loaded, modeling.add_lora(loaded, hparams)


def _items(loaded, rows):
    return scoring.encode_rows(loaded.tokenizer, rows, "response", is_encoder_decoder=loaded.is_encoder_decoder,
                               max_prompt_length=64, max_response_length=64)


@pytest.fixture(scope="module", params=["llama_path", "t5_path"])
def model(request):
    hparams = _hparams(request.getfixturevalue(request.param))
    loaded, peft_model = _lora_model(hparams.model_name_or_path, hparams)
    return loaded, peft_model, hparams


def test_at_initialisation_the_loss_is_the_reward_weighted_log_likelihood(model, splits):
    loaded, peft_model, _ = model
    rows = splits["train"]["reward"][:4]
    # LoRA starts with B = 0, so the policy equals the frozen base and the KL term is exactly zero.
    terms = reward_pg.batch_loss(peft_model, _items(loaded, rows), [row["reward"] for row in rows],
                                 is_encoder_decoder=loaded.is_encoder_decoder, pad_id=loaded.tokenizer.pad_token_id,
                                 device="cpu", kl_coef=0.5)
    assert terms.kl.abs().max().item() < 1e-6
    rewards = torch.tensor([row["reward"] for row in rows])
    assert torch.allclose(terms.loss, -rewards * terms.mean_logprob, atol=1e-6)
    assert (terms.mean_logprob < 0).all()


def test_kl_is_the_exact_divergence_from_the_reference_distribution():
    torch.manual_seed(1)
    logits, ref_logits = torch.randn(2, 5, 11), torch.randn(2, 5, 11)
    targets = torch.randint(0, 11, (2, 5))
    mask = torch.tensor([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]])
    terms = reward_pg.policy_gradient_loss(logits, ref_logits, targets, mask, torch.tensor([1.0, -0.5]),
                                           kl_coef=0.3)
    # torch's kl_div(input=log q, target=log p) is p * (log p - log q) elementwise: an independent formula.
    per_token = torch.nn.functional.kl_div(torch.log_softmax(ref_logits, -1), torch.log_softmax(logits, -1),
                                           log_target=True, reduction="none").sum(-1)
    expected_kl = (per_token * mask).sum(-1) / mask.sum(-1)
    assert torch.allclose(terms.kl, expected_kl, atol=1e-6)
    assert torch.allclose(terms.loss, -torch.tensor([1.0, -0.5]) * terms.mean_logprob + 0.3 * expected_kl)


def test_the_kl_term_grows_as_the_adapter_moves_and_reference_stays_the_base(splits, llama_path):
    hparams = _hparams(llama_path)
    loaded, peft_model = _lora_model(llama_path, hparams)
    rows = splits["train"]["reward"][:4]
    items, rewards = _items(loaded, rows), [row["reward"] for row in rows]
    args = {"is_encoder_decoder": False, "pad_id": loaded.tokenizer.pad_token_id, "device": "cpu"}
    batch = scoring.collate(items, is_encoder_decoder=False, pad_id=args["pad_id"], device="cpu")
    with torch.no_grad():
        base_logits = scoring.response_logits(peft_model, batch)
    reward_pg.train(peft_model, loaded.tokenizer, rows, replace(hparams, epochs=3), is_encoder_decoder=False,
                    device="cpu")
    terms = reward_pg.batch_loss(peft_model, items, rewards, kl_coef=1.0, **args)
    assert terms.kl.min().item() > 1e-4
    with torch.no_grad(), peft_model.disable_adapter():
        assert torch.allclose(scoring.response_logits(peft_model, batch), base_logits, atol=1e-5)


@pytest.mark.parametrize("mini_batch_size", [1, 3])
def test_mini_batches_accumulate_the_same_gradient_as_one_full_batch(model, splits, mini_batch_size):
    loaded, peft_model, _ = model
    rows = splits["train"]["reward"][4:9]
    items, rewards = _items(loaded, rows), [row["reward"] for row in rows]
    args = {"is_encoder_decoder": loaded.is_encoder_decoder, "pad_id": loaded.tokenizer.pad_token_id,
            "device": "cpu", "kl_coef": 0.2}
    trainable = [p for p in peft_model.parameters() if p.requires_grad]

    def gradients(chunk: int) -> list[torch.Tensor]:
        peft_model.zero_grad(set_to_none=True)
        reward_pg.accumulate_gradients(peft_model, items, rewards, mini_batch_size=chunk, **args)
        return [p.grad.clone() for p in trainable]

    full, chunked = gradients(len(items)), gradients(mini_batch_size)
    peft_model.zero_grad(set_to_none=True)
    assert any(g.abs().sum() > 0 for g in full)
    for a, b in zip(full, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_each_step_is_logged_and_max_steps_stops_early(splits, llama_path, caplog):
    hparams = _hparams(llama_path, batch_size=2, mini_batch_size=1, epochs=5)
    loaded, peft_model = _lora_model(llama_path, hparams)
    seen = []
    with caplog.at_level(logging.INFO, logger="training"):
        result = reward_pg.train(peft_model, loaded.tokenizer, splits["train"]["reward"][:8], hparams,
                                 is_encoder_decoder=False, device="cpu", max_steps=3, on_step=seen.append)
    assert result.steps == 3 and [entry["step"] for entry in result.history] == [1, 2, 3] and seen == result.history
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("step=")]
    assert len(lines) == 3
    assert lines[0].startswith("step=1 epoch=1 loss=") and " reward/mean=" in lines[0] and " kl=" in lines[0]
