"""Tiny RANDOMLY INITIALISED models and synthetic ratings, for the fine-tuning tests and the training benchmark.

Nothing is downloaded. The tokenizer is a byte-level BPE trained on the given texts on the spot, the models
are built from small configs (a T5 and a Llama, d_model/hidden 64, 2 layers) and saved to a folder, so the
job loads them by path exactly as it loads Flan-T5 XL or a Llama from SM_CHANNEL_MODEL on SageMaker. Runs
on them simulate the pipeline; they say nothing about the quality a real model reaches.

The synthetic ratings follow a pattern a tiny model can pick up: for "How do I <verb> my <noun>?" the
well-rated answers (rating 5 / 4.5) are step-by-step instructions and the badly rated ones (1 / 1.5) are
refusals. The eval split holds other sessions, with verb/noun pairs never seen in training, so a rising
held-out margin means the preference generalised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

VERBS = ("reset", "change", "update", "delete", "export", "recover", "lock", "share")
NOUNS = ("password", "email", "account", "invoice", "profile", "address", "card", "order")
GOOD = ("Open Settings, choose {noun}, then select {verb}. Done!",
        "Go to Settings > {noun} and press {verb}. Done!")
BAD = ("No idea about your {noun}, sorry.",
       "You cannot {verb} that. Call us.")
EVAL_PAIRS = 8  # verb/noun pairs held out (their sessions are in eval only)

# How the tests and the training benchmark train the tiny models (tests/training, bench/training_throughput.py):
# hard enough that the held-out margin moves far above the untrained models' +-0.4, and inside every run check
# (tests/training/test_healthy_runs.py). Each model has its own learning rate. At one rate the tiny T5 learns
# much faster than the tiny Llama: T5 does not scale attention scores by 1/sqrt(d_kv) (4x here) and LoRA adapts
# 12 of its projections against the Llama's 4. At the Llama's 5e-3 the T5 raised the well-rated answers by 2.7
# nats per token (the Llama by 0.37) and moved 0.16 nats per token from the base on its own answers (the Llama
# 0.007), a sequence KL of 9.8 nats: an over-trained run, over the 6-nat budget. At 1e-3 it still raises the
# margin by about 2 with a sequence KL of about 3.4.
TRAINING_SETTINGS: dict[str, Any] = {"epochs": 4, "batch_size": 8, "mini_batch_size": 4, "lora_r": 8,
                                     "lora_alpha": 16, "seed": 7, "load_in_8bit": False}
LEARNING_RATES = {"t5": 1e-3, "llama": 5e-3}


def training_settings(model: str) -> dict[str, Any]:
    """Keyword arguments of training.config.Hyperparameters that train the tiny `model` ("t5" or "llama");
    mini_batch_size is reward-pg's (kto ignores it)."""
    return {**TRAINING_SETTINGS, "learning_rate": LEARNING_RATES[model]}


def _rows(pairs: list[tuple[int, str, str]]) -> tuple[list[dict], list[dict]]:
    """Reward and KTO rows, good and bad alternating (both algorithms shuffle them with the seed)."""
    reward, kto = [], []
    for index, verb, noun in pairs:
        question = f"How do I {verb} my {noun}?"
        session = f"session-{index:03d}"
        for turn, (template, rating) in enumerate(((GOOD[index % 2], 5.0 if index % 3 else 4.5),
                                                    (BAD[index % 2], 1.0 if index % 3 else 1.5))):
            answer = template.format(verb=verb, noun=noun)
            ids = {"session_id": session, "turn_id": f"turn-{turn}"}
            reward.append({"prompt": question, "response": answer, "reward": (rating - 3) / 2,
                           "rating": rating, **ids})
            kto.append({"prompt": question, "completion": answer, "label": rating >= 4, **ids})
    return reward, kto


def synthetic_splits() -> dict[str, dict[str, list[dict]]]:
    pairs = [(i, verb, noun) for i, (verb, noun) in enumerate((v, n) for n in NOUNS for v in VERBS)]
    # Every 8th pair (a different verb and noun each time) is held out.
    held_out = [pair for pair in pairs if pair[0] % 8 == pair[0] // 8 % 8][:EVAL_PAIRS]
    train = [pair for pair in pairs if pair not in held_out][:32]
    (train_reward, train_kto), (eval_reward, eval_kto) = _rows(train), _rows(held_out)
    return {"train": {"reward": train_reward, "kto": train_kto},
            "eval": {"reward": eval_reward, "kto": eval_kto}}


def all_texts(splits) -> list[str]:
    texts = []
    for split in splits.values():
        for row in split["reward"]:
            texts += [row["prompt"], row["response"], row["prompt"] + "\n" + row["response"]]
    return texts


def build_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    # Special tokens first, in T5's order: pad 0, eos 1 (T5 also starts the decoder with the pad id).
    backend.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<pad>", "</s>", "<s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=backend, model_input_names=["input_ids", "attention_mask"],
                                   pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>")


def _save(model, tokenizer, folder: Path) -> str:
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def save_tiny_t5(tokenizer, folder: Path, seed: int = 0) -> str:
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tokenizer), d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
                      pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    return _save(T5ForConditionalGeneration(config), tokenizer, folder)


def save_tiny_llama(tokenizer, folder: Path, seed: int = 0) -> str:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.bos_token_id)
    return _save(LlamaForCausalLM(config), tokenizer, folder)
