"""Tandem's configuration: cdk.json context read into one frozen, validated object.

Every key has a default here, documented in README.md ("Configuration"). Values given on the command
line (`cdk deploy -c temperature=0.5`) arrive as strings, so each field is coerced before it is checked.
A bad value stops synth with a ConfigError that names the key and what it accepts. The parsers are the
functions' own (lambdas/common/env_settings.py), and a value a stack hands a function as it is passes the
very check that function makes of its variable, so synth refuses what the function would refuse.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from lambdas.chatbot.human_request import LANGUAGES as HUMAN_REQUEST_LANGUAGES
from lambdas.chatbot.settings import RETRIEVAL_MAX_ATTEMPTS, RETRIEVAL_READ_TIMEOUT_SECONDS, ChatbotSettings
from lambdas.common.env_settings import (
    BUCKET_NAME,
    FLAG,
    MODEL_ID,
    S3_FOLDERS,
    SESSION_TTL_DAYS,
    WORKTEAM_ARN,
    Parser,
    Rejected,
    comma_list,
    integer,
    matching,
    number,
    one_of,
    variable_of,
)
from lambdas.common.feedback import MAX_RATING, MIN_RATING
from lambdas.common.redaction import LANGUAGE_CODES
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.feedback_sampler.settings import JobSettings, SamplerSettings
from lambdas.finetune_dataset.settings import DatasetSettings
from lambdas.finetune_gate.decision import Thresholds
from lambdas.finetune_gate.settings import DEFAULT_JUDGE_MODEL_ID, DEFAULT_MAX_QUESTIONS, GateSettings
from lambdas.stream_consumer.settings import ConsumerSettings
from stacks.bedrock_customization import DEFAULT_MODEL_ID as BEDROCK_DEFAULT_MODEL_ID
from stacks.bedrock_customization import refusal as bedrock_refusal

SENTIMENT_DETECTORS = ("llm", "comprehend", "vader")
MFA_MODES = ("off", "optional", "required")
# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
                      2557, 2922, 3288, 3653)

# The shapes of names, each with what to say when a value has another (Bedrock model ids: MODEL_ID, the
# functions' own parser).
_PROVIDER = matching(r"[a-z][a-z0-9-]{1,31}", "a provider name such as meta, mistral or amazon")
_KNOWLEDGE_BASE_ID = matching(r"[0-9a-zA-Z]{10}", "a 10-character Bedrock Knowledge Base id")
_GUARDRAIL_ID = matching(r"([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+)",
                         "a Bedrock guardrail id or ARN")
_GUARDRAIL_VERSION = matching(r"([1-9][0-9]{0,7})|(DRAFT)", "DRAFT or a version number")
_EMAIL = matching(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                  r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+", "an email address")
_LANGUAGE_CODE = matching(r"[a-z]{2}(-[A-Z]{2})?", "a language code such as en or pt-BR")
_USER_POOL_ID = matching(r"[a-z]{2}-[a-z]+-[0-9]_[0-9a-zA-Z]+", "a Cognito user pool id such as us-east-1_AbCdEf123")
_SCHEDULE = matching(r"rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\)|cron\([^)]+\)",
                     "an EventBridge schedule expression: rate(7 days) or cron(0 3 ? * MON *)")
# Fine-tuning: a Hugging Face hub id ("google/flan-t5-xl") or an S3 prefix holding the weights. The S3 key
# is used in an IAM resource, so no "*" (it would widen the grant) and no spaces.
_BASE_MODEL = matching(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,95}}(/[A-Za-z0-9][A-Za-z0-9._-]{{0,95}})?"
                       rf"|s3://{BUCKET_NAME}/[A-Za-z0-9!_.'()/-]*",
                       "a Hugging Face model id (google/flan-t5-xl) or an S3 prefix holding the model "
                       "(s3://bucket/models/base/), without '*'")
# An ECR image (the training role may pull from that one repository); {region} is the stack's region.
_ECR_IMAGE = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>\{region\}|[a-z]{2}(-[a-z]+)+-[0-9])"
                        r"\.amazonaws\.com(\.cn)?/(?P<repository>[a-z0-9]+([._/-][a-z0-9]+)*)"
                        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})")
_TRAINING_IMAGE = matching(_ECR_IMAGE.pattern, "an ECR image URI (<account>.dkr.ecr.<region or {region}>"
                                               ".amazonaws.com/<repository>:<tag>)")
_INSTANCE_TYPE = matching(r"ml\.[a-z0-9]+\.[a-z0-9]+", "a SageMaker training instance type such as ml.g5.2xlarge")
# The web app (stacks/web_stack.py): a domain of your own needs its ACM certificate in us-east-1 (CloudFront's).
_DOMAIN_NAME = matching(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
                        "a lower-case domain name such as chat.example.com")
_CLOUDFRONT_CERTIFICATE = matching(r"arn:aws:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}",
                                   "an ACM certificate ARN in us-east-1 (CloudFront reads certificates only there)")
# Cognito's rule for a domain prefix; it must be unused by every account in the Region.
_SIGN_IN_DOMAIN_PREFIX = matching(r"(?!.*(aws|amazon|cognito))[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
                                  "1 to 63 lower-case letters, digits or hyphens, not starting or ending with a "
                                  "hyphen, without aws, amazon or cognito")
_SPLIT_SEED = matching(r"[A-Za-z0-9._-]{1,64}", "1 to 64 letters, digits or . _ -")
FINETUNE_PATHS = ("sagemaker", "bedrock")
FINETUNE_ALGORITHMS = ("reward-pg", "kto")  # training/cli.py's --algorithm choices
# The training job's hyperparameters (training/cli.py) that finetune_hyperparameters may set, by how each
# must parse. algorithm and model_name_or_path have keys of their own.
_COUNT = dataclasses.replace(integer(0), accepted="a non-negative integer")
_AMOUNT = dataclasses.replace(number(0.0), accepted="a non-negative number")
FINETUNE_HYPERPARAMETERS: dict[str, Parser[Any]] = {
    "learning_rate": _AMOUNT, "epochs": _COUNT, "batch_size": _COUNT, "mini_batch_size": _COUNT,
    "lora_r": _COUNT, "lora_alpha": _COUNT, "lora_dropout": _AMOUNT,
    "lora_target_modules": comma_list("a comma list of module names"), "kl_coef": _AMOUNT, "npo_beta": _AMOUNT,
    "kto_beta": _AMOUNT, "load_in_8bit": FLAG, "max_prompt_length": _COUNT, "max_response_length": _COUNT,
    "seed": _COUNT, "merge": FLAG, "eval_prompts": _COUNT, "eval_samples": _COUNT, "eval_max_new_tokens": _COUNT,
    "gate_questions": _COUNT,
    "kl_budget": _AMOUNT, "logprob_tolerance": _AMOUNT,
}
# Bedrock customization hyperparameters: names as Bedrock spells them (epochCount), values as strings.
BedrockHyperparameters = tuple[tuple[str, str], ...]
_BEDROCK_HYPERPARAMETER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
# Values reach the job as command-line arguments: plain tokens only.
_HYPERPARAMETER_VALUE = re.compile(r"^[A-Za-z0-9._,:/+-]{1,256}$")
# SageMaker's limits: MaxRuntimeInSeconds up to 28 days, VolumeSizeInGB up to 16384.
FINETUNE_MAX_RUNTIME_HOURS = 28 * 24
# Lambda allows 4 KB of environment variables in all; the settings JSON gets this share of it.
SETTINGS_BUDGET_BYTES = 3400
# The evaluation gate's defaults are the decision's own (lambdas/finetune_gate/decision.py says why).
_GATE_THRESHOLDS = Thresholds()
# API Gateway's integration timeout for a REST API; the chatbot must answer inside it.
API_TIMEOUT_SECONDS = 29


# Keys an older cdk.json may still set, and what replaced them.
RETIRED_KEYS = {
    "negative_threshold": "vader_negative_threshold, comprehend_negative_threshold and llm_negative_threshold "
                          "(each detector's scores differ)",
    "human_request_phrases": "human_request_languages and human_request_patterns (requests are recognised as "
                             "requests, not words)",
}


class ConfigError(ValueError):
    """A cdk.json context value that Tandem cannot run with."""

    def __init__(self, key: str, value: Any, accepted: str):
        self.key = key
        super().__init__(f"cdk.json context '{key}' = {value!r} is invalid: expected {accepted}")


@dataclass(frozen=True)
class TandemConfig:
    # Answer chain
    model_id: str = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
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
    # Each detector's scores mean something different: one threshold each, calibrated on the evaluation set
    # (tools/evaluate_gate.py; bench/RESULTS.md has the measurements).
    vader_negative_threshold: float = 0.45
    comprehend_negative_threshold: float = 0.55
    llm_negative_threshold: float = 0.75
    consecutive_negative_turns: int = 3
    human_request_languages: tuple[str, ...] = HUMAN_REQUEST_LANGUAGES
    human_request_patterns: tuple[str, ...] = ()
    escalate_on_model_error: bool = True
    escalate_on_frustration_cues: bool = True
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
    # The deployed web app (stacks/web_stack.py) and its sign-in (Cognito managed login)
    web_domain_name: str = ""
    web_certificate_arn: str = ""
    sign_in_domain_prefix: str = ""
    session_ttl_days: int = 90
    transcript_retention_days: int = 365
    log_retention_days: int = 30
    snapstart: bool = True
    alarm_email: str = ""
    # Human escalation
    expert_email: str = ""
    fallback_email: str = ""
    accept_timeout_minutes: int = 15
    expert_reminder_minutes: int = 5
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
    # Fine-tuning from the ratings (FinetuneStack): "sagemaker" trains training/ as a SageMaker job (and may
    # import the result); "bedrock" has Bedrock fine-tune one of its own models (stacks/bedrock_customization.py).
    finetune_path: str = "sagemaker"
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
    finetune_min_eval_rows: int = 10  # of each: well-rated and badly rated held-out answers
    finetune_weight_by_agreement: bool = False
    finetune_thumbs_weight: float = 0.5  # a customer's thumb as a KTO row, against an expert rating's 1
    finetune_import_model: bool = False
    # The Bedrock path: the base model Bedrock fine-tunes, and its hyperparameters as Bedrock names them
    # (epochCount, learningRate, ...); none set means Bedrock's defaults for the model.
    finetune_bedrock_base_model: str = BEDROCK_DEFAULT_MODEL_ID
    finetune_bedrock_hyperparameters: BedrockHyperparameters = ()
    finetune_notify_email: str = ""
    # The evaluation gate (lambdas/finetune_gate): the judge and the thresholds a tuned model must clear.
    finetune_judge_model_id: str = DEFAULT_JUDGE_MODEL_ID
    finetune_gate_min_lower_bound: float = _GATE_THRESHOLDS.min_lower_bound
    finetune_gate_min_questions: int = _GATE_THRESHOLDS.min_questions
    finetune_gate_max_judge_failures: float = _GATE_THRESHOLDS.max_failure_share

    @property
    def effective_gate_model_id(self) -> str:
        return self.gate_model_id or self.model_id

    @property
    def finetune_model_s3_uri(self) -> str:
        """The base model's S3 prefix (a `model` input channel), or "" for a hub id."""
        return self.finetune_base_model if self.finetune_base_model.startswith("s3://") else ""


def _accepts(key: str, value: Any, parser: Parser[Any], *, or_empty: str | None = None) -> Any:
    """`value` (a string, or a number to read as one) as `parser` reads it, else ConfigError; `or_empty`
    allows "" and says what it means ("empty to disable retrieval")."""
    if or_empty is not None and value == "":
        return value
    try:
        return parser.parse(value if isinstance(value, str) else str(value))
    except Rejected as rejected:
        raise ConfigError(key, value, rejected.accepted + (f", or {or_empty}" if or_empty else "")) from None


def _as_the_function_reads(key: str, value: Any, settings: type, field: str) -> None:
    """A value the stack gives a function as it is: it must pass the check the function makes of it."""
    _accepts(key, value, variable_of(settings, field).parser)


def _from_json(key: str, value: Any, accepted: str) -> Any:
    """A list or object given on the command line (-c key='[...]') as JSON text; any other value as it is."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ConfigError(key, value, accepted) from None


def _as_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, value, "a string")
    return value.strip()


def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConfigError(key, value, "an integer")
    return value if isinstance(value, int) else _accepts(key, value, integer())


def _as_float(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, value, "a number")
    return float(value) if not isinstance(value, str) else _accepts(key, value, number())


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise ConfigError(key, value, FLAG.accepted)
    return _accepts(key, value, FLAG)


def _as_strings(key: str, value: Any) -> tuple[str, ...]:
    value = _from_json(key, value, "a JSON list of strings")
    if not isinstance(value, (list, tuple)) or not len(value) <= 30 or not all(
        isinstance(p, str) and 0 < len(p.strip()) <= 200 for p in value
    ):
        raise ConfigError(key, value, "a list of at most 30 non-empty strings of at most 200 characters")
    return tuple(p.strip() for p in value)


def _as_hyperparameters(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    """A JSON object of extra training hyperparameters -> sorted (name, string value) pairs.

    Names may use hyphens (learning-rate) like the job's command line; they are stored with underscores.
    Numbers and booleans are turned into the strings SageMaker passes on (true/false for booleans).
    """
    value = _from_json(key, value, "a JSON object of hyperparameters")
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
            text = FLAG.write(raw)
        elif isinstance(raw, (int, float, str)):
            text = str(raw).strip()
        else:
            raise ConfigError(key, value, f"a string, number or boolean for '{name}'")
        if not _HYPERPARAMETER_VALUE.match(text):
            raise ConfigError(key, value, f"a value for '{name}' of 1 to 256 letters, digits or . _ , : / + -")
        parser = FINETUNE_HYPERPARAMETERS[name]
        try:
            parsed = parser.parse(text)
        except Rejected as rejected:
            raise ConfigError(key, value, f"'{name}' as {rejected.accepted}") from None
        pairs[name] = FLAG.write(parsed) if parser is FLAG else text
    return tuple(sorted(pairs.items()))


def _as_bedrock_hyperparameters(key: str, value: Any) -> BedrockHyperparameters:
    """A JSON object of Bedrock customization hyperparameters -> sorted (name, string value) pairs. Which names
    a model takes and their ranges are Bedrock's (its page per model); Bedrock refuses a wrong one when the job
    starts, and the run's failure notice carries its message."""
    value = _from_json(key, value, "a JSON object of hyperparameters")
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "a JSON object of Bedrock hyperparameters, such as {\"epochCount\": \"2\"}")
    pairs = {}
    for name, raw in value.items():
        if not isinstance(name, str) or not _BEDROCK_HYPERPARAMETER_NAME.match(name):
            raise ConfigError(key, value, f"hyperparameter names as Bedrock spells them (epochCount); not {name!r}")
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ConfigError(key, value, f"a string or number for '{name}'")
        text = str(raw).strip()
        if not _HYPERPARAMETER_VALUE.match(text):
            raise ConfigError(key, value, f"a value for '{name}' of 1 to 256 letters, digits or . _ , : / + -")
        pairs[name] = text
    return tuple(sorted(pairs.items()))


_COERCE: dict[type | str, Callable[[str, Any], Any]] = {
    "str": _as_str, "int": _as_int, "float": _as_float, "bool": _as_bool, "tuple[str, ...]": _as_strings,
    "tuple[tuple[str, str], ...]": _as_hyperparameters, "BedrockHyperparameters": _as_bedrock_hyperparameters,
}
_MESSAGE = matching(r"(?s).{1,500}", "a non-empty message of at most 500 characters")


def _request_pattern(text: str) -> str:
    try:
        compiled = re.compile(text, re.IGNORECASE)
    except re.error:
        raise ValueError(text) from None
    if compiled.search(""):
        raise ValueError(text)  # it would match every message
    return text


_REQUEST_PATTERN = Parser("a Python regular expression that does not match an empty message", _request_pattern)


def _validate(c: TandemConfig) -> None:
    _accepts("model_id", c.model_id, MODEL_ID)
    _accepts("gate_model_id", c.gate_model_id, MODEL_ID, or_empty="empty for model_id")
    _accepts("model_provider", c.model_provider, _PROVIDER, or_empty="empty")
    if not c.model_provider and any(m.startswith("arn:") for m in (c.model_id, c.effective_gate_model_id)):
        raise ConfigError("model_provider", c.model_provider,
                          "the provider of the model behind the ARN in model_id or gate_model_id (meta for an "
                          "imported Llama, for example): an ARN does not name it")
    _accepts("temperature", c.temperature, number(0.0, 1.0))
    _accepts("max_tokens", c.max_tokens, integer(1, 8192))
    # All chatbot settings travel in one Lambda environment variable; Lambda caps them at 4 KB together.
    if not 0 < len(c.system_prompt) <= 2000:
        raise ConfigError("system_prompt", c.system_prompt, "a non-empty prompt of at most 2000 characters")
    _accepts("history_turns", c.history_turns, integer(0, 50))
    _accepts("knowledge_base_id", c.knowledge_base_id, _KNOWLEDGE_BASE_ID, or_empty="empty to disable retrieval")
    _accepts("knowledge_base_results", c.knowledge_base_results, integer(1, 20))
    _accepts("guardrail_id", c.guardrail_id, _GUARDRAIL_ID, or_empty="empty")
    _accepts("guardrail_version", c.guardrail_version, _GUARDRAIL_VERSION)
    _accepts("bedrock_max_attempts", c.bedrock_max_attempts, integer(1, 5))
    _accepts("bedrock_read_timeout_seconds", c.bedrock_read_timeout_seconds, integer(1, 25))
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
    _accepts("sentiment_detector", c.sentiment_detector, one_of(*SENTIMENT_DETECTORS))
    _accepts("language_code", c.language_code, _LANGUAGE_CODE)
    for detector in SENTIMENT_DETECTORS:
        _accepts(f"{detector}_negative_threshold", getattr(c, f"{detector}_negative_threshold"), number(0.0, 1.0))
    unknown = [code for code in c.human_request_languages if code not in HUMAN_REQUEST_LANGUAGES]
    if unknown:
        raise ConfigError("human_request_languages", list(c.human_request_languages),
                          f"language codes among {', '.join(HUMAN_REQUEST_LANGUAGES)} (not {', '.join(unknown)})")
    for pattern in c.human_request_patterns:
        _accepts("human_request_patterns", pattern, _REQUEST_PATTERN)
    _accepts("consecutive_negative_turns", c.consecutive_negative_turns, integer(0, 20))
    for key in ("handoff_message", "model_error_message", "busy_message", "handback_message"):
        _accepts(key, getattr(c, key), _MESSAGE)
    _as_the_function_reads("max_message_chars", c.max_message_chars, ExpertApiSettings, "max_reply_chars")
    _accepts("api_throttle_rate_limit", c.api_throttle_rate_limit, integer(1, 10000))
    _accepts("api_throttle_burst_limit", c.api_throttle_burst_limit, integer(1, 5000))
    _accepts("mfa", c.mfa, one_of(*MFA_MODES))
    _validate_web(c)
    _accepts("session_ttl_days", c.session_ttl_days, SESSION_TTL_DAYS.parser)
    _accepts("transcript_retention_days", c.transcript_retention_days, integer(1, 3650))
    _accepts("log_retention_days", c.log_retention_days, one_of(*map(str, LOG_RETENTION_DAYS)))
    for key in ("alarm_email", "expert_email", "fallback_email"):
        _accepts(key, getattr(c, key), _EMAIL, or_empty="empty")
    _validate_escalation(c)
    _validate_labeling(c)
    for masking in ("labeling_redact_pii", "knowledge_export_redact_pii"):
        if getattr(c, masking) and c.language_code not in LANGUAGE_CODES:
            raise ConfigError("language_code", c.language_code,
                              f"one of {', '.join(LANGUAGE_CODES)} while {masking} is on (the languages Comprehend "
                              f"DetectPiiEntities supports), or turn {masking} off")
    _validate_finetune(c)
    size = len(ChatbotSettings.context_json(c).encode())
    if size > SETTINGS_BUDGET_BYTES:
        largest = max(("system_prompt", "handoff_message", "model_error_message", "human_request_patterns"),
                      key=lambda k: len(json.dumps(getattr(c, k))))
        raise ConfigError(largest, getattr(c, largest),
                          f"shorter text: the settings take {size} bytes of the chatbot's {SETTINGS_BUDGET_BYTES}-byte "
                          "share of Lambda's 4 KB environment")


def _validate_web(c: TandemConfig) -> None:
    _accepts("web_domain_name", c.web_domain_name, _DOMAIN_NAME, or_empty="empty for CloudFront's own domain")
    _accepts("web_certificate_arn", c.web_certificate_arn, _CLOUDFRONT_CERTIFICATE,
             or_empty="empty for CloudFront's own domain")
    if bool(c.web_domain_name) != bool(c.web_certificate_arn):
        missing = "web_certificate_arn" if c.web_domain_name else "web_domain_name"
        raise ConfigError(missing, "", "both web_domain_name and web_certificate_arn (the certificate must cover "
                          "the domain), or neither")
    _accepts("sign_in_domain_prefix", c.sign_in_domain_prefix, _SIGN_IN_DOMAIN_PREFIX,
             or_empty="empty for tandem-<account id>")


def _validate_escalation(c: TandemConfig) -> None:
    _accepts("accept_timeout_minutes", c.accept_timeout_minutes, integer(1, 1440))
    _accepts("expert_reminder_minutes", c.expert_reminder_minutes, integer(0, 1439))
    if c.expert_reminder_minutes and not c.expert_reminder_minutes < c.accept_timeout_minutes:
        raise ConfigError("expert_reminder_minutes", c.expert_reminder_minutes,
                          f"fewer minutes than accept_timeout_minutes ({c.accept_timeout_minutes}): the experts are "
                          "reminded while they still have time to accept; or 0 for no reminders")
    _accepts("resolve_timeout_hours", c.resolve_timeout_hours, integer(1, 168))
    _as_the_function_reads("escalation_start_timeout_seconds", c.escalation_start_timeout_seconds, ConsumerSettings,
                           "start_timeout_seconds")
    _as_the_function_reads("email_turns", c.email_turns, WorkerSettings, "email_turns")
    _accepts("knowledge_export_prefix", c.knowledge_export_prefix, S3_FOLDERS)


def _validate_labeling(c: TandemConfig) -> None:
    _accepts("labeling_workteam_arn", c.labeling_workteam_arn, WORKTEAM_ARN, or_empty="empty")
    workteam = (c.workteam_user_pool_id, c.workteam_user_group, c.workteam_client_id)
    if any(workteam) and not all(workteam):
        names = ("workteam_user_pool_id", "workteam_user_group", "workteam_client_id")
        missing = [k for k, v in zip(names, workteam, strict=True) if not v]
        raise ConfigError(missing[0], "", "all three of workteam_user_pool_id, workteam_user_group and "
                          "workteam_client_id, or none")
    if all(workteam) and c.labeling_workteam_arn:
        raise ConfigError("labeling_workteam_arn", c.labeling_workteam_arn,
                          "empty when the workteam_* keys create a workteam (one or the other)")
    _accepts("workteam_user_pool_id", c.workteam_user_pool_id, _USER_POOL_ID, or_empty="empty")
    _accepts("labeling_schedule", c.labeling_schedule, _SCHEDULE)
    # The sampler's own settings, which the stack sets from these keys.
    for key, settings, field in (
        ("labeling_window_days", SamplerSettings, "window_days"), ("labeling_budget", SamplerSettings, "budget"),
        ("labeling_strategy", SamplerSettings, "strategy"), ("labeling_seed", SamplerSettings, "seed"),
        ("labeling_workers_per_object", JobSettings, "workers_per_object"),
        ("labeling_task_time_limit_seconds", JobSettings, "task_time_limit_seconds"),
        ("labeling_task_availability_seconds", JobSettings, "task_availability_seconds"),
    ):
        _as_the_function_reads(key, getattr(c, key), settings, field)


def _validate_finetune(c: TandemConfig) -> None:
    _accepts("finetune_path", c.finetune_path, one_of(*FINETUNE_PATHS))
    if c.finetune_path == "bedrock":
        why = bedrock_refusal(c.finetune_bedrock_base_model)
        if why:
            raise ConfigError("finetune_bedrock_base_model", c.finetune_bedrock_base_model, why)
        if c.finetune_import_model:
            raise ConfigError("finetune_import_model", c.finetune_import_model,
                              "false with finetune_path bedrock: Bedrock keeps the model it tuned and the pipeline "
                              "deploys it for on-demand inference, so there is nothing to import")
    _accepts("finetune_algorithm", c.finetune_algorithm, one_of(*FINETUNE_ALGORITHMS))
    _accepts("finetune_base_model", c.finetune_base_model, _BASE_MODEL)
    # TRL's KTO trainer takes causal language models only; a T5 (encoder-decoder) model fails in it.
    if c.finetune_algorithm == "kto" and not c.finetune_model_s3_uri and "t5" in c.finetune_base_model.lower():
        raise ConfigError("finetune_base_model", c.finetune_base_model,
                          "a causal language model (Llama-like) for finetune_algorithm kto: KTO cannot train T5 "
                          "models; use reward-pg for them")
    _accepts("finetune_training_image", c.finetune_training_image, _TRAINING_IMAGE)
    _accepts("finetune_instance_type", c.finetune_instance_type, _INSTANCE_TYPE)
    _accepts("finetune_max_runtime_hours", c.finetune_max_runtime_hours, integer(1, FINETUNE_MAX_RUNTIME_HOURS))
    _accepts("finetune_volume_gb", c.finetune_volume_gb, integer(1, 16384))
    for key in ("finetune_good_min_rating", "finetune_bad_max_rating"):  # a rating, as the raters give it
        _accepts(key, getattr(c, key), number(float(MIN_RATING), float(MAX_RATING)))
    if not c.finetune_bad_max_rating < c.finetune_good_min_rating:
        raise ConfigError("finetune_bad_max_rating", c.finetune_bad_max_rating,
                          f"a rating below finetune_good_min_rating ({c.finetune_good_min_rating}): answers rated "
                          "in between are left out of KTO, none can be both good and bad")
    if not 0.0 <= c.finetune_eval_fraction < 1.0:
        raise ConfigError("finetune_eval_fraction", c.finetune_eval_fraction,
                          "a share of sessions held out for evaluation, from 0 up to (not including) 1")
    _accepts("finetune_split_seed", c.finetune_split_seed, _SPLIT_SEED)
    if not 0 < c.finetune_thumbs_weight <= 1:
        raise ConfigError("finetune_thumbs_weight", c.finetune_thumbs_weight,
                          "a number above 0 and at most 1 (the weight of an expert rating's KTO row)")
    _as_the_function_reads("finetune_min_train_rows", c.finetune_min_train_rows, DatasetSettings, "min_train_rows")
    _as_the_function_reads("finetune_min_eval_rows", c.finetune_min_eval_rows, DatasetSettings, "min_eval_rows")
    _accepts("finetune_notify_email", c.finetune_notify_email, _EMAIL, or_empty="empty")
    for key, field in (("finetune_judge_model_id", "judge_model_id"),
                       ("finetune_gate_min_lower_bound", "min_lower_bound"),
                       ("finetune_gate_min_questions", "min_questions"),
                       ("finetune_gate_max_judge_failures", "max_failure_share")):
        _as_the_function_reads(key, getattr(c, key), GateSettings, field)
    if c.finetune_gate_min_questions > DEFAULT_MAX_QUESTIONS:
        raise ConfigError("finetune_gate_min_questions", c.finetune_gate_min_questions,
                          f"at most {DEFAULT_MAX_QUESTIONS}: the gate judges at most that many questions")
    # Bedrock Custom Model Import reads the merged model the job writes only when merge is on.
    if c.finetune_import_model and dict(c.finetune_hyperparameters).get("merge", "true").lower() == "false":
        raise ConfigError("finetune_hyperparameters", dict(c.finetune_hyperparameters),
                          "merge left on while finetune_import_model is true (Bedrock imports the merged model)")


def load_config(context: Mapping[str, Any]) -> TandemConfig:
    """Build the config from CDK context values; keys Tandem does not know are left to CDK."""
    for key, successor in RETIRED_KEYS.items():
        if context.get(key) is not None:
            raise ConfigError(key, context[key], f"no value: '{key}' was replaced by {successor}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(TandemConfig):
        if f.name in context and context[f.name] is not None:
            values[f.name] = _COERCE[str(f.type)](f.name, context[f.name])
    config = TandemConfig(**values)
    _validate(config)
    return config


def ecr_image_parts(image: str) -> tuple[str, str, str]:
    """(registry account, region or "{region}", repository) of a validated finetune_training_image."""
    match = _ECR_IMAGE.fullmatch(image)
    if match is None:
        raise ConfigError("finetune_training_image", image, "an ECR image URI")
    return match.group("account"), match.group("region"), match.group("repository")


def config_keys() -> list[str]:
    return [f.name for f in dataclasses.fields(TandemConfig)]


def defaults_as_context() -> dict[str, Any]:
    """The defaults in cdk.json's JSON shape (tuples as lists, hyperparameters as an object); a test keeps
    cdk.json equal to it."""
    values = dataclasses.asdict(TandemConfig())
    for key in ("finetune_hyperparameters", "finetune_bedrock_hyperparameters"):
        values[key] = dict(values[key])
    return {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}


__all__ = ["RETIRED_KEYS", "ConfigError", "TandemConfig", "load_config", "config_keys", "defaults_as_context", "ecr_image_parts"]
