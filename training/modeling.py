"""Loading the base model and tokenizer, optional 8-bit quantization, and the LoRA adapter.

Used by training/job.py (and training/outputs.py to reload a full-precision base for merging). The real
job loads Flan-T5 XL (AutoModelForSeq2SeqLM) or a Llama-family model (AutoModelForCausalLM) from
SM_CHANNEL_MODEL on SageMaker; the tests load tiny randomly initialised models saved to a temp dir.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Any

import torch
from peft import LoraConfig, TaskType, get_peft_model
from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from training.config import ConfigError, Hyperparameters

logger = logging.getLogger(__name__)


@dataclass
class Quantization:
    requested: bool
    used: str  # "8bit" or "none"
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"requested": "8bit" if self.requested else "none", "used": self.used, "reason": self.reason}


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel (later wrapped in a PeftModel)
    tokenizer: Any
    path: str
    model_type: str
    is_encoder_decoder: bool
    quantization: Quantization
    device: torch.device
    checkpoint_dtype: torch.dtype | None  # the weights' dtype on disk (training itself runs in float32)


def plan_quantization(load_in_8bit: bool) -> Quantization:
    """8-bit needs a CUDA GPU and bitsandbytes; anywhere else train in full precision and say so."""
    if not load_in_8bit:
        return Quantization(False, "none", "load_in_8bit=false")
    if not torch.cuda.is_available():
        reason = "CUDA is not available: bitsandbytes 8-bit needs a GPU, training in full precision"
    elif importlib.util.find_spec("bitsandbytes") is None:
        reason = "bitsandbytes is not installed: training in full precision"
    else:
        return Quantization(True, "8bit", "load_in_8bit=true on CUDA")
    logger.warning("load_in_8bit=true ignored: %s", reason)
    return Quantization(True, "none", reason)


def model_class(is_encoder_decoder: bool):
    return AutoModelForSeq2SeqLM if is_encoder_decoder else AutoModelForCausalLM


def read_model_config(path: str):
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ConfigError("model_name_or_path", f"cannot load a model config from {path!r}: {error}") from error


def load(path: str, hparams: Hyperparameters) -> LoadedModel:
    config = read_model_config(path)
    is_encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
    if hparams.algorithm == "kto" and is_encoder_decoder:
        raise ConfigError("algorithm", f"kto works with causal language models only, and {path!r} is an "
                                       f"encoder-decoder ({config.model_type}): TRL's KTOTrainer feeds one "
                                       "prompt+completion sequence to a decoder. Use --algorithm reward-pg")
    quantization = plan_quantization(hparams.load_in_8bit)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        # Llama tokenizers ship without a pad token; padding is masked out everywhere, so EOS can stand in.
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token_id is None:
        raise ConfigError("model_name_or_path", f"the tokenizer at {path!r} has no EOS token")
    if not is_encoder_decoder:
        tokenizer.padding_side = "left"  # KTOTrainer and batched generation expect left padding

    if quantization.used == "8bit":
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig  # bitsandbytes is imported only on this path

        model = model_class(is_encoder_decoder).from_pretrained(
            path, quantization_config=BitsAndBytesConfig(load_in_8bit=True), device_map={"": 0})
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        device = torch.device("cuda", 0)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        model = model_class(is_encoder_decoder).from_pretrained(path, dtype=torch.float32).to(device)
    disable_dropout(model)
    logger.info("loaded %s (%s, %s) on %s, quantization %s", path, config.model_type,
                "encoder-decoder" if is_encoder_decoder else "causal", device, quantization.used)
    # Read from the config before loading: from_pretrained(dtype=...) overwrites model.config.dtype.
    checkpoint_dtype = getattr(config, "dtype", None)
    return LoadedModel(model=model, tokenizer=tokenizer, path=path, model_type=config.model_type,
                       is_encoder_decoder=is_encoder_decoder, quantization=quantization, device=device,
                       checkpoint_dtype=checkpoint_dtype if isinstance(checkpoint_dtype, torch.dtype) else None)


# Dropout some attention modules apply with torch.nn.functional.dropout from a rate kept as a plain number
# (T5Attention.dropout = config.dropout_rate; Llama-family attention_dropout), which no nn.Dropout module holds.
FUNCTIONAL_DROPOUT_RATES = ("dropout", "attention_dropout")


def disable_dropout(model) -> None:
    """The base model's dropout off, as TRL does, and also the attention dropout TRL's version misses: the KL
    term compares two passes of the same weights (adapter on and off), and dropout noise would show up as a
    spurious KL. LoRA's own dropout is added later."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for name in FUNCTIONAL_DROPOUT_RATES:
            if isinstance(getattr(module, name, None), float):
                setattr(module, name, 0.0)


def target_modules(model_type: str, override: tuple[str, ...] | None) -> list[str]:
    if override:
        return list(override)
    # PEFT's table: t5 -> q, v (the reference design's choice); llama, mistral, qwen2 -> q_proj, v_proj.
    modules = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(model_type)
    if not modules:
        raise ConfigError("lora_target_modules", f"no default for model type {model_type!r}: pass a comma list "
                                                 "of module names, e.g. q_proj,v_proj")
    return list(modules)


def lora_config(loaded: LoadedModel, hparams: Hyperparameters) -> LoraConfig:
    modules = target_modules(loaded.model_type, hparams.lora_target_modules)
    names = [name for name, _ in loaded.model.named_modules()]
    missing = [m for m in modules if not any(name == m or name.endswith("." + m) for name in names)]
    if missing:
        raise ConfigError("lora_target_modules", f"{', '.join(missing)} not found in the {loaded.model_type} "
                                                 "model's modules")
    return LoraConfig(
        r=hparams.lora_r, lora_alpha=hparams.lora_alpha, lora_dropout=hparams.lora_dropout,
        target_modules=modules, bias="none",
        task_type=TaskType.SEQ_2_SEQ_LM if loaded.is_encoder_decoder else TaskType.CAUSAL_LM)


def add_lora(loaded: LoadedModel, hparams: Hyperparameters):
    try:
        peft_model = get_peft_model(loaded.model, lora_config(loaded, hparams))
    except ValueError as error:  # e.g. "Target modules {...} not found in the base model"
        raise ConfigError("lora_target_modules", str(error)) from error
    trainable, total = peft_model.get_nb_trainable_parameters()
    logger.info("LoRA adapter: %d trainable of %d parameters", trainable, total)
    return peft_model
