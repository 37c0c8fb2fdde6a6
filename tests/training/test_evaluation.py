"""The evaluation's measures on known cases: distinct-n and repeated runs of hand-made answers, the KL of the
base against itself, answers scored on exactly the tokens the model generated, seeded sampling, and how
before and after are put together."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch

from training import evaluation, generation, generation_health, modeling, scoring, sequence_kl
from training.config import Hyperparameters

EOS = 1


def _answer(ids: list[int], stopped: bool, text: str = "text") -> generation.Generated:
    return generation.Generated(prompt_index=0, prompt_ids=[5], ids=ids + [EOS] if stopped else ids,
                                stopped=stopped, text=text)


def test_distinct_n_of_a_repeated_token_is_low_and_of_distinct_tokens_is_one():
    repeated = [[7] * 8]
    assert generation_health.distinct_n(repeated, 1) == pytest.approx(1 / 8)
    assert generation_health.distinct_n(repeated, 2) == pytest.approx(1 / 7)
    assert generation_health.distinct_n([[1, 2, 3, 4], [5, 6]], 2) == 1.0
    # Over all answers together: the same answer twice shares its n-grams.
    assert generation_health.distinct_n([[1, 2, 3], [1, 2, 3]], 2) == pytest.approx(2 / 4)
    assert generation_health.distinct_n([[], [4]], 2) == 0.0  # no bigram at all


def test_the_longest_run_counts_one_token_repeated_back_to_back():
    assert generation_health.longest_run([3, 4, 4, 4, 3, 3]) == 3
    assert generation_health.longest_run([3, 4, 3, 4]) == 1
    assert generation_health.longest_run([]) == 0


def test_health_of_hand_made_answers():
    answers = [_answer([10, 11, 12, 13], stopped=True), _answer([9] * 6, stopped=False),
               _answer([], stopped=True, text=" ")]
    health = generation_health.health(answers)
    assert health["answers"] == 3
    assert health["stop_rate"] == pytest.approx(2 / 3)
    assert health["mean_length"] == pytest.approx((4 + 6 + 0) / 3)  # stop tokens are not counted
    assert health["empty_share"] == pytest.approx(1 / 3)
    assert health["distinct_1"] == pytest.approx(5 / 10)
    assert health["distinct_2"] == pytest.approx((3 + 1) / (3 + 5))
    assert health["longest_repeat_run"] == 6
    assert health["mean_longest_repeat_run"] == pytest.approx((1 + 6 + 0) / 3)


class _ScriptedModel:
    """Stands in for a model whose generate() output is known: an encoder-decoder's starts with the decoder
    start token; its generation config ends turns with token 9 as well as the tokenizer's EOS."""

    training = False
    generation_config = SimpleNamespace(eos_token_id=[EOS, 9])

    def __init__(self, rows: list[list[int]]):
        self.rows = rows

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def generate(self, **kwargs):
        return torch.tensor(self.rows)


def test_answers_end_at_the_first_stop_token_of_the_tokenizer_or_the_generation_config(tokenizer):
    prompts = [generation.Prompt("How do I reset my email?", None), generation.Prompt("Hi?", None)]
    model = _ScriptedModel([[0, 20, 21, EOS, 0, 0], [0, 22, 9, 23, 24, 25]])
    answers = generation.generate(model, tokenizer, prompts, is_encoder_decoder=True, device="cpu",
                                  max_prompt_length=64, max_new_tokens=5)
    assert [(a.ids, a.answer_ids, a.stopped) for a in answers] == [([20, 21, EOS], [20, 21], True),
                                                                  ([22, 9], [22], True)]
    model = _ScriptedModel([[0, 20, 21, 22, 23, 24]])
    (answer,) = generation.generate(model, tokenizer, prompts[:1], is_encoder_decoder=True, device="cpu",
                                    max_prompt_length=64, max_new_tokens=5)
    assert answer.stopped is False and answer.answer_ids == [20, 21, 22, 23, 24]


def test_held_out_prompts_are_the_distinct_questions_in_order():
    rows = [{"prompt": "a"}, {"prompt": "a"}, {"prompt": "b", "system": "s"}, {"prompt": "b"}, {"prompt": "c"}]
    assert generation.held_out_prompts(rows, 10) == [generation.Prompt("a", None), generation.Prompt("b", "s"),
                                                     generation.Prompt("b", None), generation.Prompt("c", None)]
    assert generation.held_out_prompts(rows, 2) == [generation.Prompt("a", None), generation.Prompt("b", "s")]


@pytest.fixture(scope="module", params=["t5_path", "llama_path"])
def fresh_adapter(request):
    """A model with a new LoRA adapter: its B matrices start at zero, so it computes exactly the base."""
    hparams = Hyperparameters(model_name_or_path=request.getfixturevalue(request.param), load_in_8bit=False,
                              lora_r=4, lora_alpha=8, eval_samples=3, eval_max_new_tokens=12, seed=3)
    loaded = modeling.load(hparams.model_name_or_path, hparams)
    torch.manual_seed(0)
    peft_model = modeling.add_lora(loaded, hparams)
    peft_model.eval()  # as the job evaluates it
    return loaded, peft_model, hparams


def test_the_kl_of_the_base_against_itself_is_zero(fresh_adapter, splits):
    loaded, peft_model, hparams = fresh_adapter
    same = evaluation.kl_to_base(peft_model, loaded.tokenizer, splits["eval"]["reward"], hparams,
                                 is_encoder_decoder=loaded.is_encoder_decoder, device="cpu")
    assert same["prompts"] == 8 and same["samples"] == 8 * 3 and same["max_new_tokens"] == 12
    assert same["sequence_kl"] == pytest.approx(0.0, abs=1e-5)
    assert same["per_token_kl"] == pytest.approx(0.0, abs=1e-6)


@contextmanager
def _moved(peft_model):
    """The adapter's weights drawn at random for the block (the model no longer equals the base), then restored."""
    saved = {name: p.detach().clone() for name, p in peft_model.named_parameters() if "lora_" in name}
    try:
        with torch.no_grad():
            torch.manual_seed(1)
            for name, parameter in peft_model.named_parameters():
                if name in saved:
                    parameter.normal_(std=1.0)
        yield
    finally:
        with torch.no_grad():
            for name, parameter in peft_model.named_parameters():
                if name in saved:
                    parameter.copy_(saved[name])


@torch.no_grad()
def _exact_first_token_kl(peft_model, loaded, prompts) -> float:
    """KL(tuned || base) of the answer's first token, summed over the whole vocabulary, averaged over prompts."""
    items = [scoring.Encoded(prompt_ids=scoring.encode_prompt(loaded.tokenizer, p.prompt, max_prompt_length=64,
                                                              is_encoder_decoder=loaded.is_encoder_decoder),
                             response_ids=[EOS]) for p in prompts]
    batch = scoring.collate(items, is_encoder_decoder=loaded.is_encoder_decoder, pad_id=loaded.tokenizer.pad_token_id,
                            device="cpu")
    first = batch["response_mask"].argmax(-1)  # each row's first answer position
    rows = torch.arange(len(items))
    tuned = torch.log_softmax(scoring.response_logits(peft_model, batch)[rows, first], -1)
    with peft_model.disable_adapter():
        base = torch.log_softmax(scoring.response_logits(peft_model, batch)[rows, first], -1)
    return (tuned.exp() * (tuned - base)).sum(-1).mean().item()


def test_the_sampled_estimate_agrees_with_the_exact_kl_of_a_one_token_answer(fresh_adapter, splits):
    """On one-token answers the KL can be summed exactly over the vocabulary: the estimate from the tuned
    model's own samples must land on it, within its standard error."""
    loaded, peft_model, hparams = fresh_adapter
    prompts = evaluation.prompts(splits["eval"]["reward"], hparams)
    with _moved(peft_model):
        exact = _exact_first_token_kl(peft_model, loaded, prompts)
        estimate = sequence_kl.estimate(peft_model, loaded.tokenizer, prompts, is_encoder_decoder=loaded.is_encoder_decoder,
                                        device="cpu", max_prompt_length=64, max_new_tokens=1, samples_per_prompt=80,
                                        seed=0)
    assert exact > 0.005  # the adapter moved the model
    assert estimate["samples"] == 8 * 80 and estimate["mean_sample_length"] == 1
    assert estimate["sequence_kl"] == pytest.approx(exact, abs=4 * estimate["sequence_kl_stderr"])


def test_an_answer_is_scored_on_exactly_the_tokens_the_model_generated(fresh_adapter):
    """The log-probability generate() itself gave each token of its greedy answer is the one scoring.py
    gives the (prompt, answer) pair: the prompt encoding and the alignment of answer tokens agree."""
    loaded, peft_model, hparams = fresh_adapter
    model, tokenizer, seq2seq = loaded.model, loaded.tokenizer, loaded.is_encoder_decoder
    prompt_ids = scoring.encode_prompt(tokenizer, "How do I lock my card?", is_encoder_decoder=seq2seq,
                                       max_prompt_length=64)
    with torch.no_grad(), peft_model.disable_adapter():
        output = model.generate(input_ids=torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids),
                                dtype=torch.long), max_new_tokens=10, do_sample=False, output_scores=True,
                                return_dict_in_generate=True, pad_token_id=tokenizer.pad_token_id)
        expected = model.compute_transition_scores(output.sequences, output.scores, normalize_logits=True).sum().item()
    answer = output.sequences[0, 1:] if seq2seq else output.sequences[0, len(prompt_ids):]
    item = scoring.Encoded(prompt_ids=prompt_ids, response_ids=answer.tolist())
    (scored,) = sequence_kl.sequence_logprobs(model, [item], is_encoder_decoder=seq2seq,
                                              pad_id=tokenizer.pad_token_id, device="cpu")
    assert len(item.response_ids) == 10
    assert scored == pytest.approx(expected, abs=1e-3)


def test_sampling_is_seeded_and_leaves_the_global_random_state_alone(fresh_adapter, splits):
    loaded, peft_model, hparams = fresh_adapter
    prompts = evaluation.prompts(splits["eval"]["reward"], hparams)[:2]
    args = {"is_encoder_decoder": loaded.is_encoder_decoder, "device": "cpu", "max_prompt_length": 64,
            "max_new_tokens": 8, "samples_per_prompt": 3, "sample": True}
    state = torch.get_rng_state()
    first = generation.generate(peft_model, loaded.tokenizer, prompts, seed=5, **args)
    assert torch.equal(torch.get_rng_state(), state)
    again = generation.generate(peft_model, loaded.tokenizer, prompts, seed=5, **args)
    other = generation.generate(peft_model, loaded.tokenizer, prompts, seed=6, **args)
    assert [a.ids for a in first] == [a.ids for a in again]
    assert [a.ids for a in first] != [a.ids for a in other]
    assert [a.prompt_index for a in first] == [0, 0, 0, 1, 1, 1]


def test_compare_takes_after_minus_before_and_none_where_a_side_was_not_measured():
    before = {"margin": 0.5, "good_mean_logprob": -6.0, "bad_mean_logprob": -6.5, "generic_mean_logprob": -5.0}
    after = {"margin": None, "good_mean_logprob": -5.5, "bad_mean_logprob": None, "generic_mean_logprob": -5.25}
    measured = evaluation.compare(before, after, {"sequence_kl": 1.5})
    assert measured["delta"] == {"margin": None, "good_mean_logprob": 0.5, "bad_mean_logprob": None,
                                 "generic_mean_logprob": -0.25}
    assert measured["kl_to_base"] == {"sequence_kl": 1.5}
    assert (measured["margin_before"], measured["margin_after"], measured["margin_delta"]) == (0.5, None, None)
