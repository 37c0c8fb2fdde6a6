"""Which tokens are scored: the response (and its EOS) only, never the prompt; the same split KTOTrainer
makes for causal models; truncation; and the chat-template path for instruct models."""

from __future__ import annotations

import copy

import pytest
import torch

from training import scoring

ROW = {"prompt": "How do I reset my email?", "response": "Open Settings, choose email, then select reset."}


def _encode(tokenizer, seq2seq: bool, row=ROW, **limits):
    return scoring.encode(tokenizer, row["prompt"], row["response"], is_encoder_decoder=seq2seq,
                          max_prompt_length=limits.get("prompt", 64), max_response_length=limits.get("response", 64))


def test_causal_rows_score_the_response_and_eos_and_mask_the_prompt(tokenizer):
    short = {"prompt": "Hi?", "response": "Hello."}
    items = [_encode(tokenizer, False), _encode(tokenizer, False, short)]
    assert tokenizer.decode(items[0].prompt_ids) == ROW["prompt"] + "\n"  # plain text: a newline separates
    assert tokenizer.decode(items[0].response_ids) == ROW["response"] + "</s>"
    batch = scoring.collate(items, is_encoder_decoder=False, pad_id=tokenizer.pad_token_id, device="cpu")
    for row_index, item in enumerate(items):
        scored = batch["targets"][row_index][batch["response_mask"][row_index].bool()].tolist()
        assert scored == item.response_ids  # exactly the response tokens, none of the prompt or padding
    assert batch["attention_mask"][1].sum().item() == len(items[1].prompt_ids) + len(items[1].response_ids)


def test_seq2seq_rows_put_the_prompt_in_the_encoder_and_pad_labels_with_minus_100(tokenizer):
    items = [_encode(tokenizer, True), _encode(tokenizer, True, {"prompt": "Hi?", "response": "Hello."})]
    batch = scoring.collate(items, is_encoder_decoder=True, pad_id=tokenizer.pad_token_id, device="cpu")
    assert tokenizer.decode(items[0].prompt_ids) == ROW["prompt"]
    assert batch["labels"][1].tolist()[len(items[1].response_ids):] == [-100] * (
        len(items[0].response_ids) - len(items[1].response_ids))
    assert batch["targets"][0][batch["response_mask"][0].bool()].tolist() == items[0].response_ids


def test_long_prompts_keep_their_end_and_long_responses_their_start(tokenizer):
    item = _encode(tokenizer, True, prompt=4, response=3)
    full = _encode(tokenizer, True)
    assert item.prompt_ids == full.prompt_ids[-4:]
    assert item.response_ids == full.response_ids[:3]  # its EOS was never reached, so none is added


def test_the_mean_log_probability_ignores_masked_positions():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]]))
    targets = torch.tensor([[0, 0, 1]])
    value = scoring.mean_token_logprob(logits, targets, torch.tensor([[0, 1, 1]]))
    assert value.item() == pytest.approx((torch.log(torch.tensor(0.9)) + torch.log(torch.tensor(0.8))).item() / 2)


def test_instruct_tokenizers_get_the_chat_template_and_the_template_ends_the_turn(tokenizer):
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    example = scoring.causal_example(chat, ROW["prompt"], ROW["response"])
    assert example["prompt"] == [{"role": "user", "content": ROW["prompt"]}]
    item = _encode(chat, False)
    assert chat.decode(item.prompt_ids) == f"<s>user: {ROW['prompt']}\n<s>assistant: "
    assert chat.decode(item.response_ids) == ROW["response"] + "\n"  # the template ends the turn: no EOS added


SYSTEM = "You are a support assistant."


def test_a_system_prompt_is_the_system_message_of_the_chat_template(tokenizer):
    chat = copy.deepcopy(tokenizer)
    chat.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    item = scoring.encode(chat, ROW["prompt"], ROW["response"], is_encoder_decoder=False, max_prompt_length=512,
                          max_response_length=64, system=SYSTEM)
    assert chat.decode(item.prompt_ids) == f"<s>system: {SYSTEM}\n<s>user: {ROW['prompt']}\n<s>assistant: "
    assert chat.decode(item.response_ids) == ROW["response"] + "\n"


def test_without_a_chat_template_the_system_prompt_is_the_first_line(tokenizer):
    example = scoring.causal_example(tokenizer, ROW["prompt"], ROW["response"], SYSTEM)
    assert example["prompt"] == f"{SYSTEM}\n{ROW['prompt']}\n"
    assert scoring.causal_example(tokenizer, ROW["prompt"], ROW["response"])["prompt"] == ROW["prompt"] + "\n"


def test_an_encoder_decoder_reads_the_question_alone(tokenizer):
    plain, with_system = (scoring.encode(tokenizer, ROW["prompt"], ROW["response"], is_encoder_decoder=True,
                                         max_prompt_length=512, max_response_length=64, system=system)
                          for system in (None, SYSTEM))
    assert plain == with_system


@pytest.mark.parametrize(("seq2seq", "template", "system"), [(True, False, None), (False, False, SYSTEM),
                                                             (False, True, SYSTEM), (False, True, None)])
def test_answers_are_generated_from_the_prompt_tokens_training_scores(tokenizer, seq2seq, template, system):
    """The evaluation generates from encode_prompt and scores (prompt, answer) as encode splits them: the two
    must give the same prompt tokens, or a sampled answer would be scored after another prompt."""
    model_tokenizer = copy.deepcopy(tokenizer)
    if template:
        model_tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n"
                                         "{% endfor %}{% if add_generation_prompt %}<s>assistant: {% endif %}")
    for limit in (512, 5):
        trained = scoring.encode(model_tokenizer, ROW["prompt"], ROW["response"], is_encoder_decoder=seq2seq,
                                 max_prompt_length=limit, max_response_length=64, system=system)
        assert scoring.encode_prompt(model_tokenizer, ROW["prompt"], is_encoder_decoder=seq2seq,
                                     max_prompt_length=limit, system=system) == trained.prompt_ids
