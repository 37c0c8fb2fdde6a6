"""`python -m training`: the command line of the fine-tuning job, locally and as a SageMaker training job.

Used by training/__main__.py and the SageMaker source directory's root train.py. SageMaker's training
toolkit passes each hyperparameter as `--name value` (all values strings) and the paths through SM_*
environment variables, which give the defaults of --train (SM_CHANNEL_TRAIN), --eval (SM_CHANNEL_EVAL),
--output (SM_MODEL_DIR) and the base model (SM_CHANNEL_MODEL, else --model_name_or_path).
Heavy imports (torch, transformers) wait until after parsing, so `--help` and argument errors are instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from training.config import ALGORITHMS, DEFAULT_MODEL, ConfigError, Hyperparameters, parse_bool, parse_modules

logger = logging.getLogger("training")

_DEFAULTS = Hyperparameters()


def _flag(parser: argparse._ActionsContainer, name: str, **kwargs: Any) -> None:
    """Both spellings: --learning-rate and --learning_rate."""
    spellings = {f"--{name}", f"--{name.replace('_', '-')}"}
    parser.add_argument(*sorted(spellings), dest=name, **kwargs)


def _bool(name: str):
    def parse(value: str) -> bool:
        try:
            return parse_bool(value, name)
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = "true/false"
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", allow_abbrev=False,
        description="Fine-tune a chatbot model with LoRA from expert ratings (reward-pg or kto). "
                    "Defaults are the reference design's: Flan-T5 XL, LoRA r=32 alpha=32 dropout 0.05 on q,v "
                    "in 8-bit, learning rate 1e-5, 10 epochs, batch and mini-batch 1.")
    paths = parser.add_argument_group("data and paths")
    _flag(paths, "train", type=Path, default=_env_path("SM_CHANNEL_TRAIN"),
          help="file, or directory holding reward.jsonl / kto.jsonl (default: $SM_CHANNEL_TRAIN)")
    _flag(paths, "eval", type=Path, default=_env_path("SM_CHANNEL_EVAL"),
          help="held-out reward.jsonl, or its directory (default: $SM_CHANNEL_EVAL)")
    _flag(paths, "output", type=Path, default=_env_path("SM_MODEL_DIR"),
          help="output directory (default: $SM_MODEL_DIR)")
    _flag(paths, "ratings", type=Path, nargs="+", default=None, metavar="FILE",
          help="local only: rating-record JSONL files to build the train/eval split from (instead of --train)")
    _flag(paths, "thumbs", type=Path, nargs="+", default=None, metavar="FILE",
          help="local only: customers' thumbs (ThumbRecord JSONL, as the feedback sampler exports them under "
               "thumbs/) to add to that build as KTO rows, with or without --ratings")
    _flag(paths, "expert_answers", type=Path, nargs="+", default=None, metavar="FILE",
          help="local only: accepted experts' answers (ExpertAnswerRecord JSONL, as the rating console writes them "
               "under expert-answers/) to add to that build as well-rated examples")
    _flag(paths, "min_eval_rows", type=int, default=None, metavar="N",
          help="local only: the fewest well-rated, and the fewest badly rated, held-out answers that build must "
               "hold (default 10, the dataset Lambda's MIN_EVAL_ROWS; 0: no minimum)")

    hp = parser.add_argument_group("hyperparameters (SageMaker passes them as strings)")
    _flag(hp, "algorithm", choices=ALGORITHMS, default=_DEFAULTS.algorithm)
    _flag(hp, "model_name_or_path", default=DEFAULT_MODEL,
          help="hub id or directory; $SM_CHANNEL_MODEL, when set, is where the weights are loaded from")
    _flag(hp, "learning_rate", type=float, default=_DEFAULTS.learning_rate)
    _flag(hp, "epochs", type=int, default=_DEFAULTS.epochs)
    _flag(hp, "batch_size", type=int, default=_DEFAULTS.batch_size)
    _flag(hp, "mini_batch_size", type=int, default=_DEFAULTS.mini_batch_size,
          help="reward-pg: gradient-accumulation chunk of a batch")
    _flag(hp, "lora_r", type=int, default=_DEFAULTS.lora_r)
    _flag(hp, "lora_alpha", type=int, default=_DEFAULTS.lora_alpha)
    _flag(hp, "lora_dropout", type=float, default=_DEFAULTS.lora_dropout)
    _flag(hp, "lora_target_modules", default=None,
          help="comma list (default by model type: t5 -> q,v; llama-like -> q_proj,v_proj)")
    _flag(hp, "kl_coef", type=float, default=_DEFAULTS.kl_coef,
          help="reward-pg: weight of the KL to the base, summed over an answer's tokens")
    _flag(hp, "npo_beta", type=float, default=_DEFAULTS.npo_beta,
          help="reward-pg: NPO's beta on badly rated answers (larger: their push fades sooner)")
    _flag(hp, "kto_beta", type=float, default=_DEFAULTS.kto_beta, help="kto: TRL's beta")
    _flag(hp, "load_in_8bit", type=_bool("load_in_8bit"), default=_DEFAULTS.load_in_8bit,
          help="true/false; needs CUDA and bitsandbytes, else full precision with a warning")
    _flag(hp, "max_prompt_length", type=int, default=_DEFAULTS.max_prompt_length)
    _flag(hp, "max_response_length", type=int, default=_DEFAULTS.max_response_length)
    _flag(hp, "seed", type=int, default=_DEFAULTS.seed)
    _flag(hp, "merge", type=_bool("merge"), default=_DEFAULTS.merge,
          help="true/false: also write merged/ (the full model for Bedrock Custom Model Import)")
    _flag(hp, "good_min_rating", type=float, default=_DEFAULTS.good_min_rating,
          help="evaluation (and --ratings): rating >= this is a well-rated answer")
    _flag(hp, "bad_max_rating", type=float, default=_DEFAULTS.bad_max_rating,
          help="evaluation (and --ratings): rating <= this is a badly rated answer")
    _flag(hp, "eval_prompts", type=int, default=_DEFAULTS.eval_prompts,
          help="evaluation: distinct held-out questions answered by the base and the tuned model")
    _flag(hp, "eval_samples", type=int, default=_DEFAULTS.eval_samples,
          help="evaluation: answers sampled per question from the tuned model for the sequence KL")
    _flag(hp, "eval_max_new_tokens", type=int, default=_DEFAULTS.eval_max_new_tokens,
          help="evaluation: longest answer generated, in tokens")
    _flag(hp, "gate_questions", type=int, default=_DEFAULTS.gate_questions,
          help="gate: held-out questions the base and the tuned model both answer for the judge (0: none)")
    _flag(hp, "kl_budget", type=float, default=_DEFAULTS.kl_budget,
          help="checks: the most sequence KL to the base a run may have, in nats per answer")
    _flag(hp, "logprob_tolerance", type=float, default=_DEFAULTS.logprob_tolerance,
          help="checks: how far (nats per token) well-rated answers' mean log-prob may fall below the base's")
    _flag(hp, "max_steps", type=int, default=None, help="stop after this many optimizer steps (smoke runs)")
    return parser


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def hyperparameters(args: argparse.Namespace) -> Hyperparameters:
    values = {name: getattr(args, name) for name in Hyperparameters.field_names()}
    values["lora_target_modules"] = parse_modules(args.lora_target_modules)
    return Hyperparameters(**values)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        hparams = hyperparameters(args)
    except ConfigError as error:
        parser.error(str(error))
    if args.max_steps is not None and args.max_steps < 1:
        parser.error(f"max_steps: must be an integer >= 1, got {args.max_steps}")
    if args.output is None:
        parser.error("output: pass --output DIR (or set SM_MODEL_DIR)")
    local_build = bool(args.ratings or args.thumbs or args.expert_answers)
    if local_build and args.train is not None:
        flag = "ratings" if args.ratings else "thumbs" if args.thumbs else "expert_answers"
        parser.error(f"{flag}: give either --ratings/--thumbs/--expert-answers (a local build) or --train "
                     "(SM_CHANNEL_TRAIN), not both")
    if args.min_eval_rows is not None and not local_build:
        parser.error("min_eval_rows: only with --ratings/--thumbs/--expert-answers (a local build); the dataset "
                     "Lambda's minimum is its MIN_EVAL_ROWS")
    if not local_build and args.train is None:
        parser.error("train: pass --train PATH (or set SM_CHANNEL_TRAIN), or --ratings/--thumbs/--expert-answers "
                     "FILE...")

    from lambdas.common.training_data import DatasetError

    # PEFT 0.21.2 calls a method transformers 5.24 deprecates: noise in every job log, nothing to act on.
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    from training import data, job  # torch, transformers and trl load here

    if not sys.stderr.isatty():
        _quiet_progress_bars()

    model_path = os.environ.get("SM_CHANNEL_MODEL") or None
    try:
        if local_build:
            rows = data.from_ratings(args.ratings or [], hparams.algorithm, thumbs=args.thumbs or [],
                                     expert_answers=args.expert_answers or [],
                                     good_min_rating=hparams.good_min_rating, bad_max_rating=hparams.bad_max_rating,
                                     min_eval_rows=args.min_eval_rows, write_to=args.output / "dataset")
        else:
            rows = data.load(args.train, args.eval, hparams.algorithm)
        job.run(hparams, rows, args.output, model_path=model_path, max_steps=args.max_steps)
    except (ConfigError, data.DataError, DatasetError) as error:
        logger.error("%s", error)
        _report_failure(str(error))
        return 2
    return 0


def _quiet_progress_bars() -> None:
    """In a log file (CloudWatch on SageMaker) the libraries' progress bars are noise between the step lines."""
    import datasets
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()


def _report_failure(message: str) -> None:
    """On SageMaker, the first 1024 characters of /opt/ml/output/failure become the job's FailureReason."""
    folder = os.environ.get("SM_OUTPUT_DIR")
    if folder and Path(folder).is_dir():
        (Path(folder) / "failure").write_text(message[:1024])
