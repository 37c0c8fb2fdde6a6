"""`python -m training`'s command line: both flag spellings, true/false parsing, clear errors for bad
hyperparameters, SageMaker's SM_* environment, kto refusing T5, bad row files, --ratings and --thumbs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from lambdas.common.expert_answers import ExpertAnswerRecord
from lambdas.common.thumbs import ThumbRecord
from tests.training.conftest import read_metrics
from training import cli
from training.config import ConfigError, Hyperparameters, parse_bool

SM_VARS = ("SM_CHANNEL_TRAIN", "SM_CHANNEL_EVAL", "SM_CHANNEL_MODEL", "SM_MODEL_DIR", "SM_OUTPUT_DIR")
QUICK = ["--load_in_8bit", "false", "--merge", "false", "--batch_size", "4", "--max_steps", "2"]
# The synthetic ratings are small: a local build of them holds out 10 well-rated and 10 badly rated answers,
# just the default minimum of each, and fewer once thumbs or other files join. The tests that are not about
# that minimum turn it off; the test of the minimum leaves it at its default.
SMALL_EVAL = ["--min_eval_rows", "0"]


@pytest.fixture(autouse=True)
def no_sagemaker_env(monkeypatch):
    for name in SM_VARS:
        monkeypatch.delenv(name, raising=False)


def _hparams(argv: list[str]) -> Hyperparameters:
    return cli.hyperparameters(cli.build_parser().parse_args(argv))


def test_defaults_are_the_reference_design():
    hparams = _hparams([])
    assert (hparams.model_name_or_path, hparams.learning_rate, hparams.epochs, hparams.batch_size,
            hparams.mini_batch_size) == ("google/flan-t5-xl", 1e-5, 10, 1, 1)
    assert (hparams.lora_r, hparams.lora_alpha, hparams.lora_dropout, hparams.load_in_8bit) == (32, 32, 0.05, True)
    assert hparams.algorithm == "reward-pg" and hparams.merge is True


@pytest.mark.parametrize("flag", ["--learning_rate", "--learning-rate"])
def test_both_flag_spellings_are_accepted(flag):
    assert _hparams([flag, "3e-4", "--lora_target_modules", "q_proj, k_proj"]).learning_rate == 3e-4
    assert _hparams(["--lora-target-modules", "q,v"]).lora_target_modules == ("q", "v")
    assert _hparams(["--lora_target_modules", " , "]).lora_target_modules is None  # empty: by model type


@pytest.mark.parametrize(("text", "value"), [("true", True), ("False", False), ("TRUE", True)])
def test_booleans_are_true_or_false_in_any_case(text, value):
    assert _hparams(["--load_in_8bit", text, "--merge", text]).load_in_8bit is value
    assert parse_bool(text) is value


@pytest.mark.parametrize(("argv", "message"), [
    (["--load_in_8bit", "yes"], "load_in_8bit: must be true or false"),
    (["--learning_rate", "-1"], "learning_rate: must be a finite number > 0"),
    (["--learning_rate", "nan"], "learning_rate: must be a finite number > 0"),
    (["--epochs", "0"], "epochs: must be an integer >= 1"),
    (["--epochs", "1.5"], "invalid int value"),
    (["--lora_r", "0"], "lora_r: must be an integer >= 1"),
    (["--lora_dropout", "1"], "lora_dropout: must be in [0, 1)"),
    (["--batch_size", "2", "--mini_batch_size", "4"], "mini_batch_size: must be at most batch_size (2)"),
    (["--kl_coef", "-0.1"], "kl_coef: must be a finite number >= 0"),
    (["--npo_beta", "0"], "npo_beta: must be a finite number > 0"),
    (["--algorithm", "ppo"], "invalid choice: 'ppo'"),
    (["--good_min_rating", "2", "--bad_max_rating", "2"], "good_min_rating: need 1 <= bad_max_rating <"),
    (["--lr", "0.1"], "unrecognized arguments: --lr"),
    (["--output", "out", "--train", "t", "--max_steps", "0"], "max_steps: must be an integer >= 1"),
    (["--output", "out"], "train: pass --train PATH (or set SM_CHANNEL_TRAIN)"),
    (["--train", "t"], "output: pass --output DIR (or set SM_MODEL_DIR)"),
    (["--train", "t", "--output", "o", "--ratings", "r.jsonl"], "ratings: give either --ratings/--thumbs/--expert-answers"),
    (["--train", "t", "--output", "o", "--thumbs", "t.jsonl"], "thumbs: give either --ratings/--thumbs/--expert-answers"),
    (["--train", "t", "--output", "o", "--min_eval_rows", "0"], "min_eval_rows: only with --ratings"),
])
def test_bad_arguments_fail_with_a_message_naming_the_field(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_dataclass_validates_without_the_cli():
    with pytest.raises(ConfigError, match=r"^batch_size: must be an integer >= 1, got True") as error:
        Hyperparameters(batch_size=True)
    assert error.value.field == "batch_size"
    with pytest.raises(ConfigError, match="^algorithm: must be one of reward-pg, kto"):
        Hyperparameters(algorithm="ppo")


def test_help_works_without_loading_torch():
    # A fresh interpreter: `--help` must not import torch (instant, and works before the heavy install).
    probe = ("import sys, runpy; sys.argv = ['training', '--help']\n"
             "try:\n    runpy.run_module('training', run_name='__main__')\n"
             "except SystemExit as e:\n    assert e.code == 0\n"
             "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=str(Path(cli.__file__).parents[1]))
    assert "--learning-rate LEARNING_RATE" in result.stdout and "--learning_rate" in result.stdout
    assert result.stdout.strip().endswith("False")


def test_sagemaker_environment_gives_the_paths_and_hyperparameters_arrive_as_strings(
        monkeypatch, tmp_path, data_dir, t5_path):
    # What SageMaker does: channels and the model dir in SM_* variables, every hyperparameter a string.
    monkeypatch.setenv("SM_CHANNEL_TRAIN", str(data_dir / "train"))
    monkeypatch.setenv("SM_CHANNEL_EVAL", str(data_dir / "eval"))
    monkeypatch.setenv("SM_CHANNEL_MODEL", t5_path)
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "model"))
    code = cli.main(["--algorithm", "reward-pg", "--epochs", "1", "--learning_rate", "0.001", "--batch_size", "4",
                     "--mini_batch_size", "2", "--load_in_8bit", "true", "--merge", "false", "--max_steps", "2"])
    assert code == 0
    metrics = read_metrics(tmp_path / "model")
    # The weights came from the model channel; the hyperparameter keeps the id it was given (the default).
    assert metrics["model"] == {"name_or_path": "google/flan-t5-xl", "loaded_from": t5_path, "model_type": "t5",
                                "architecture": "encoder-decoder"}
    assert metrics["data_sources"] == {"train": str(data_dir / "train" / "reward.jsonl"),
                                       "eval": str(data_dir / "eval" / "reward.jsonl")}
    # No GPU here: 8-bit was asked for, full precision was used, and the reason is on record.
    assert metrics["quantization"]["requested"] == "8bit" and metrics["quantization"]["used"] == "none"
    assert "CUDA is not available" in metrics["quantization"]["reason"]
    assert metrics["training"]["steps"] == 2 and metrics["outputs"]["merged"] is None
    assert not (tmp_path / "model" / "merged").exists() and (tmp_path / "model" / "adapter").is_dir()


def test_kto_refuses_an_encoder_decoder_model_and_says_why(tmp_path, data_dir, t5_path, caplog):
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "kto", "--model_name_or_path", t5_path, *QUICK,
                         "--train", str(data_dir / "train"), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "kto works with causal language models only" in caplog.text and "encoder-decoder (t5)" in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_bad_row_file_fails_with_its_location_and_sagemaker_gets_the_reason(
        monkeypatch, tmp_path, llama_path, caplog):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "reward.jsonl").write_text(json.dumps({"prompt": "Hi?", "response": "Hello.",
                                                                 "reward": 3, "rating": 5, "session_id": "s",
                                                                 "turn_id": "t"}) + "\n")
    (tmp_path / "failure-dir").mkdir()
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path / "failure-dir"))
    code = cli.main(["--model_name_or_path", llama_path, *QUICK, "--train", str(tmp_path / "train"),
                     "--output", str(tmp_path / "out")])
    assert code == 2
    failure = (tmp_path / "failure-dir" / "failure").read_text()
    assert "reward.jsonl:1" in failure and "reward" in failure


def test_an_unknown_lora_target_module_is_named(tmp_path, data_dir, llama_path, caplog):
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--model_name_or_path", llama_path, *QUICK, "--lora_target_modules", "q_proj,qkv",
                         "--train", str(data_dir / "train"), "--output", str(tmp_path)])
    assert code == 2 and "lora_target_modules: qkv not found in the llama model's modules" in caplog.text


def test_a_channel_without_the_needed_file_is_named(tmp_path, llama_path, caplog):
    (tmp_path / "train").mkdir()
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK,
                         "--train", str(tmp_path / "train"), "--output", str(tmp_path / "out")])
    assert code == 2 and f"{tmp_path / 'train'}: no kto.jsonl in this directory" in caplog.text


def test_kto_raises_a_batch_size_of_one_to_two_and_records_it(tmp_path, data_dir, llama_path):
    code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, "--load_in_8bit", "false",
                     "--merge", "false", "--max_steps", "2", "--train", str(data_dir / "train"),
                     "--eval", str(data_dir / "eval"), "--output", str(tmp_path)])
    assert code == 0
    metrics = read_metrics(tmp_path)
    assert metrics["adjustments"]["batch_size"]["requested"] == 1
    assert metrics["adjustments"]["batch_size"]["used"] == 2 and metrics["training"]["batch_size"] == 2
    assert metrics["hyperparameters"]["batch_size"] == 1  # what was asked, kept as given


def _rating(session: str, turn: str, question: str, answer: str, rating: float) -> str:
    return json.dumps({"schema_version": 1, "session_id": session, "turn_id": turn, "question": question,
                       "answer": answer, "rating": rating, "ratings": [{"worker_id": "w1", "value": int(rating)}],
                       "agreement": 1.0, "source": "import"})


def test_ratings_files_build_the_dataset_locally(tmp_path, splits, llama_path):
    lines = [_rating(row["session_id"], row["turn_id"], row["prompt"], row["response"], row["rating"])
             for split in splits.values() for row in split["reward"]]
    (tmp_path / "a.jsonl").write_text("\n".join(lines[:40]) + "\n")
    (tmp_path / "b.jsonl").write_text("\n".join(lines[40:]) + "\n")
    output = tmp_path / "out"
    code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, *SMALL_EVAL,
                     "--ratings", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--output", str(output)])
    assert code == 0
    metrics = read_metrics(output)
    report = json.loads((output / "dataset" / "report.json").read_text())
    assert report["records"] == len(lines)
    # The builder split by session; the job trained on its train KTO rows and evaluated on its eval rows.
    assert metrics["rows"] == {"train": report["splits"]["train"]["kto"], "eval": report["splits"]["eval"]["reward"]}
    assert metrics["rows"]["eval"] > 0
    assert (output / "dataset" / "train" / "kto.jsonl").is_file()
    assert metrics["data_sources"]["ratings"].endswith("b.jsonl")


def test_a_local_build_with_too_few_held_out_answers_stops_naming_the_counts(tmp_path, splits, llama_path, caplog,
                                                                            monkeypatch):
    # The training sessions only: the build holds out 7 of them.
    (tmp_path / "ratings.jsonl").write_text("\n".join(
        _rating(row["session_id"], row["turn_id"], row["prompt"], row["response"], row["rating"])
        for row in splits["train"]["reward"]) + "\n")
    failure = tmp_path / "sm-output"
    failure.mkdir()
    monkeypatch.setenv("SM_OUTPUT_DIR", str(failure))
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "reward-pg", "--model_name_or_path", llama_path, *QUICK,
                         "--ratings", str(tmp_path / "ratings.jsonl"), "--output", str(tmp_path / "out")])
    report = json.loads((tmp_path / "out" / "dataset" / "report.json").read_text())  # written first, to read why
    held_out = report["splits"]["eval"]
    assert code == 2 and not (tmp_path / "out" / "metrics.json").exists()
    assert 0 < held_out["reward_good"] < 10 and 0 < held_out["reward_bad"] < 10
    message = (f"the eval split has {held_out['reward_good']} well-rated (rating >= 4) and {held_out['reward_bad']} "
               "badly rated (rating <= 2) answers; the held-out measures need at least min_eval_rows=10 of each")
    assert message in caplog.text and message in (failure / "failure").read_text()


def _thumbs_file(path: Path, splits) -> Path:
    """The customers' thumbs on answers no expert rated (sessions of their own), as the sampler exports them."""
    lines = [json.dumps(ThumbRecord(session_id=f"thumbed-{row['session_id']}", turn_id=row["turn_id"],
                                    question=row["prompt"], answer=row["completion"],
                                    thumb="up" if row["label"] else "down",
                                    given_at="2026-11-30T10:00:00.000000Z").to_dict())
             for row in splits["train"]["kto"]]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_thumbs_files_join_the_local_build_and_the_run_reports_them_apart(tmp_path, splits, llama_path):
    (tmp_path / "ratings.jsonl").write_text("\n".join(
        _rating(row["session_id"], row["turn_id"], row["prompt"], row["response"], row["rating"])
        for split in splits.values() for row in split["reward"]) + "\n")
    thumbs = _thumbs_file(tmp_path / "thumbs.jsonl", splits)
    output = tmp_path / "out"
    code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, *SMALL_EVAL,
                     "--ratings", str(tmp_path / "ratings.jsonl"), "--thumbs", str(thumbs), "--output", str(output)])
    assert code == 0
    metrics = read_metrics(output)
    report = json.loads((output / "dataset" / "report.json").read_text())
    assert report["thumbs"]["used"] == len(splits["train"]["kto"])
    by_source = report["splits"]["train"]["kto_by_source"]
    assert set(by_source) == {"import", "thumbs"}
    # What the job trained on, per source: the dataset's rows, with an expert rating's weight and a thumb's.
    for source, weight in (("import", 1.0), ("thumbs", 0.5)):
        trained = metrics["kto_by_source"][source]
        rows = by_source[source]["kto_true"] + by_source[source]["kto_false"]
        assert (trained["rows"], trained["trained"], trained["weights"]) == (rows, rows, [weight])
        assert (trained["kto_true"], trained["kto_false"]) == (by_source[source]["kto_true"],
                                                               by_source[source]["kto_false"])
        assert trained["weight_sum"] == pytest.approx(rows * weight)
    assert metrics["rows"]["train"] == report["splits"]["train"]["kto"]
    assert metrics["data_sources"] == {"ratings": str(tmp_path / "ratings.jsonl"), "thumbs": str(thumbs)}


def test_thumbs_alone_train_kto(tmp_path, splits, llama_path):
    thumbs = _thumbs_file(tmp_path / "thumbs.jsonl", splits)
    # No ratings, so no held-out answers at all: a run without the held-out measures is asked for explicitly.
    code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, *SMALL_EVAL,
                     "--thumbs", str(thumbs), "--output", str(tmp_path / "out")])
    assert code == 0
    metrics = read_metrics(tmp_path / "out")
    assert list(metrics["kto_by_source"]) == ["thumbs"] and metrics["eval"] is None  # no ratings: no margin
    # Nothing measured, nothing shown sound: the checks do not pass a run they could not evaluate.
    assert metrics["checks"]["passed"] is False
    assert [failure["check"] for failure in metrics["checks"]["failures"]] == ["held_out_rows"]


@pytest.mark.parametrize(("content", "message"), [
    (None, "thumbs.jsonl: no such thumbs file"),
    # A rating record is not a thumb: the file was given to the wrong flag.
    (_rating("s", "t", "Hi?", "Hello.", 5) + "\n", "thumbs.jsonl: no valid thumb record (lambdas/common/thumbs.py "
                                                   "ThumbRecord, as the sampler exports them); bad lines: "
                                                   "missing_field x1 (first at {path}:1)"),
    ("not json\n", "bad lines: invalid_json x1 (first at {path}:1)"),
])
def test_a_bad_thumbs_file_fails_before_any_loading_and_names_the_file(tmp_path, llama_path, caplog, content,
                                                                        message):
    path = tmp_path / "thumbs.jsonl"
    if content is not None:
        path.write_text(content)
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, "--thumbs", str(path),
                         "--output", str(tmp_path / "out")])
    assert code == 2 and message.format(path=path) in caplog.text
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_a_ratings_file_without_one_valid_record_is_named(tmp_path, splits, llama_path, caplog):
    thumbs = _thumbs_file(tmp_path / "thumbs.jsonl", splits)
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, "--ratings", str(thumbs),
                         "--output", str(tmp_path / "out")])
    assert code == 2 and f"{thumbs}: no valid rating record" in caplog.text


def test_the_merged_model_keeps_the_checkpoint_dtype(tmp_path, data_dir, llama_path):
    import torch
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # A bf16 checkpoint (as Llama ships): training runs in float32, the merged model goes back to bf16.
    base = tmp_path / "llama-bf16"
    AutoModelForCausalLM.from_pretrained(llama_path, dtype=torch.bfloat16).save_pretrained(base)
    AutoTokenizer.from_pretrained(llama_path).save_pretrained(base)
    code = cli.main(["--model_name_or_path", str(base), "--load_in_8bit", "false", "--batch_size", "4",
                     "--max_steps", "1", "--train", str(data_dir / "train"), "--output", str(tmp_path / "out")])
    assert code == 0
    with safe_open(str(tmp_path / "out" / "merged" / "model.safetensors"), framework="pt") as weights:
        dtypes = {weights.get_slice(name).get_dtype() for name in weights.keys()}
    assert dtypes == {"BF16"}
    assert read_metrics(tmp_path / "out")["eval"] is None  # no eval channel: no margin, and no failure
    assert json.loads((tmp_path / "out" / "merged" / "config.json").read_text())["dtype"] == "bfloat16"


def test_accepted_expert_answers_join_the_local_build_as_well_rated_examples(tmp_path, splits, llama_path, caplog):
    (tmp_path / "ratings.jsonl").write_text("\n".join(
        _rating(row["session_id"], row["turn_id"], row["prompt"], row["response"], row["rating"])
        for split in splits.values() for row in split["reward"]) + "\n")
    answers = tmp_path / "expert-answers.jsonl"
    answers.write_text("".join(json.dumps(ExpertAnswerRecord(
        session_id=row["session_id"], turn_id=f"expert-{row['turn_id']}", escalation_id="x-1", question=row["prompt"],
        answer="The expert's own answer.", reviewer="admin-1", reviewed_at="2026-12-01T10:00:00Z").to_dict()) + "\n"
        for row in splits["train"]["reward"]))
    output = tmp_path / "out"
    code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK, *SMALL_EVAL,
                     "--ratings", str(tmp_path / "ratings.jsonl"), "--expert-answers", str(answers),
                     "--output", str(output)])
    assert code == 0
    report = json.loads((output / "dataset" / "report.json").read_text())
    assert report["expert_answers"]["records"] == len(splits["train"]["reward"])
    trained = read_metrics(output)["kto_by_source"]["expert_answer"]
    assert trained["kto_true"] == trained["rows"] > 0 and trained["kto_false"] == 0
    with caplog.at_level(logging.ERROR, logger="training"):
        code = cli.main(["--algorithm", "kto", "--model_name_or_path", llama_path, *QUICK,
                         "--expert-answers", str(tmp_path / "ratings.jsonl"), "--output", str(tmp_path / "bad")])
    assert code == 2 and "no valid expert answer record" in caplog.text
