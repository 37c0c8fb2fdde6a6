"""training/import_check.py on merged models the real training code wrote (one optimizer step of job.run on the
tiny RANDOMLY INITIALISED Llama, with a chat template, and T5 of conftest.py): their verdict, then each refusal
on a copy of the merged Llama with one thing broken, and the command line's exit codes."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoTokenizer, LlamaConfig

from training import import_check, job
from training.config import Hyperparameters
from training.data import TrainingData

CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant: {% endif %}")
VERDICT_KEYS = {"importable", "problems", "warnings", "instruct", "architecture", "files", "rules"}
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def instruct_llama_path(tmp_path_factory, llama_path) -> str:
    """The tiny Llama with a chat template, as the instruct models Tandem's chatbot calls through Converse."""
    folder = tmp_path_factory.mktemp("tiny-instruct-llama")
    shutil.copytree(llama_path, folder, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return str(folder)


def _merged(base: str, splits, output: Path) -> Path:
    hparams = Hyperparameters(model_name_or_path=base, load_in_8bit=False, lora_r=4, lora_alpha=8, seed=7)
    metrics = job.run(hparams, TrainingData(train=splits["train"]["reward"], eval=[]), output, max_steps=1)
    return output / metrics["outputs"]["merged"]


@pytest.fixture(scope="module")
def merged_llama(tmp_path_factory, instruct_llama_path, splits) -> Path:
    return _merged(instruct_llama_path, splits, tmp_path_factory.mktemp("llama-run"))


@pytest.fixture(scope="module")
def merged_t5(tmp_path_factory, t5_path, splits) -> Path:
    return _merged(t5_path, splits, tmp_path_factory.mktemp("t5-run"))


@pytest.fixture
def broken(tmp_path, merged_llama) -> Path:
    """A copy of the merged instruct Llama, to break one thing in."""
    folder = tmp_path / "merged"
    shutil.copytree(merged_llama, folder)
    return folder


def _checks(entries: list[dict[str, str]]) -> list[str]:
    return [entry["check"] for entry in entries]


def _edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _lose_chat_template(folder: Path) -> None:
    """Both places the job writes the template: the separate file and tokenizer_config.json."""
    (folder / "chat_template.jinja").unlink()
    _edit_json(folder / "tokenizer_config.json", lambda t: t.pop("chat_template"))


# --- the verdict on what the training job wrote ---------------------------------------------------------------

def test_the_merged_instruct_llama_is_importable(merged_llama):
    verdict = import_check.check(merged_llama, instruct=True)

    assert set(verdict) == VERDICT_KEYS
    assert verdict["problems"] == [] and verdict["importable"] is True
    assert verdict["architecture"] == {"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                                       "family": "Llama 2, 3, 3.1, 3.2, 3.3", "converse": True,
                                       "encoder_decoder": False, "context_length": 256,
                                       "transformers_version": verdict["architecture"]["transformers_version"]}
    files = verdict["files"]
    assert files["weights"] == ["model.safetensors"] and files["weights_bytes"] > 0
    assert files["tokenizer"] == ["tokenizer.json"] and files["chat_template"] == "chat_template.jinja"
    # ... and inside tokenizer_config.json too, where Bedrock's Converse samples for imported models ask for it.
    embedded = json.loads((merged_llama / "tokenizer_config.json").read_text())["chat_template"]
    assert embedded == (merged_llama / "chat_template.jinja").read_text()
    # Written by transformers 5, not the guide's 4.51.3: said, not refused (the keys that differ were added).
    assert _checks(verdict["warnings"]) == ["transformers_version"]


def test_the_merged_t5_is_importable(merged_t5):
    verdict = import_check.check(merged_t5, instruct=False)

    assert verdict["problems"] == [] and verdict["importable"] is True
    architecture = verdict["architecture"]
    assert (architecture["model_type"], architecture["family"], architecture["converse"]) == ("t5", "Flan (T5)", True)
    assert architecture["encoder_decoder"] is True and architecture["context_length"] is None  # relative positions
    assert verdict["files"]["chat_template"] is None
    # The tiny T5 is an original-layout T5 (relu), not the gated-gelu layout of the Flan-T5 Bedrock names.
    assert _checks(verdict["warnings"]) == ["architecture", "transformers_version"]
    assert "relu" in verdict["warnings"][0]["detail"]


def test_the_merged_files_carry_the_keys_of_the_guides_transformers_version(merged_llama, tokenizer):
    config = json.loads((merged_llama / "config.json").read_text())
    assert config["torch_dtype"] == config["dtype"] == "float32"
    assert (config["rope_theta"], config["rope_scaling"]) == (10000.0, None)
    assert json.loads((merged_llama / "tokenizer_config.json").read_text())["tokenizer_class"] == \
        "PreTrainedTokenizerFast"
    # ...and transformers 5 still reads the folder as it wrote it.
    assert AutoConfig.from_pretrained(merged_llama).rope_parameters == {"rope_theta": 10000.0, "rope_type": "default"}
    reloaded = AutoTokenizer.from_pretrained(merged_llama)
    text = "How do I reset my password?"
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]
    assert reloaded.chat_template == CHAT_TEMPLATE


def test_the_compatible_keys_keep_a_scaled_rope_as_transformers_5_reads_it(tmp_path):
    rope = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    LlamaConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=131072,
                rope_parameters=rope, dtype="bfloat16").save_pretrained(tmp_path)
    before = AutoConfig.from_pretrained(tmp_path)
    assert {"config.rope", "config.torch_dtype"} <= set(_checks(import_check.check(tmp_path)["problems"]))

    changes = import_check.make_compatible(tmp_path)

    written = json.loads((tmp_path / "config.json").read_text())
    assert written["rope_theta"] == 500000.0 and written["torch_dtype"] == "bfloat16"
    assert written["rope_scaling"] == {key: value for key, value in rope.items() if key != "rope_theta"}
    after = AutoConfig.from_pretrained(tmp_path)
    assert after.rope_parameters == before.rope_parameters and after.dtype == before.dtype
    assert len(changes) == 2 and import_check.make_compatible(tmp_path) == []
    problems = _checks(import_check.check(tmp_path)["problems"])
    assert "config.rope" not in problems and "config.torch_dtype" not in problems
    assert "context_length" not in problems  # 131072 positions (Llama 3.1's 128K) is within the limit


# --- each refusal, on a copy with one thing broken ------------------------------------------------------------

def _oversized_weights(folder: Path) -> None:
    """A valid safetensors header promising one tensor just over 200 GB, in a sparse file (no disk used)."""
    size = 200 * 10**9 + 4
    header = json.dumps({"w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}}).encode()
    header += b" " * (-len(header) % 8)
    path = folder / "model.safetensors"
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)
        handle.truncate(8 + len(header) + size)


def _truncated_weights(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-100])


def _missing_shard(folder: Path) -> None:
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "model.safetensors", "b": "model-00002-of-00002.safetensors"}}))


def _config(change: Callable[[dict], object]) -> Callable[[Path], None]:
    return lambda folder: _edit_json(folder / "config.json", change)


BREAKS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # name: (how to break the folder, the check that refuses it, a text its fix names)
    "no config.json": (lambda f: (f / "config.json").unlink(), "files.config", "save_pretrained"),
    "no tokenizer_config.json": (lambda f: (f / "tokenizer_config.json").unlink(), "files.tokenizer_config",
                                 "save_pretrained"),
    "no tokenizer.json": (lambda f: (f / "tokenizer.json").unlink(), "files.tokenizer", "tokenizer.save_pretrained"),
    "no weights": (lambda f: (f / "model.safetensors").unlink(), "files.weights", "safetensors"),
    "truncated weights": (_truncated_weights, "files.weights", "copy the weights again"),
    "a shard missing": (_missing_shard, "files.weights", "every shard"),
    "an adapter, not a merged model": (lambda f: (f / "adapter_config.json").write_text("{}"), "files.adapter",
                                       "merged/"),
    "weights over 200 GB": (_oversized_weights, "weights.size", "smaller base model"),
    "unsupported model_type gpt2": (_config(lambda c: c.update(model_type="gpt2", architectures=["GPT2LMHeadModel"])),
                                    "architecture", "Flan-T5 and Llama"),
    "a classification head": (_config(lambda c: c.update(architectures=["LlamaForSequenceClassification"])),
                              "architecture", "AutoModelForCausalLM"),
    "qwen3, which Converse does not serve": (_config(lambda c: c.update(model_type="qwen3",
                                                                        architectures=["Qwen3ForCausalLM"])),
                                             "converse", "Llama"),
    "context over 128K": (_config(lambda c: c.update(max_position_embeddings=262144)), "context_length", "131072"),
    "dtype without torch_dtype": (_config(lambda c: c.pop("torch_dtype")), "config.torch_dtype",
                                  '"torch_dtype": "float32"'),
    "rope_parameters without rope_theta": (_config(lambda c: [c.pop("rope_theta"), c.pop("rope_scaling")]),
                                           "config.rope", '"rope_theta": 10000.0'),
    "a transformers 5 tokenizer class": (lambda f: _edit_json(f / "tokenizer_config.json",
                                                              lambda t: t.update(tokenizer_class="TokenizersBackend")),
                                         "tokenizer.class", "PreTrainedTokenizerFast"),
    "the instruct model's chat template lost": (lambda f: _lose_chat_template(f), "chat_template",
                                                "chat_template.jinja"),
}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_folder_with_one_thing_broken_is_refused_with_the_reason_and_the_fix(name, broken):
    breaker, expected, fix_names = BREAKS[name]
    breaker(broken)

    verdict = import_check.check(broken, instruct=True)

    assert verdict["importable"] is False
    assert _checks(verdict["problems"]) == [expected]
    assert fix_names in verdict["problems"][0]["fix"]


def test_a_missing_folder_is_refused(tmp_path):
    verdict = import_check.check(tmp_path / "nowhere")
    assert verdict["importable"] is False and _checks(verdict["problems"]) == ["files.folder"]


def test_a_template_only_in_the_separate_file_is_importable_with_a_warning_that_make_compatible_clears(broken):
    _edit_json(broken / "tokenizer_config.json", lambda t: t.pop("chat_template"))

    verdict = import_check.check(broken, instruct=True)

    assert verdict["importable"] and "chat_template.tokenizer_config" in _checks(verdict["warnings"])
    assert any("chat_template" in change for change in import_check.make_compatible(broken))
    assert "chat_template.tokenizer_config" not in _checks(import_check.check(broken, instruct=True)["warnings"])


def test_the_chat_template_may_sit_in_tokenizer_config_or_chat_template_json(broken):
    template = (broken / "chat_template.jinja").read_text()
    (broken / "chat_template.jinja").unlink()
    _edit_json(broken / "tokenizer_config.json", lambda t: t.update(chat_template=template))
    verdict = import_check.check(broken, instruct=True)
    assert verdict["importable"] and verdict["files"]["chat_template"] == "tokenizer_config.json"

    (broken / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    assert import_check.check(broken, instruct=True)["files"]["chat_template"] == "chat_template.json"


def test_a_causal_model_without_a_chat_template_is_refused_only_when_its_base_is_an_instruct_model(broken):
    _lose_chat_template(broken)

    base_model = import_check.check(broken, instruct=False)

    assert base_model["importable"] is True and "chat_template" in _checks(base_model["warnings"])
    assert _checks(import_check.check(broken, instruct=True)["problems"]) == ["chat_template"]


def test_a_model_written_by_the_guides_transformers_version_gets_no_version_warning(broken):
    _edit_json(broken / "config.json", lambda c: c.update(transformers_version="4.51.3"))
    assert import_check.check(broken, instruct=True)["warnings"] == []


def test_make_compatible_repairs_the_keys_transformers_5_writes(broken):
    _edit_json(broken / "config.json", lambda c: [c.pop(key) for key in ("torch_dtype", "rope_theta", "rope_scaling")])
    _edit_json(broken / "tokenizer_config.json", lambda t: t.update(tokenizer_class="TokenizersBackend"))
    assert set(_checks(import_check.check(broken, instruct=True)["problems"])) == {
        "config.torch_dtype", "config.rope", "tokenizer.class"}

    changes = import_check.make_compatible(broken)

    assert len(changes) == 3
    assert import_check.check(broken, instruct=True)["importable"] is True


def test_the_verdict_is_written_beside_the_metrics(tmp_path, merged_llama):
    verdict = import_check.check(merged_llama, instruct=True)
    path = import_check.write_verdict(tmp_path, verdict)
    assert path.name == "import_check.json" and json.loads(path.read_text()) == verdict


# --- the command line -----------------------------------------------------------------------------------------

def test_the_command_line_exits_0_on_an_importable_folder(merged_llama, instruct_llama_path, capsys):
    assert import_check.main([str(merged_llama), "--base", instruct_llama_path]) == 0
    assert capsys.readouterr().out.startswith("importable: Llama")


def test_the_command_line_exits_1_with_the_problem_and_its_fix(broken, instruct_llama_path, capsys):
    _lose_chat_template(broken)

    assert import_check.main([str(broken), "--base", instruct_llama_path]) == 1

    out = capsys.readouterr().out
    assert out.startswith("NOT importable") and "problem [chat_template]" in out and "fix: " in out
    assert import_check.main([str(broken)]) == 0  # no base named: not known to be an instruct model


def test_the_command_line_prints_the_verdict_as_json(broken, capsys):
    _edit_json(broken / "config.json", lambda c: c.update(model_type="gpt2"))

    assert import_check.main([str(broken), "--instruct", "--json"]) == 1

    assert json.loads(capsys.readouterr().out) == import_check.check(broken, instruct=True)


def test_the_command_line_writes_the_compatible_keys_when_asked(broken, capsys):
    _edit_json(broken / "config.json", lambda c: c.pop("torch_dtype"))
    assert import_check.main([str(broken), "--instruct"]) == 1

    assert import_check.main([str(broken), "--instruct", "--write-compatible"]) == 0
    assert '"torch_dtype": "float32"' in capsys.readouterr().err


def test_the_module_runs_with_the_standard_library_only(broken):
    """`python -m training.import_check` on a downloaded folder needs neither torch nor transformers."""
    _lose_chat_template(broken)
    code = ("import sys; sys.modules.update(torch=None, transformers=None, safetensors=None); "
            "import runpy; sys.argv = ['import_check', sys.argv[1], '--instruct']; "
            "runpy.run_module('training.import_check', run_name='__main__')")
    result = subprocess.run([sys.executable, "-c", code, str(broken)], cwd=REPO, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 1, result.stderr
    assert "problem [chat_template]" in result.stdout
