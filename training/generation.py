"""Answers the model writes itself for held-out prompts: greedy for generation health, sampled for the KL.

Used by training/generation_health.py and training/sequence_kl.py. The prompts are the eval split's
distinct questions (with their system prompt), encoded by training/scoring.py exactly as training encodes
them, so a sampled answer can be scored token for token as it was drawn.

Sampling draws from the model's own distribution, unshaped: temperature 1, no top-k or top-p cut, no
repetition penalty, whatever the checkpoint's generation_config.json says. The sequence KL estimate is a mean
over samples of log p_tuned(y|x) - log p_base(y|x), which estimates KL(tuned || base) only for y drawn from
p_tuned itself. The same overrides keep greedy decoding the plain argmax. The draw is seeded and does not
disturb the global random state (the training's row order and dropout are seeded separately).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lambdas.common.training_data import held_out_questions
from training import scoring

PROMPT_BATCH_SIZE = 8  # prompts per generate call (each with its samples)
# Logit shaping a checkpoint's generation_config.json may switch on, switched off: the answers must come from
# the model's distribution itself (see the module docstring). The first set applies to greedy decoding too.
PLAIN_DECODING = {"num_beams": 1, "repetition_penalty": 1.0, "no_repeat_ngram_size": 0, "min_new_tokens": 0}
PLAIN_SAMPLING = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "typical_p": 1.0}


@dataclass(frozen=True)
class Prompt:
    prompt: str
    system: str | None


@dataclass(frozen=True)
class Generated:
    prompt_index: int
    prompt_ids: list[int]
    ids: list[int]  # what the model generated, up to and including its stop token when it stopped
    stopped: bool  # it ended the answer with a stop token within max_new_tokens
    text: str  # the answer decoded, special tokens left out

    @property
    def answer_ids(self) -> list[int]:
        """The answer's own tokens, without the stop token."""
        return self.ids[:-1] if self.stopped else self.ids


def held_out_prompts(rows: list[dict[str, Any]], limit: int) -> list[Prompt]:
    """The first `limit` distinct (question, system prompt) pairs of the rows, in their order
    (lambdas/common/training_data.py held_out_questions, the rule both training paths follow)."""
    return [Prompt(prompt, system) for prompt, system in held_out_questions(rows, limit)]


def stop_ids(model, tokenizer) -> set[int]:
    """The tokenizer's EOS and the generation config's (an instruct model may end its turn with another token,
    such as Llama 3's <|eot_id|>)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return ids


def _prompt_batch(prompt_ids: list[list[int]], *, is_encoder_decoder: bool, pad_id: int, device):
    """Encoder inputs are padded on the right; a causal prompt on the left, so every answer starts right
    after its own prompt (generate derives the positions from the attention mask)."""
    width = max(len(ids) for ids in prompt_ids)
    rows, masks = [], []
    for ids in prompt_ids:
        padding = [pad_id] * (width - len(ids))
        rows.append(ids + padding if is_encoder_decoder else padding + ids)
        mask = [1] * len(ids)
        masks.append(mask + [0] * len(padding) if is_encoder_decoder else [0] * len(padding) + mask)
    return (torch.tensor(rows, dtype=torch.long, device=device),
            torch.tensor(masks, dtype=torch.long, device=device))


def _trim(ids: list[int], stops: set[int]) -> tuple[list[int], bool]:
    for position, token in enumerate(ids):
        if token in stops:
            return ids[:position + 1], True
    return ids, False


@torch.no_grad()
def generate(model, tokenizer, prompts: list[Prompt], *, is_encoder_decoder: bool, device, max_prompt_length: int,
             max_new_tokens: int, samples_per_prompt: int = 1, sample: bool = False, seed: int = 0
             ) -> list[Generated]:
    """Greedy answers (sample=False, one per prompt) or samples_per_prompt sampled ones per prompt."""
    encoded = [scoring.encode_prompt(tokenizer, p.prompt, system=p.system, is_encoder_decoder=is_encoder_decoder,
                                     max_prompt_length=max_prompt_length) for p in prompts]
    stops = stop_ids(model, tokenizer)
    per_prompt = samples_per_prompt if sample else 1
    was_training = model.training
    model.eval()
    results: list[Generated] = []
    devices = [torch.device(device).index or 0] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for start in range(0, len(encoded), PROMPT_BATCH_SIZE):
            chunk = encoded[start:start + PROMPT_BATCH_SIZE]
            input_ids, attention = _prompt_batch(chunk, is_encoder_decoder=is_encoder_decoder,
                                                 pad_id=tokenizer.pad_token_id, device=device)
            output = model.generate(input_ids=input_ids, attention_mask=attention, do_sample=sample,
                                    max_new_tokens=max_new_tokens, num_return_sequences=per_prompt,
                                    pad_token_id=tokenizer.pad_token_id, eos_token_id=sorted(stops),
                                    **PLAIN_DECODING, **(PLAIN_SAMPLING if sample else {}))
            # An encoder-decoder's output starts with the decoder start token; a causal one with the prompt.
            new_tokens = output[:, 1:] if is_encoder_decoder else output[:, input_ids.shape[1]:]
            for row, generated in enumerate(new_tokens.tolist()):
                index = start + row // per_prompt
                ids, stopped = _trim(generated, stops)
                results.append(Generated(prompt_index=index, prompt_ids=encoded[index], ids=ids, stopped=stopped,
                                         text=tokenizer.decode(ids, skip_special_tokens=True)))
    model.train(was_training)
    return results
