"""Tandem's configuration: cdk.json context read into one frozen, validated object.

Every key has a default here, documented in README.md ("Configuration"). Values given on the command
line (`cdk deploy -c temperature=0.5`) arrive as strings, so each field is coerced before it is checked.
A bad value stops synth with a ConfigError that names the key and what it accepts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from lambdas.chatbot.settings import RETRIEVAL_MAX_ATTEMPTS, RETRIEVAL_READ_TIMEOUT_SECONDS, ChatbotSettings
from lambdas.stream_consumer.settings import START_TIMEOUT_RANGE

SENTIMENT_DETECTORS = ("llm", "comprehend", "vader")
PII_LANGUAGES = ("en", "es")
LABELING_STRATEGIES = ("random", "escalated_first")  # what Amazon Comprehend DetectPiiEntities accepts
MFA_MODES = ("off", "optional", "required")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)
# Bedrock model ids, inference-profile ids ("us.anthropic...") and ARNs; no spaces, no empties.
_MODEL_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9.:/_\-]{2,2047}$")
_PROVIDER = re.compile(r"^[a-z][a-z0-9-]{1,31}$")
_KNOWLEDGE_BASE_ID = re.compile(r"^[0-9a-zA-Z]{10}$")
_GUARDRAIL_ID = re.compile(r"^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+))$")
_GUARDRAIL_VERSION = re.compile(r"^(([1-9][0-9]{0,7})|(DRAFT))$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_S3_PREFIX = re.compile(r"^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*/$")
_WORKTEAM_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:workteam/[a-zA-Z0-9-]+/[a-zA-Z0-9-]+$")
_USER_POOL_ID = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]_[0-9a-zA-Z]+$")
_SCHEDULE = re.compile(r"^(rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\))$")
_LANGUAGE_CODE = re.compile(r"^[a-z]{2}(-[A-Z]{2})?$")
# Fine-tuning: a Hugging Face hub id ("google/flan-t5-xl") or an S3 prefix holding the weights. The S3 key
# is used in an IAM resource, so no "*" (it would widen the grant) and no spaces.
_HUB_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}(/[A-Za-z0-9][A-Za-z0-9._-]{0,95})?$")
_S3_MODEL_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([A-Za-z0-9!_.'()/-]*)$")
# An ECR image (the training role may pull from that one repository); {region} is the stack's region.
_ECR_IMAGE = re.compile(r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>\{region\}|[a-z]{2}(-[a-z]+)+-[0-9])"
                        r"\.amazonaws\.com(\.cn)?/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
                        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")
_INSTANCE_TYPE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
_SPLIT_SEED = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
FINETUNE_ALGORITHMS = ("reward-pg", "kto")  # training/cli.py's --algorithm choices
# The training job's hyperparameters (training/cli.py) that finetune_hyperparameters may set, by the type
# each must parse as. algorithm and model_name_or_path have keys of their own.
FINETUNE_HYPERPARAMETERS: dict[str, str] = {
    "learning_rate": "number", "epochs": "integer", "batch_size": "integer", "mini_batch_size": "integer",
    "lora_r": "integer", "lora_alpha": "integer", "lora_dropout": "number", "lora_target_modules": "list",
    "kl_coef": "number", "kto_beta": "number", "load_in_8bit": "boolean", "max_prompt_length": "integer",
    "max_response_length": "integer", "seed": "integer", "merge": "boolean",
}
# Values reach the job as command-line arguments: plain tokens only.
_HYPERPARAMETER_VALUE = re.compile(r"^[A-Za-z0-9._,:/+-]{1,256}$")
# SageMaker's limits: MaxRuntimeInSeconds up to 28 days, VolumeSizeInGB up to 16384.
FINETUNE_MAX_RUNTIME_HOURS = 28 * 24
# Lambda allows 4 KB of environment variables in all; the settings JSON gets this share of it.
SETTINGS_BUDGET_BYTES = 3400
# API Gateway's integration timeout for a REST API; the chatbot must answer inside it.
API_TIMEOUT_SECONDS = 29


class ConfigError(ValueError):
    """A cdk.json context value that Tandem cannot run with."""

    def __init__(self, key: str, value: Any, accepted: str):
        self.key = key
        super().__init__(f"cdk.json context '{key}' = {value!r} is invalid: expected {accepted}")


@dataclass(frozen=True)
class TandemConfig:
    # Answer chain
    model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    model_provider: str = ""
    temperature: float = 0.2
    max_tokens: int = 512
    system_prompt: str = (
        "You are a helpful, precise assistant answering customers' questions. Answer only from what you "
        "know to be true; if you are not sure, say so and offer to connect the customer with a human expert."
    )
    history_turns: int = 10
    knowledge_base_id: str = ""
    knowledge_base_results: int = 4
    guardrail_id: str = ""
    guardrail_version: str = "DRAFT"
    bedrock_max_attempts: int = 3
    bedrock_read_timeout_seconds: int = 6
    # Escalation gate
    sentiment_detector: str = "comprehend"
    gate_model_id: str = ""
    language_code: str = "en"
    negative_threshold: float = 0.75
    consecutive_negative_turns: int = 3
    human_request_phrases: tuple[str, ...] = (
        "agent", "human", "real person", "talk to a person", "speak to a person", "representative", "operator",
    )
    escalate_on_model_error: bool = True
    handoff_message: str = (
        "I'm bringing in a human expert to help you. Please stay here: they will reply in this conversation."
    )
    model_error_message: str = (
        "Sorry, I can't answer right now because of a technical problem. Your message is saved."
    )
    # API and storage
    max_message_chars: int = 4000
    api_throttle_rate_limit: int = 10
    api_throttle_burst_limit: int = 20
    mfa: str = "optional"
    session_ttl_days: int = 90
    transcript_retention_days: int = 365
    log_retention_days: int = 30
    snapstart: bool = True
    alarm_email: str = ""
    # Human escalation
    expert_email: str = ""
    fallback_email: str = ""
    accept_timeout_minutes: int = 15
    resolve_timeout_hours: int = 24
    escalation_start_timeout_seconds: int = 300
    email_turns: int = 6
    busy_message: str = (
        "All our experts are busy right now. A person from our team will contact you by email about this "
        "conversation as soon as one is free."
    )
    handback_message: str = "The expert has finished helping you; the assistant is back. Ask anything else here."
    knowledge_export_prefix: str = "escalations/"
    knowledge_export_redact_pii: bool = True
    # Offline feedback (expert ratings)
    labeling_workteam_arn: str = ""
    workteam_user_pool_id: str = ""
    workteam_user_group: str = ""
    workteam_client_id: str = ""
    labeling_schedule: str = "rate(7 days)"
    labeling_schedule_enabled: bool = False
    labeling_window_days: int = 7
    labeling_budget: int = 100
    labeling_strategy: str = "escalated_first"
    labeling_seed: int = 42
    labeling_redact_pii: bool = True
    labeling_workers_per_object: int = 3
    labeling_task_time_limit_seconds: int = 600
    labeling_task_availability_seconds: int = 864000
    # Fine-tuning from the ratings (FinetuneStack)
    finetune_algorithm: str = "reward-pg"
    finetune_base_model: str = "google/flan-t5-xl"
    finetune_training_image: str = (
        "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-training:"
        "2.9.0-transformers5.3.0-gpu-py312-cu130-ubuntu22.04"
    )
    finetune_instance_type: str = "ml.g5.2xlarge"
    finetune_max_runtime_hours: int = 8
    finetune_volume_gb: int = 100
    finetune_hyperparameters: tuple[tuple[str, str], ...] = ()
    finetune_good_min_rating: float = 4.0
    finetune_bad_max_rating: float = 2.0
    finetune_eval_fraction: float = 0.2
    finetune_split_seed: str = "tandem"
    finetune_min_train_rows: int = 20
    finetune_weight_by_agreement: bool = False
    finetune_import_model: bool = False
    finetune_notify_email: str = ""

    @property
    def effective_gate_model_id(self) -> str:
        return self.gate_model_id or self.model_id

    @property
    def finetune_model_s3_uri(self) -> str:
        """The base model's S3 prefix (a `model` input channel), or "" for a hub id."""
        return self.finetune_base_model if self.finetune_base_model.startswith("s3://") else ""


def _as_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, value, "a string")
    return value.strip()


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(key, value, "an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise ConfigError(key, value, "an integer")


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(key, value, "a number")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(key, value, "a number") from None


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(key, value, "true or false")


def _as_phrases(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # -c human_request_phrases='["agent","human"]'
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(key, value, "a JSON list of non-empty phrases") from None
    if not isinstance(value, (list, tuple)) or not 0 < len(value) <= 30 or not all(
        isinstance(p, str) and 0 < len(p.strip()) <= 50 for p in value
    ):
        raise ConfigError(key, value, "a non-empty list of at most 30 non-empty phrases of at most 50 characters")
    return tuple(p.strip().lower() for p in value)


def _as_hyperparameters(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """A JSON object of extra training hyperparameters -> sorted (name, string value) pairs.

    Names may use hyphens (learning-rate) like the job's command line; they are stored with underscores.
    Numbers and booleans are turned into the strings SageMaker passes on (true/false for booleans).
    """
    if isinstance(value, str):  # -c finetune_hyperparameters='{"epochs": 3}'
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(key, value, "a JSON object of hyperparameters") from None
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "a JSON object of hyperparameters, such as {\"epochs\": \"3\"}")
    pairs = {}
    for raw_name, raw in value.items():
        name = str(raw_name).strip().replace("-", "_")
        if name in ("algorithm", "model_name_or_path"):
            dedicated = "finetune_algorithm" if name == "algorithm" else "finetune_base_model"
            raise ConfigError(key, value, f"no '{name}' (set it with {dedicated})")
        if name not in FINETUNE_HYPERPARAMETERS:
            raise ConfigError(key, value, f"hyperparameter names of the training job; '{raw_name}' is not one of "
                              + ", ".join(FINETUNE_HYPERPARAMETERS))
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, (int, float, str)):
            text = str(raw).strip()
        else:
            raise ConfigError(key, value, f"a string, number or boolean for '{name}'")
        if not _HYPERPARAMETER_VALUE.match(text):
            raise ConfigError(key, value, f"a value for '{name}' of 1 to 256 letters, digits or . _ , : / + -")
        _check_hyperparameter_type(key, value, name, text)
        pairs[name] = text.lower() if FINETUNE_HYPERPARAMETERS[name] == "boolean" else text
    return tuple(sorted(pairs.items()))


def _check_hyperparameter_type(key: str, value: Any, name: str, text: str) -> None:
    kind = FINETUNE_HYPERPARAMETERS[name]
    try:
        if kind == "integer":
            ok = int(text) >= 0
        elif kind == "number":
            ok = math.isfinite(float(text)) and float(text) >= 0
        elif kind == "boolean":
            ok = text.lower() in ("true", "false")
        else:  # a comma list of module names
            ok = all(part.strip() for part in text.split(","))
    except ValueError:
        ok = False
    if not ok:
        expected = {"integer": "a non-negative integer", "number": "a non-negative number",
                    "boolean": "true or false", "list": "a comma list of module names"}[kind]
        raise ConfigError(key, value, f"'{name}' as {expected}")


_COERCE: dict[type | str, Callable[[str, Any], Any]] = {
    "str": _as_str, "int": _as_int, "float": _as_float, "bool": _as_bool, "tuple[str, ...]": _as_phrases,
    "tuple[tuple[str, str], ...]": _as_hyperparameters,
}


def _in_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(key, value, f"a value from {low} to {high}")


def _matches(key: str, value: str, pattern: re.Pattern[str], accepted: str, *, optional: bool = False) -> None:
    if optional and value == "":
        return
    if not pattern.match(value):
        raise ConfigError(key, value, accepted)


def _one_of(key: str, value: Any, accepted: tuple[Any, ...]) -> None:
    if value not in accepted:
        raise ConfigError(key, value, "one of " + ", ".join(str(a) for a in accepted))


def _validate(c: TandemConfig) -> None:
    _matches("model_id", c.model_id, _MODEL_ID, "a Bedrock model id, inference profile id or ARN")
    _matches("gate_model_id", c.gate_model_id, _MODEL_ID, "a Bedrock model id, or empty for model_id",
             optional=True)
    _matches("model_provider", c.model_provider, _PROVIDER, "a provider name such as meta, mistral or amazon, or "
             "empty", optional=True)
    if not c.model_provider and any(m.startswith("arn:") for m in (c.model_id, c.effective_gate_model_id)):
        raise ConfigError("model_provider", c.model_provider,
                          "the provider of the model behind the ARN in model_id or gate_model_id (meta for an "
                          "imported Llama, for example): an ARN does not name it")
    _in_range("temperature", c.temperature, 0.0, 1.0)
    _in_range("max_tokens", c.max_tokens, 1, 8192)
    # All chatbot settings travel in one Lambda environment variable; Lambda caps them at 4 KB together.
    if not 0 < len(c.system_prompt) <= 2000:
        raise ConfigError("system_prompt", c.system_prompt, "a non-empty prompt of at most 2000 characters")
    _in_range("history_turns", c.history_turns, 0, 50)
    _matches("knowledge_base_id", c.knowledge_base_id, _KNOWLEDGE_BASE_ID,
             "a 10-character Bedrock Knowledge Base id, or empty to disable retrieval", optional=True)
    _in_range("knowledge_base_results", c.knowledge_base_results, 1, 20)
    _matches("guardrail_id", c.guardrail_id, _GUARDRAIL_ID, "a Bedrock guardrail id or ARN, or empty",
             optional=True)
    _matches("guardrail_version", c.guardrail_version, _GUARDRAIL_VERSION, "DRAFT or a version number")
    _in_range("bedrock_max_attempts", c.bedrock_max_attempts, 1, 5)
    _in_range("bedrock_read_timeout_seconds", c.bedrock_read_timeout_seconds, 1, 25)
    # Every attempt may use its whole read timeout; all of them must fit in the API's timeout with room
    # for the gate, the writes and the retry back-off.
    # Retrieval (when a knowledge base is set) runs before the answer with its own fixed bound.
    budget = API_TIMEOUT_SECONDS - 4
    retrieval = RETRIEVAL_MAX_ATTEMPTS * RETRIEVAL_READ_TIMEOUT_SECONDS if c.knowledge_base_id else 0
    if c.bedrock_max_attempts * c.bedrock_read_timeout_seconds + retrieval > budget:
        raise ConfigError(
            "bedrock_read_timeout_seconds", c.bedrock_read_timeout_seconds,
            f"bedrock_max_attempts x bedrock_read_timeout_seconds <= {budget - retrieval} s so the API answers "
            f"within its {API_TIMEOUT_SECONDS} s timeout (bedrock_max_attempts is {c.bedrock_max_attempts}"
            + (f"; knowledge-base retrieval takes up to {retrieval} s of it)" if retrieval else ")"),
        )
    _one_of("sentiment_detector", c.sentiment_detector, SENTIMENT_DETECTORS)
    _matches("language_code", c.language_code, _LANGUAGE_CODE, "a language code such as en or pt-BR")
    _in_range("negative_threshold", c.negative_threshold, 0.0, 1.0)
    _in_range("consecutive_negative_turns", c.consecutive_negative_turns, 0, 20)
    for key in ("handoff_message", "model_error_message"):
        if not 0 < len(getattr(c, key)) <= 500:
            raise ConfigError(key, getattr(c, key), "a non-empty message of at most 500 characters")
    _in_range("max_message_chars", c.max_message_chars, 1, 20000)
    _in_range("api_throttle_rate_limit", c.api_throttle_rate_limit, 1, 10000)
    _in_range("api_throttle_burst_limit", c.api_throttle_burst_limit, 1, 5000)
    _one_of("mfa", c.mfa, MFA_MODES)
    _in_range("session_ttl_days", c.session_ttl_days, 1, 3650)
    _in_range("transcript_retention_days", c.transcript_retention_days, 1, 3650)
    _one_of("log_retention_days", c.log_retention_days, LOG_RETENTION_DAYS)
    _matches("alarm_email", c.alarm_email, _EMAIL, "an email address, or empty", optional=True)
    _matches("expert_email", c.expert_email, _EMAIL, "an email address, or empty", optional=True)
    _matches("fallback_email", c.fallback_email, _EMAIL, "an email address, or empty", optional=True)
    _in_range("accept_timeout_minutes", c.accept_timeout_minutes, 1, 1440)
    _in_range("resolve_timeout_hours", c.resolve_timeout_hours, 1, 168)
    _in_range("escalation_start_timeout_seconds", c.escalation_start_timeout_seconds, *START_TIMEOUT_RANGE)
    _in_range("email_turns", c.email_turns, 1, 20)
    for key in ("busy_message", "handback_message"):
        if not 0 < len(getattr(c, key)) <= 500:
            raise ConfigError(key, getattr(c, key), "a non-empty message of at most 500 characters")
    _matches("knowledge_export_prefix", c.knowledge_export_prefix, _S3_PREFIX,
             "an S3 key prefix ending in '/', such as escalations/")
    _matches("labeling_workteam_arn", c.labeling_workteam_arn, _WORKTEAM_ARN,
             "a SageMaker workteam ARN (arn:aws:sagemaker:<region>:<account>:workteam/private-crowd/<name>), or empty",
             optional=True)
    workteam = (c.workteam_user_pool_id, c.workteam_user_group, c.workteam_client_id)
    if any(workteam) and not all(workteam):
        names = ("workteam_user_pool_id", "workteam_user_group", "workteam_client_id")
        missing = [k for k, v in zip(names, workteam, strict=True) if not v]
        raise ConfigError(missing[0], "", "all three of workteam_user_pool_id, workteam_user_group and "
                          "workteam_client_id, or none")
    if all(workteam) and c.labeling_workteam_arn:
        raise ConfigError("labeling_workteam_arn", c.labeling_workteam_arn,
                          "empty when the workteam_* keys create a workteam (one or the other)")
    _matches("workteam_user_pool_id", c.workteam_user_pool_id, _USER_POOL_ID, "a Cognito user pool id such as "
             "us-east-1_AbCdEf123, or empty", optional=True)
    _matches("labeling_schedule", c.labeling_schedule, _SCHEDULE,
             "an EventBridge schedule expression: rate(7 days) or cron(0 3 ? * MON *)")
    _in_range("labeling_window_days", c.labeling_window_days, 1, 90)
    _in_range("labeling_budget", c.labeling_budget, 1, 100_000)  # Ground Truth's objects per job
    _one_of("labeling_strategy", c.labeling_strategy, LABELING_STRATEGIES)
    _in_range("labeling_workers_per_object", c.labeling_workers_per_object, 1, 9)
    _in_range("labeling_task_time_limit_seconds", c.labeling_task_time_limit_seconds, 30, 28_800)
    _in_range("labeling_task_availability_seconds", c.labeling_task_availability_seconds, 60, 30 * 86_400)
    if c.labeling_redact_pii and c.language_code not in PII_LANGUAGES:
        raise ConfigError("language_code", c.language_code,
                          f"one of {', '.join(PII_LANGUAGES)} while labeling_redact_pii is on (the languages "
                          "Comprehend DetectPiiEntities supports), or turn labeling_redact_pii off")
    if c.knowledge_export_redact_pii and c.language_code not in PII_LANGUAGES:
        raise ConfigError("language_code", c.language_code,
                          f"one of {', '.join(PII_LANGUAGES)} while knowledge_export_redact_pii is on (the languages "
                          "Comprehend DetectPiiEntities supports), or turn knowledge_export_redact_pii off")
    _validate_finetune(c)
    chatbot_settings = {k: getattr(c, k) for k in ChatbotSettings.context_keys()}
    size = len(json.dumps(chatbot_settings, separators=(",", ":")).encode())
    if size > SETTINGS_BUDGET_BYTES:
        largest = max(("system_prompt", "handoff_message", "model_error_message", "human_request_phrases"),
                      key=lambda k: len(json.dumps(getattr(c, k))))
        raise ConfigError(largest, getattr(c, largest),
                          f"shorter text: the settings take {size} bytes of the chatbot's {SETTINGS_BUDGET_BYTES}-byte "
                          "share of Lambda's 4 KB environment")


def _validate_finetune(c: TandemConfig) -> None:
    _one_of("finetune_algorithm", c.finetune_algorithm, FINETUNE_ALGORITHMS)
    if not (_HUB_MODEL_ID.match(c.finetune_base_model) or _S3_MODEL_URI.match(c.finetune_base_model)):
        raise ConfigError("finetune_base_model", c.finetune_base_model,
                          "a Hugging Face model id (google/flan-t5-xl) or an S3 prefix holding the model "
                          "(s3://bucket/models/base/), without '*'")
    # TRL's KTO trainer takes causal language models only; a T5 (encoder-decoder) model fails in it.
    if c.finetune_algorithm == "kto" and not c.finetune_model_s3_uri and "t5" in c.finetune_base_model.lower():
        raise ConfigError("finetune_base_model", c.finetune_base_model,
                          "a causal language model (Llama-like) for finetune_algorithm kto: KTO cannot train T5 "
                          "models; use reward-pg for them")
    _matches("finetune_training_image", c.finetune_training_image, _ECR_IMAGE,
             "an ECR image URI (<account>.dkr.ecr.<region or {region}>.amazonaws.com/<repository>:<tag>)")
    _matches("finetune_instance_type", c.finetune_instance_type, _INSTANCE_TYPE,
             "a SageMaker training instance type such as ml.g5.2xlarge")
    _in_range("finetune_max_runtime_hours", c.finetune_max_runtime_hours, 1, FINETUNE_MAX_RUNTIME_HOURS)
    _in_range("finetune_volume_gb", c.finetune_volume_gb, 1, 16384)
    _in_range("finetune_good_min_rating", c.finetune_good_min_rating, 1.0, 5.0)
    _in_range("finetune_bad_max_rating", c.finetune_bad_max_rating, 1.0, 5.0)
    if not c.finetune_bad_max_rating < c.finetune_good_min_rating:
        raise ConfigError("finetune_bad_max_rating", c.finetune_bad_max_rating,
                          f"a rating below finetune_good_min_rating ({c.finetune_good_min_rating}): answers rated "
                          "in between are left out of KTO, none can be both good and bad")
    if not 0.0 <= c.finetune_eval_fraction < 1.0:
        raise ConfigError("finetune_eval_fraction", c.finetune_eval_fraction,
                          "a share of sessions held out for evaluation, from 0 up to (not including) 1")
    _matches("finetune_split_seed", c.finetune_split_seed, _SPLIT_SEED, "1 to 64 letters, digits or . _ -")
    _in_range("finetune_min_train_rows", c.finetune_min_train_rows, 1, 1_000_000)
    _matches("finetune_notify_email", c.finetune_notify_email, _EMAIL, "an email address, or empty", optional=True)
    # Bedrock Custom Model Import reads the merged model the job writes only when merge is on.
    if c.finetune_import_model and dict(c.finetune_hyperparameters).get("merge", "true").lower() == "false":
        raise ConfigError("finetune_hyperparameters", dict(c.finetune_hyperparameters),
                          "merge left on while finetune_import_model is true (Bedrock imports the merged model)")


def load_config(context: Mapping[str, Any]) -> TandemConfig:
    """Build the config from CDK context values; keys Tandem does not know are left to CDK."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(TandemConfig):
        if f.name in context and context[f.name] is not None:
            values[f.name] = _COERCE[str(f.type)](f.name, context[f.name])
    config = TandemConfig(**values)
    _validate(config)
    return config


def ecr_image_parts(image: str) -> tuple[str, str, str]:
    """(registry account, region or "{region}", repository) of a validated finetune_training_image."""
    match = _ECR_IMAGE.match(image)
    if match is None:
        raise ConfigError("finetune_training_image", image, "an ECR image URI")
    return match.group("account"), match.group("region"), match.group("repository")


def config_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(TandemConfig)]


def defaults_as_context() -> dict[str, Any]:
    """The defaults in cdk.json's JSON shape (tuples as lists, hyperparameters as an object); a test keeps
    cdk.json equal to it."""
    values = dataclasses.asdict(TandemConfig())
    values["finetune_hyperparameters"] = dict(values["finetune_hyperparameters"])
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


__all__ = ["ConfigError", "TandemConfig", "load_config", "config_keys", "defaults_as_context", "ecr_image_parts"]
