"""One fine-tuning run, from rows in memory to a filled output directory. The in-process entry point.

Used by training/cli.py (`python -m training`, locally and on SageMaker) and directly by tests, end-to-end
tests and benchmarks: `run(Hyperparameters(...), data.load(train, eval, algorithm), output,
max_steps=N)` trains N steps and returns the metrics dict it also writes to metrics.json.
"""

from __future__ import annotations

import logging
from importlib.metadata import version
from pathlib import Path
from typing import Any

from transformers import set_seed

from training import evaluation, gate_answers, import_check, kto, modeling, outputs, reward_pg, run_checks
from training.config import Hyperparameters
from training.data import TrainingData

logger = logging.getLogger(__name__)


def run(hparams: Hyperparameters, data: TrainingData, output: Path, *, model_path: str | None = None,
        max_steps: int | None = None) -> dict[str, Any]:
    """model_path: where to load the base from (SM_CHANNEL_MODEL); default hparams.model_name_or_path.
    max_steps: stop after that many optimizer steps (tests, benchmarks); None trains every epoch."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    path = model_path or hparams.model_name_or_path
    set_seed(hparams.seed)
    loaded = modeling.load(path, hparams)
    peft_config = modeling.lora_config(loaded, hparams)  # checks the target modules before any training
    scoring_args: dict[str, Any] = {"is_encoder_decoder": loaded.is_encoder_decoder, "device": loaded.device}

    before = _evaluate(loaded.model, loaded.tokenizer, data, hparams, scoring_args)
    adjustments: dict[str, Any] = {}
    if hparams.algorithm == "kto":
        peft_model, result, batch_size = kto.train(loaded.model, loaded.tokenizer, peft_config, data.train,
                                                   hparams, max_steps=max_steps)
        if batch_size != hparams.batch_size:
            adjustments["batch_size"] = {"requested": hparams.batch_size, "used": batch_size,
                                         "reason": "kto estimates its KL term within a batch: needs >= 2"}
    else:
        batch_size = hparams.batch_size
        set_seed(hparams.seed)  # the adapter's initial weights, reproducibly
        peft_model = modeling.add_lora(loaded, hparams)
        result = reward_pg.train(peft_model, loaded.tokenizer, data.train, hparams, max_steps=max_steps,
                                 **scoring_args)
    after = _evaluate(peft_model, loaded.tokenizer, data, hparams, scoring_args)
    kl = evaluation.kl_to_base(peft_model, loaded.tokenizer, data.eval, hparams, **scoring_args) if data.eval else None
    measured = evaluation.compare(before, after, kl) if before is not None else None
    checks = run_checks.check(measured, run_checks.Thresholds.from_hparams(hparams))
    answers = gate_answers.answer_both(peft_model, loaded.tokenizer, data.eval, hparams, **scoring_args)

    outputs.save_adapter(peft_model, loaded.tokenizer, output)
    if answers:
        gate_answers.write(output, answers)
    merged, verdict = None, None
    if hparams.merge:
        merged = outputs.save_merged(peft_model, loaded.tokenizer, output, base_path=path,
                                     quantized=loaded.quantization.used == "8bit",
                                     is_encoder_decoder=loaded.is_encoder_decoder,
                                     dtype=loaded.checkpoint_dtype).name
        # An instruct base carries a chat template: the imported model must carry it too.
        verdict = import_check.check(output / merged,
                                     instruct=bool(getattr(loaded.tokenizer, "chat_template", None)))
        import_check.write_verdict(output, verdict)
    outputs.plot_curves(output, hparams.algorithm, result.history)

    metrics: dict[str, Any] = {
        "algorithm": hparams.algorithm,
        "model": {"name_or_path": hparams.model_name_or_path, "loaded_from": path,
                  "model_type": loaded.model_type,
                  "architecture": "encoder-decoder" if loaded.is_encoder_decoder else "causal"},
        "hyperparameters": {**hparams.to_dict(), "lora_target_modules": modeling.target_modules(
            loaded.model_type, hparams.lora_target_modules)},
        "adjustments": adjustments,
        "quantization": loaded.quantization.to_dict(),
        "device": str(loaded.device),
        "rows": {"train": len(data.train), "eval": len(data.eval)},
        "kto_by_source": result.kto_by_source,
        "kto_label_weights": result.kto_label_weights,
        "data_sources": data.sources,
        "training": _throughput(result, batch_size),
        "eval": measured,
        "checks": checks,
        "import_check": verdict,
        "history": result.history,
        "outputs": {"adapter": outputs.ADAPTER_DIR, "merged": merged, "metrics": outputs.METRICS_FILE,
                    "plot": outputs.PLOT_FILE, "import_check": import_check.VERDICT_FILE if verdict else None,
                    "gate_answers": gate_answers.ANSWERS_FILE if answers else None},
        "gate_questions": len(answers),
        "versions": {name: version(name) for name in ("torch", "transformers", "peft", "trl")},
    }
    outputs.write_metrics(output, metrics)
    if measured is not None:
        logger.info("held-out margin: before %s, after %s, delta %s", measured["margin_before"],
                    measured["margin_after"], measured["margin_delta"])
    run_checks.log(checks)
    if verdict is not None and not verdict["importable"]:
        logger.warning("Bedrock Custom Model Import would refuse merged/: %s",
                       "; ".join(problem["detail"] for problem in verdict["problems"]))
    logger.info("%d steps in %.1f s (%.2f steps/s); outputs in %s", result.steps, result.seconds,
                metrics["training"]["steps_per_second"], output)
    return metrics


def _evaluate(model, tokenizer, data: TrainingData, hparams: Hyperparameters, scoring_args: dict[str, Any]):
    if not data.eval:
        return None
    return evaluation.measure(model, tokenizer, data.eval, hparams, **scoring_args)


def _throughput(result: reward_pg.TrainResult, batch_size: int) -> dict[str, Any]:
    seconds = result.seconds
    losses = [entry["loss"] for entry in result.history if "loss" in entry]
    return {"steps": result.steps, "seconds": seconds, "batch_size": batch_size,
            "steps_per_second": result.steps / seconds if seconds > 0 else None,
            "samples_per_second": result.steps * batch_size / seconds if seconds > 0 else None,
            "final_loss": losses[-1] if losses else None}
