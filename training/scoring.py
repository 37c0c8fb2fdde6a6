"""Tokenizing (prompt, response) rows and scoring the response tokens, for both model shapes.

Used by training/reward_pg.py (the loss) and the evaluation (training/evaluation.py: the held-out log-probs;
training/generation.py: the prompts answers are generated from; training/sequence_kl.py: scoring those
answers), so training and evaluation see exactly the same tokens.
- Encoder-decoder (T5): the prompt is the encoder input; the response (+ EOS) is the decoder target.
- Causal (Llama): one sequence prompt + response (+ EOS), built by causal_example exactly as training/kto.py
  hands rows to TRL's KTOTrainer; the response starts where the tokenized prompt and the tokenized
  prompt+response diverge (as KTOTrainer does), and prompt tokens are masked out of every sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Encoded:
    prompt_ids: list[int]
    response_ids: list[int]


def _common_prefix(a: list[int], b: list[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def _keep_end(ids: list[int], limit: int, bos_id: int | None) -> list[int]:
    """Long prompts keep their end (the latest question), and a leading BOS if there was one."""
    if len(ids) <= limit:
        return ids
    if bos_id is not None and ids and ids[0] == bos_id and limit > 1:
        return [bos_id] + ids[len(ids) - limit + 1:]
    return ids[len(ids) - limit:]


def causal_example(tokenizer, prompt: str, response: str, system: str | None = None) -> dict[str, Any]:
    """The (prompt, completion) pair a causal model is trained on, in TRL's dataset formats. The rows hold
    the customer's question and, when the dataset was built with one, the chatbot's system prompt. With a
    chat template (instruct models): a system message (if any), the user message and the assistant message,
    rendered by the template, as Bedrock renders a Converse request for an imported model; without one,
    plain text, the system prompt and the question each followed by a newline so nothing runs on."""
    if getattr(tokenizer, "chat_template", None):
        system_turn = [{"role": "system", "content": system}] if system else []
        return {"prompt": [*system_turn, {"role": "user", "content": prompt}],
                "completion": [{"role": "assistant", "content": response}]}
    text = "".join(part if part[-1:].isspace() else part + "\n" for part in (system, prompt) if part)
    return {"prompt": text, "completion": response}


def _ids(tokenizer, value: str | list[dict[str, str]], **chat_options) -> list[int]:
    if isinstance(value, list):
        return list(tokenizer.apply_chat_template(value, tokenize=True, return_dict=True,
                                                  **chat_options)["input_ids"])
    return tokenizer(value)["input_ids"]


def encode(tokenizer, prompt: str, response: str, *, is_encoder_decoder: bool, max_prompt_length: int,
           max_response_length: int, system: str | None = None) -> Encoded:
    """`system` applies to causal models only: an encoder-decoder (T5) has no system slot and reads the
    question alone."""
    eos = tokenizer.eos_token_id
    add_eos = True
    if is_encoder_decoder:
        prompt_ids = tokenizer(prompt)["input_ids"]  # T5's tokenizer ends the encoder input with </s>
        response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    else:
        example = causal_example(tokenizer, prompt, response, system)
        conversational = isinstance(example["prompt"], list)
        prompt_only = _ids(tokenizer, example["prompt"], **({"add_generation_prompt": True}
                                                             if conversational else {}))
        full = _ids(tokenizer, example["prompt"] + example["completion"])
        split = _common_prefix(prompt_only, full)
        prompt_ids, response_ids = full[:split], full[split:]
        add_eos = not conversational  # a chat template ends the assistant turn itself (TRL does the same)
    if add_eos and (not response_ids or response_ids[-1] != eos):
        response_ids = response_ids + [eos]  # the model learns where a good answer stops
    # Truncation drops the end of a long response (and then its EOS, which it never reached).
    return Encoded(prompt_ids=_keep_end(prompt_ids, max_prompt_length, tokenizer.bos_token_id),
                   response_ids=response_ids[:max_response_length])


def encode_prompt(tokenizer, prompt: str, *, is_encoder_decoder: bool, max_prompt_length: int,
                  system: str | None = None) -> list[int]:
    """The prompt's tokens as encode() gives them, for generating an answer: what the model is conditioned on
    in training is what it answers from. A causal model with a chat template gets the generation prompt (the
    opening of the assistant's turn), as Bedrock renders a Converse request; that is where encode()'s prompt
    ends too (tests/training/test_scoring.py checks both agree)."""
    if is_encoder_decoder:
        ids = tokenizer(prompt)["input_ids"]
    else:
        example = causal_example(tokenizer, prompt, "", system)
        conversational = isinstance(example["prompt"], list)
        ids = _ids(tokenizer, example["prompt"], **({"add_generation_prompt": True} if conversational else {}))
    return _keep_end(ids, max_prompt_length, tokenizer.bos_token_id)


def encode_rows(tokenizer, rows: list[dict[str, Any]], response_key: str, *, is_encoder_decoder: bool,
                max_prompt_length: int, max_response_length: int) -> list[Encoded]:
    return [encode(tokenizer, row["prompt"], row[response_key], is_encoder_decoder=is_encoder_decoder,
                   max_prompt_length=max_prompt_length, max_response_length=max_response_length,
                   system=row.get("system"))
            for row in rows]


def _pad(sequences: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(seq) for seq in sequences)
    return torch.tensor([seq + [value] * (width - len(seq)) for seq in sequences], dtype=torch.long)


def collate(items: list[Encoded], *, is_encoder_decoder: bool, pad_id: int, device) -> dict[str, torch.Tensor]:
    """Right-padded tensors: model inputs plus `targets` and `response_mask` aligned with the logits."""
    if is_encoder_decoder:
        input_ids = _pad([item.prompt_ids for item in items], pad_id)
        attention = _pad([[1] * len(item.prompt_ids) for item in items], 0)
        targets = _pad([item.response_ids for item in items], pad_id)
        mask = _pad([[1] * len(item.response_ids) for item in items], 0)
        labels = targets.masked_fill(mask == 0, -100)  # T5 shifts labels into decoder inputs, -100 -> pad
        batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "targets": targets,
                 "response_mask": mask}
    else:
        sequences = [item.prompt_ids + item.response_ids for item in items]
        input_ids = _pad(sequences, pad_id)
        attention = _pad([[1] * len(seq) for seq in sequences], 0)
        # Logit t predicts token t+1: the mask marks the positions whose next token is a response token
        # (with an empty prompt the first response token has no position predicting it).
        mask = _pad([[0] * (len(item.prompt_ids) - 1) + [1] * len(item.response_ids) if item.prompt_ids
                     else [1] * (len(item.response_ids) - 1) for item in items], 0)
        batch = {"input_ids": input_ids, "attention_mask": attention, "targets": input_ids[:, 1:],
                 "response_mask": mask}
    return {key: value.to(device) for key, value in batch.items()}


def response_logits(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits for the response positions, shape (batch, len(targets), vocab)."""
    if "labels" in batch:
        output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       labels=batch["labels"])
        return output.logits
    output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return output.logits[:, :-1]


def _masked_token_logprobs(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logprobs * mask.float()


def mean_token_logprob(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row: the mean log-probability of the response tokens (length-normalised, so long answers are not
    penalised for their length)."""
    return _masked_token_logprobs(logits, targets, mask).sum(-1) / mask.float().sum(-1).clamp(min=1)


def sequence_logprob(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per row: log p(response | prompt), the sum over the response tokens (what a sequence KL compares)."""
    return _masked_token_logprobs(logits, targets, mask).sum(-1)
