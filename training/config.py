"""The fine-tuning job's hyperparameters: one frozen, validated dataclass.

Used by training/cli.py (which turns command-line strings into it) and by every training module; an
end-to-end test or a benchmark can build one directly. Defaults are the reference design's values
(Flan-T5 XL, LoRA r=32 alpha=32 dropout 0.05 on q and v in 8-bit, learning rate 1e-5, 10 epochs,
batch and mini-batch 1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

ALGORITHMS = ("reward-pg", "kto")
DEFAULT_MODEL = "google/flan-t5-xl"


class ConfigError(ValueError):
    """A bad hyperparameter; the message starts with the field's name."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


def parse_bool(value: str | bool, field_name: str = "value") -> bool:
    """SageMaker passes every hyperparameter as a string: accept exactly true/false (any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ConfigError(field_name, f"must be true or false, got {value!r}")


def parse_modules(value: str | None) -> tuple[str, ...] | None:
    """A comma list ("q,v"); empty or None means "the default for the model type"."""
    if value is None:
        return None
    names = tuple(part.strip() for part in str(value).split(",") if part.strip())
    return names or None


@dataclass(frozen=True)
class Hyperparameters:
    algorithm: str = "reward-pg"
    model_name_or_path: str = DEFAULT_MODEL
    learning_rate: float = 1e-5
    epochs: int = 10
    batch_size: int = 1
    # reward-pg: the batch is split into chunks of this size whose gradients accumulate into one step.
    mini_batch_size: int = 1
    lora_r: int = 32
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] | None = None  # None: by model type (t5 -> q,v; llama -> q_proj,v_proj)
    # reward-pg: weight of KL(policy || frozen base) summed over an answer's tokens; 0.2 was the old PPO default
    kl_coef: float = 0.2
    # reward-pg: NPO's beta on badly rated answers (training/reward_pg.py): the push on a bad answer halves once it
    # is 1/npo_beta nats per token below the base, and is a tenth at 3/npo_beta (2: NPO's beta 0.1 on a
    # 20-token answer).
    npo_beta: float = 2.0
    kto_beta: float = 0.1  # kto: TRL's beta
    load_in_8bit: bool = True
    max_prompt_length: int = 512
    max_response_length: int = 256
    seed: int = 42
    merge: bool = True
    # Evaluation thresholds on the 1-5 rating (same meaning as the dataset builder's DatasetOptions).
    good_min_rating: float = 4.0
    bad_max_rating: float = 2.0
    # The evaluation's generation (training/evaluation.py): how many distinct held-out questions the base and
    # the tuned model answer, how many answers the tuned model samples per question for the sequence KL, and
    # the longest answer generated, in tokens. Kept small: the job evaluates before and after every run.
    eval_prompts: int = 16
    eval_samples: int = 4
    eval_max_new_tokens: int = 64
    # The gate's answers (training/gate_answers.py): how many distinct held-out questions the base and the tuned
    # model both answer for the pipeline's judge (0: none written). 100 leaves room above the gate's minimum
    # of judged questions (30) for the ones the judge cannot read; each costs two greedy answers here.
    gate_questions: int = 100
    # The run's checks (training/run_checks.py). kl_budget: the most the sequence KL to the base may be, in
    # nats per answer (6 is the target KL of the adaptive KL controller of Ziegler et al. 2019, TRL's PPO
    # default, the same PPO that kl_coef's 0.2 comes from). logprob_tolerance: how far, in nats per token, the
    # well-rated held-out answers' mean log-prob may fall below the base's before the run fails.
    kl_budget: float = 6.0
    logprob_tolerance: float = 0.05

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError("algorithm", f"must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if not isinstance(self.model_name_or_path, str) or not self.model_name_or_path.strip():
            raise ConfigError("model_name_or_path", "must not be empty")
        _positive_number("learning_rate", self.learning_rate)
        _positive_number("npo_beta", self.npo_beta)
        for name in ("epochs", "batch_size", "mini_batch_size", "lora_r", "lora_alpha",
                     "max_prompt_length", "max_response_length", "eval_prompts", "eval_samples",
                     "eval_max_new_tokens"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.gate_questions, bool) or not isinstance(self.gate_questions, int) or self.gate_questions < 0:
            raise ConfigError("gate_questions", f"must be a whole number >= 0, got {self.gate_questions!r}")
        if self.mini_batch_size > self.batch_size:
            raise ConfigError("mini_batch_size", f"must be at most batch_size ({self.batch_size}), "
                                                 f"got {self.mini_batch_size}")
        if not (isinstance(self.lora_dropout, (int, float)) and 0 <= self.lora_dropout < 1):
            raise ConfigError("lora_dropout", f"must be in [0, 1), got {self.lora_dropout!r}")
        _positive_number("kl_budget", self.kl_budget)
        for name in ("kl_coef", "kto_beta", "logprob_tolerance"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(name, f"must be a finite number >= 0, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError("seed", f"must be an integer >= 0, got {self.seed!r}")
        if self.lora_target_modules is not None and not self.lora_target_modules:
            raise ConfigError("lora_target_modules", "must name at least one module, or be left unset")
        if not (1 <= self.bad_max_rating < self.good_min_rating <= 5):
            raise ConfigError("good_min_rating", "need 1 <= bad_max_rating < good_min_rating <= 5, got "
                                                 f"bad_max_rating={self.bad_max_rating}, "
                                                 f"good_min_rating={self.good_min_rating}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_target_modules"] = list(self.lora_target_modules) if self.lora_target_modules else None
        return data

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _positive_int(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(name, f"must be an integer >= 1, got {value!r}")


def _positive_number(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ConfigError(name, f"must be a finite number > 0, got {value!r}")
