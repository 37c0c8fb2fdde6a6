"""Synthetic ratings for the fine-tuning tests and the training benchmark, which train the tiny RANDOMLY
INITIALISED models of local/tiny_models.py (built from configs, with a tokenizer trained on the spot; the demo's
simulated training job uses the same builder). Runs on them simulate the pipeline; they say nothing about the
quality a real model reaches.

The synthetic ratings follow a pattern a tiny model can pick up: for "How do I <verb> my <noun>?" the
well-rated answers (rating 5 / 4.5) are step-by-step instructions and the badly rated ones (1 / 1.5) are
refusals. The eval split holds other sessions, with verb/noun pairs never seen in training, so a rising
held-out margin means the preference generalised.
"""

from __future__ import annotations

VERBS = ("reset", "change", "update", "delete", "export", "recover", "lock", "share")
NOUNS = ("password", "email", "account", "invoice", "profile", "address", "card", "order")
GOOD = ("Open Settings, choose {noun}, then select {verb}. Done!",
        "Go to Settings > {noun} and press {verb}. Done!")
BAD = ("No idea about your {noun}, sorry.",
       "You cannot {verb} that. Call us.")
EVAL_PAIRS = 8  # verb/noun pairs held out (their sessions are in eval only)


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
