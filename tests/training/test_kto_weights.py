"""kto applies each row's weight to that row's term of the loss (training/kto.py WeightedKTOTrainer).

At the first step the LoRA adapter is zero, so the policy equals the reference: every log-ratio and TRL's KL
estimate are 0 and sigmoid'(0) = 1/4. The gradient of TRL's KTO loss, with each row's term scaled by its
weight and by its label's weight (set from the rows' balance, kto.class_weights), is then

    d loss = (beta / 4 / batch) * sum_i label_weight_i * weight_i * sign_i * d log p(completion_i | prompt_i)

with sign -1 for a desirable row and +1 for an undesirable one. The test computes the right-hand side from
the model's own log-probabilities of the batch TRL collated, so a weight that is dropped, or applied to the
wrong row, changes the gradient.
"""

from __future__ import annotations

import pytest
import torch

from training import kto, modeling
from training.config import Hyperparameters

WEIGHTS = [0.25, 1.0, 0.75, 0.5]  # distinct within each label, so a weight on the wrong row shows


@pytest.fixture
def hparams(llama_path) -> Hyperparameters:
    # No LoRA dropout: the two passes (TRL's loss and the reference below) must see the same weights.
    return Hyperparameters(algorithm="kto", model_name_or_path=llama_path, load_in_8bit=False, lora_dropout=0.0,
                           batch_size=len(WEIGHTS), kto_beta=0.5)


def _rows(splits, weights: list[float | None]) -> list[dict]:
    rows = splits["train"]["kto"][:len(weights)]
    assert [row["label"] for row in rows] == [True, False, True, False]  # both labels, interleaved
    return [{**row, "source": "test"} if weight is None else {**row, "source": "test", "weight": weight}
            for row, weight in zip(rows, weights, strict=True)]


def _first_batch(tmp_path, splits, hparams, weights):
    loaded = modeling.load(hparams.model_name_or_path, hparams)  # get_peft_model changes a model: a fresh one
    trainer = kto.build_trainer(loaded.model, loaded.tokenizer, modeling.lora_config(loaded, hparams),
                                _rows(splits, weights), hparams, output_dir=str(tmp_path),
                                batch_size=len(weights))
    trainer.model.eval()  # the same forward for TRL's loss and the reference
    # The dataloader TRL trains with: it drops the columns the trainer does not declare.
    return trainer, next(iter(trainer.get_train_dataloader()))


def _gradients(model) -> dict[str, torch.Tensor]:
    grads = {name: param.grad.detach().clone() for name, param in model.named_parameters()
             if param.requires_grad and param.grad is not None}
    model.zero_grad()
    return grads


def _completion_logps(model, batch) -> torch.Tensor:
    """log p(completion | prompt) per row, summed over the completion tokens TRL marks."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    tokens = torch.log_softmax(logits.float(), dim=-1).gather(-1, batch["input_ids"][:, 1:].unsqueeze(-1)).squeeze(-1)
    return (tokens * batch["completion_mask"][:, 1:]).sum(-1)


def test_each_rows_weight_scales_its_own_term_of_the_loss(tmp_path, splits, hparams):
    trainer, batch = _first_batch(tmp_path, splits, hparams, WEIGHTS)
    ordered = kto.shuffled(_rows(splits, WEIGHTS), hparams.seed)  # the order TRL trains in
    # The column reached the batch with each row, in the order TRL was given the rows.
    assert batch[kto.WEIGHT].tolist() == [row["weight"] for row in ordered]
    assert batch["label"].tolist() == [row["label"] for row in ordered]
    # Desirable rows weigh 0.25 + 0.75 = 1, undesirable ones 1 + 0.5 = 1.5: the label weights differ.
    desirable_weight, undesirable_weight = kto.class_weights(ordered)
    assert (trainer.desirable_weight, trainer.undesirable_weight) == (desirable_weight, undesirable_weight)
    assert desirable_weight > 1 > undesirable_weight
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    got = _gradients(trainer.model)

    weights = torch.tensor([row["weight"] for row in ordered])
    desirable = batch["label"].bool()
    sign = torch.where(desirable, -1.0, 1.0)
    label_weight = torch.where(desirable, desirable_weight, undesirable_weight)
    reference = (hparams.kto_beta / 4 / len(WEIGHTS)) * (
        label_weight * weights * sign * _completion_logps(trainer.model, batch)).sum()
    reference.backward()
    expected = _gradients(trainer.model)

    # Every term is 1 - sigmoid(0) = 1/2 at the first step, and the label weights keep the sum of the rows'
    # weights: the loss is the mean of the row weights over 2.
    assert loss.item() == pytest.approx(sum(WEIGHTS) / len(WEIGHTS) / 2)
    assert got.keys() == expected.keys() and any("lora_B" in name for name in got)
    for name, gradient in expected.items():
        # With B = 0 only the B matrices get a gradient at the first step: those carry the check.
        assert ("lora_B" not in name) or gradient.abs().max() > 0, name
        torch.testing.assert_close(got[name], gradient, rtol=1e-4, atol=1e-8, msg=name)


def test_rows_without_a_weight_count_as_one_and_trl_label_weights_still_apply(tmp_path, splits, hparams):
    trainer, batch = _first_batch(tmp_path, splits, hparams, [None] * 4)
    assert batch[kto.WEIGHT].tolist() == [1.0] * 4
    trainer.undesirable_weight = 0.0  # TRL's own per-label weight multiplies the row's
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(trainer.desirable_weight * 2 * 0.5 / 4)
    assert trainer.undesirable_weight == 0.0  # restored after the call


def test_rows_by_source_reports_thumbs_and_ratings_apart():
    given = [{"source": "thumbs", "label": True, "weight": 0.5}, {"source": "thumbs", "label": False, "weight": 0.5},
             {"source": "import", "label": True, "weight": 1.0}, {"label": False}]
    trained = given[1:]  # TRL left the first out (its prompt filled max_length)
    assert kto.rows_by_source(given, trained) == {
        "import": {"rows": 1, "trained": 1, "kto_true": 1, "kto_false": 0, "weights": [1.0], "weight_sum": 1.0},
        "thumbs": {"rows": 2, "trained": 1, "kto_true": 0, "kto_false": 1, "weights": [0.5], "weight_sum": 0.5},
        "unknown": {"rows": 1, "trained": 1, "kto_true": 0, "kto_false": 1, "weights": [1.0], "weight_sum": 1.0}}
