"""End-to-end runs of `python -m training` (in process, through cli.main) on tiny randomly initialised
models: reward-pg on a T5 and on a Llama, kto on a Llama. Each run trains for real on the synthetic
ratings (see conftest.py); the tests check the outputs and that the held-out margin rose."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from local.tiny_models import training_settings
from tests.training.conftest import read_metrics, summary
from training import cli, evaluation, job
from training.config import Hyperparameters
from training.data import TrainingData

# Fixed seeds make every run repeatable; the tiny models' training settings (local/tiny_models.py) separate
# the answers far above run-to-run noise (the margin of the untrained models is within +-0.4 of zero).
MIN_MARGIN_GAIN = 0.2
RUNS = {"t5-reward-pg": ("t5", "reward-pg"), "llama-reward-pg": ("llama", "reward-pg"), "llama-kto": ("llama", "kto")}


def _arguments(settings: dict) -> list[str]:
    """Hyperparameters' keyword arguments as the command line takes them."""
    return [part for name, value in settings.items()
            for part in (f"--{name}", str(value).lower() if isinstance(value, bool) else str(value))]


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request, tmp_path_factory, data_dir):
    model, algorithm = RUNS[request.param]
    model_path = request.getfixturevalue(f"{model}_path")
    output = tmp_path_factory.mktemp(request.param)
    code = cli.main(["--algorithm", algorithm, "--model_name_or_path", model_path,
                     *_arguments(training_settings(model)),
                     "--train", str(data_dir / "train"), "--eval", str(data_dir / "eval"), "--output", str(output)])
    assert code == 0
    return {"name": request.param, "algorithm": algorithm, "model_path": model_path, "output": output,
            "metrics": read_metrics(output), "seq2seq": model == "t5", "model": model}


def test_output_directory_has_the_documented_layout(run):
    output = run["output"]
    assert (output / "adapter" / "adapter_config.json").is_file()
    assert (output / "adapter" / "adapter_model.safetensors").is_file()
    for name in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json"):
        assert (output / "merged" / name).is_file(), name
    png = (output / "training_curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 300 and height > 200


def test_merged_weights_hold_no_adapter_tensors(run):
    with safe_open(str(run["output"] / "merged" / "model.safetensors"), framework="pt") as weights:
        names = list(weights.keys())
    assert names and not [name for name in names if "lora" in name]


def test_metrics_record_the_run(run):
    metrics = run["metrics"]
    assert metrics["algorithm"] == run["algorithm"]
    assert metrics["rows"] == {"train": 64, "eval": 16}
    # These rows predate source and weight: kto counts them as one unknown source of weight 1.
    assert metrics["kto_by_source"] == (None if run["algorithm"] == "reward-pg" else {"unknown": {
        "rows": 64, "trained": 64, "kto_true": 32, "kto_false": 32, "weights": [1.0], "weight_sum": 64.0}})
    # Balanced labels: kto's label weights are the KTO paper's ratio (7/6) at the same total weight.
    assert metrics["kto_label_weights"] == (None if run["algorithm"] == "reward-pg" else {
        "desirable": pytest.approx(14 / 13), "undesirable": pytest.approx(12 / 13)})
    assert metrics["quantization"] == {"requested": "none", "used": "none", "reason": "load_in_8bit=false"}
    assert metrics["hyperparameters"]["learning_rate"] == training_settings(run["model"])["learning_rate"]
    assert metrics["hyperparameters"]["lora_target_modules"] == (["q", "v"] if run["seq2seq"]
                                                                 else ["q_proj", "v_proj"])
    # 64 rows in batches of 8 for 4 epochs: 32 optimizer steps, each in the per-step history.
    training = metrics["training"]
    assert training["steps"] == 32 and [entry["step"] for entry in metrics["history"]] == list(range(1, 33))
    assert training["steps_per_second"] > 0 and training["seconds"] > 0
    expected = {"loss", "reward/mean", "kl"} if run["algorithm"] == "reward-pg" else {"loss", "kl",
                                                                                        "rewards/chosen"}
    assert expected <= set(metrics["history"][0])
    assert metrics["eval"]["before"]["good_rows"] == 8 and metrics["eval"]["before"]["bad_rows"] == 8
    assert metrics["outputs"] == {"adapter": "adapter", "merged": "merged", "metrics": "metrics.json",
                                  "plot": "training_curves.png", "import_check": "import_check.json",
                                  "gate_answers": "gate_answers.jsonl"}
    # The merged model was checked against Custom Model Import; the verdict is in metrics.json and beside it.
    verdict = json.loads((run["output"] / "import_check.json").read_text())
    assert verdict == metrics["import_check"] and verdict["importable"] is True, verdict["problems"]


def test_metrics_hold_the_evaluation_before_and_after_and_the_checks(run):
    measured, checks = run["metrics"]["eval"], run["metrics"]["checks"]
    for side in ("before", "after"):
        values = measured[side]
        assert values["good_mean_logprob"] < 0 and values["bad_mean_logprob"] < 0 and values["generic_mean_logprob"] < 0
        generation = values["generation"]
        assert generation["answers"] == 8 and generation["max_new_tokens"] == Hyperparameters().eval_max_new_tokens
        assert 0 <= generation["stop_rate"] <= 1 and 0 <= generation["empty_share"] <= 1
        assert 0 < generation["distinct_2"] <= 1 and 1 <= generation["longest_repeat_run"] <= 64
        assert len(generation["examples"]) == 3
    for name in ("margin", "good_mean_logprob", "bad_mean_logprob", "generic_mean_logprob"):
        assert measured["delta"][name] == pytest.approx(measured["after"][name] - measured["before"][name])
    kl = measured["kl_to_base"]
    assert kl["samples"] == 8 * Hyperparameters().eval_samples and kl["prompts"] == 8 and kl["seed"] == 7
    assert kl["sequence_kl"] > 0  # the adapter moved the model
    assert set(checks) == {"passed", "failures", "thresholds"}
    assert checks["passed"] is (not checks["failures"])
    assert checks["thresholds"]["kl_budget"] == Hyperparameters().kl_budget
    print("\n" + summary(run["name"], run["metrics"]))  # the verdict is tests/training/test_healthy_runs.py's


def test_training_raises_the_held_out_margin(run):
    evaluation_ = run["metrics"]["eval"]
    print(f"{run['name']}: margin {evaluation_['margin_before']:.3f} -> {evaluation_['margin_after']:.3f}")
    assert evaluation_["margin_after"] > evaluation_["margin_before"] + MIN_MARGIN_GAIN
    assert evaluation_["margin_delta"] == pytest.approx(evaluation_["margin_after"] - evaluation_["margin_before"])
    # Both halves moved the right way: good answers more likely, bad ones less.
    before, after = evaluation_["before"], evaluation_["after"]
    assert after["good_mean_logprob"] > before["good_mean_logprob"]
    assert after["bad_mean_logprob"] < before["bad_mean_logprob"]


def _margin(model, tokenizer, run, splits) -> float:
    hparams = Hyperparameters(algorithm=run["algorithm"], model_name_or_path=run["model_path"])
    return evaluation.margin(model, tokenizer, splits["eval"]["reward"], hparams,
                             is_encoder_decoder=run["seq2seq"], device="cpu")["margin"]


def _generates(model, tokenizer, seq2seq: bool) -> None:
    prompt = tokenizer(["How do I reset my email?\n"], return_tensors="pt")
    generated = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    new_tokens = generated.shape[1] - (1 if seq2seq else prompt["input_ids"].shape[1])
    assert new_tokens >= 1


def test_saved_adapter_reloads_as_the_trained_model(run, splits):
    from peft import PeftModel

    model_class = AutoModelForSeq2SeqLM if run["seq2seq"] else AutoModelForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(run["output"] / "adapter")
    model = PeftModel.from_pretrained(model_class.from_pretrained(run["model_path"]), run["output"] / "adapter")
    model.eval()
    assert _margin(model, tokenizer, run, splits) == pytest.approx(run["metrics"]["eval"]["margin_after"],
                                                                   abs=1e-4)
    _generates(model, tokenizer, run["seq2seq"])


def test_merged_model_loads_alone_as_the_trained_model(run, splits):
    model_class = AutoModelForSeq2SeqLM if run["seq2seq"] else AutoModelForCausalLM
    merged = Path(run["output"]) / "merged"
    model = model_class.from_pretrained(merged)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert _margin(model, tokenizer, run, splits) == pytest.approx(run["metrics"]["eval"]["margin_after"],
                                                                   abs=1e-3)
    _generates(model, tokenizer, run["seq2seq"])


@pytest.fixture(scope="module")
def instruct_llama(tmp_path_factory, llama_path) -> str:
    """The tiny Llama with a chat template, as instruct models (and Bedrock's import of them) have one."""
    folder = tmp_path_factory.mktemp("tiny-instruct-llama")
    shutil.copytree(llama_path, folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                               "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("algorithm", ["reward-pg", "kto"])
def test_rows_with_the_chatbots_system_prompt_train_an_instruct_model(algorithm, instruct_llama, splits, tmp_path):
    system = "You are Tandem's support assistant. Answer in steps."
    rows = {kind: [{**row, "system": system} for row in splits["train"][kind]] for kind in ("reward", "kto")}
    held_out = [{**row, "system": system} for row in splits["eval"]["reward"]]
    data = TrainingData(train=rows["reward" if algorithm == "reward-pg" else "kto"], eval=held_out, sources={})
    hparams = Hyperparameters(algorithm=algorithm, model_name_or_path=instruct_llama, load_in_8bit=False,
                              batch_size=4, mini_batch_size=2, lora_r=4, lora_alpha=8, seed=7)

    metrics = job.run(hparams, data, tmp_path, max_steps=2)

    assert metrics["training"]["steps"] == 2 and len(metrics["history"]) == 2
    assert metrics["eval"]["before"]["good_rows"] == sum(r["rating"] >= 4 for r in held_out)


def test_the_gate_gets_both_models_answers_to_each_held_out_question_in_its_own_format(run, splits):
    from lambdas.finetune_gate.answers import Question, read_questions

    lines = (run["output"] / "gate_answers.jsonl").read_text(encoding="utf-8").splitlines()
    questions = read_questions(lines)
    assert questions and all(isinstance(q, Question) for q in questions)  # what the gate reads, line for line
    held_out = list(dict.fromkeys(row["prompt"] for row in splits["eval"]["reward"]))
    assert [q.question for q in questions] == held_out  # every distinct held-out question, once, in order
    assert len({q.question_id for q in questions}) == len(questions) == run["metrics"]["gate_questions"]
    # Greedy answers: the base's begin as the evaluation's answers before training, the tuned model's as its
    # answers after (the evaluation cuts them shorter).
    measured = run["metrics"]["eval"]
    for side, attribute in (("before", "base_answer"), ("after", "tuned_answer")):
        for example, question in zip(measured[side]["generation"]["examples"], questions, strict=False):
            assert getattr(question, attribute).startswith(example.strip()[:20])
