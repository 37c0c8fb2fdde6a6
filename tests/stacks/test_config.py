"""stacks/config.py: cdk.json context -> one validated config; every bad value names its key."""

from __future__ import annotations

import pytest

from lambdas.common.env_settings import variable_of
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.feedback_sampler.settings import SamplerSettings
from lambdas.finetune_dataset.settings import DatasetSettings
from lambdas.finetune_gate.settings import GateSettings
from lambdas.stream_consumer.settings import ConsumerSettings
from local.cdk_app import CDK_CONTEXT, ROOT
from stacks.config import ConfigError, TandemConfig, config_keys, defaults_as_context, ecr_image_parts, load_config


def test_cdk_json_context_holds_every_default():
    assert {k: CDK_CONTEXT[k] for k in config_keys()} == defaults_as_context()


def test_defaults_load():
    assert load_config(CDK_CONTEXT) == TandemConfig()


def test_unknown_context_keys_are_left_to_cdk():
    assert load_config({"@aws-cdk/core:newStyleStackSynthesis": True}) == TandemConfig()


def test_command_line_strings_are_coerced():
    config = load_config({"temperature": "0.5", "max_tokens": "256", "snapstart": "false",
                          "human_request_languages": '["en", "de"]',
                          "human_request_patterns": '["\\\\bPaging\\\\s+Dr\\\\b"]'})
    assert config.temperature == 0.5
    assert config.max_tokens == 256
    assert config.snapstart is False
    assert config.human_request_languages == ("en", "de")
    assert config.human_request_patterns == (r"\bPaging\s+Dr\b",)  # kept as written: a pattern's case matters


@pytest.mark.parametrize(("key", "successor"), [("negative_threshold", "vader_negative_threshold"),
                                                 ("human_request_phrases", "human_request_patterns")])
def test_a_retired_key_is_refused_naming_what_replaced_it(key, successor):
    with pytest.raises(ConfigError) as error:
        load_config({key: ["agent"] if key == "human_request_phrases" else 0.5})
    assert error.value.key == key and successor in str(error.value)


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        TandemConfig().model_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("key, value, accepted", [
    ("alarm_email", "ops@@example", "an email address"),
    ("alarm_email", "ops example.com", "an email address"),
    ("vader_negative_threshold", 1.5, "from 0.0 to 1.0"),
    ("comprehend_negative_threshold", -0.1, "from 0.0 to 1.0"),
    ("llm_negative_threshold", 2, "from 0.0 to 1.0"),
    ("temperature", "hot", "a number"),
    ("model_id", "", "a Bedrock model id"),
    ("model_id", "has spaces in it", "a Bedrock model id"),
    ("sentiment_detector", "textblob", "one of llm, comprehend, vader"),
    ("max_tokens", 0, "from 1 to 8192"),
    ("max_tokens", True, "an integer"),
    ("max_tokens", "12.5", "an integer"),
    ("snapstart", "yes", "true or false"),
    ("human_request_languages", ["en", "xx"], "language codes among en, de, fr, es, pt, it"),
    ("human_request_languages", "en", "a JSON list"),
    ("human_request_patterns", ["agent", " "], "non-empty strings"),
    ("human_request_patterns", ["(unclosed"], "a Python regular expression"),
    ("human_request_patterns", ["x*"], "does not match an empty message"),
    ("knowledge_base_id", "kb-1", "a 10-character Bedrock Knowledge Base id"),
    ("guardrail_version", "latest", "DRAFT or a version number"),
    ("log_retention_days", 10, "one of 1, 3, 5"),
    ("mfa", "sometimes", "one of off, optional, required"),
    ("web_domain_name", "Chat.Example.com", "a lower-case domain name"),
    ("web_domain_name", "https://chat.example.com", "a lower-case domain name"),
    ("web_certificate_arn", "arn:aws:acm:eu-west-1:123456789012:certificate/12345678-1234-1234-1234-123456789012",
     "in us-east-1"),
    ("sign_in_domain_prefix", "my-cognito-login", "without aws, amazon or cognito"),
    ("sign_in_domain_prefix", "-tandem", "not starting or ending with a hyphen"),
    ("sign_in_domain_prefix", "Tandem", "lower-case letters"),
    ("consecutive_negative_turns", 21, "from 0 to 20"),
    ("expert_reminder_minutes", -1, "from 0 to 1439"),
    ("expert_reminder_minutes", "often", "an integer"),
    ("handoff_message", "", "a non-empty message"),
    ("model_error_message", "x" * 501, "at most 500 characters"),
    ("system_prompt", "x" * 2001, "at most 2000 characters"),
    ("human_request_patterns", ["p"] * 31, "at most 30"),
    ("system_prompt", 42, "a string"),
    ("language_code", "english", "a language code"),
    ("labeling_schedule", "every week", "an EventBridge schedule expression"),
    ("labeling_strategy", "newest", "one of random, escalated_first, thumbs_down_first"),
    ("finetune_thumbs_weight", 0, "above 0 and at most 1"),
    ("finetune_thumbs_weight", 1.5, "above 0 and at most 1"),
    ("finetune_thumbs_weight", "half", "a number"),
    ("labeling_workers_per_object", 10, "from 1 to 9"),
    ("labeling_task_time_limit_seconds", 29, "from 30 to 28800"),
    ("labeling_workteam_arn", "arn:aws:sagemaker:us-east-1:123:workteam/x", "a SageMaker workteam ARN"),
    ("finetune_algorithm", "ppo", "one of reward-pg, kto"),
    ("finetune_base_model", "has spaces/model", "a Hugging Face model id"),
    ("finetune_base_model", "s3://bucket/models/*", "without '*'"),
    ("finetune_base_model", "https://huggingface.co/google/flan-t5-xl", "a Hugging Face model id"),
    ("finetune_training_image", "huggingface-pytorch-training:latest", "an ECR image URI"),
    ("finetune_training_image", "763104351884.dkr.ecr.{region}.amazonaws.com/repo", "an ECR image URI"),
    ("finetune_instance_type", "g5.2xlarge", "a SageMaker training instance type"),
    ("finetune_max_runtime_hours", 0, "from 1 to 672"),
    ("finetune_max_runtime_hours", 673, "from 1 to 672"),
    ("finetune_volume_gb", 16385, "from 1 to 16384"),
    ("finetune_good_min_rating", 5.5, "from 1.0 to 5.0"),
    ("finetune_bad_max_rating", 0.5, "from 1.0 to 5.0"),
    ("finetune_eval_fraction", 1.0, "up to (not including) 1"),
    ("finetune_eval_fraction", -0.1, "up to (not including) 1"),
    ("finetune_min_train_rows", 0, "from 1 to 1000000"),
    ("finetune_min_eval_rows", -1, "from 0 to 1000000"),
    ("finetune_weight_by_agreement", "yes", "true or false"),
    ("finetune_import_model", 1, "true or false"),
    ("finetune_notify_email", "ml-team", "an email address"),
    ("finetune_judge_model_id", "", "a Bedrock model id"),
    ("finetune_judge_model_id", "claude haiku", "a Bedrock model id"),
    ("finetune_gate_min_lower_bound", 1.0, "from 0.0 to 0.99"),
    ("finetune_gate_min_lower_bound", -0.1, "from 0.0 to 0.99"),
    ("finetune_gate_min_questions", 0, "from 1 to 1000"),
    ("finetune_gate_min_questions", 301, "at most 300: the gate judges at most that many questions"),
    ("finetune_gate_max_judge_failures", 1.5, "from 0.0 to 1.0"),
    ("finetune_split_seed", "has space", "letters, digits"),
    ("finetune_hyperparameters", "[1, 2]", "a JSON object"),
    ("finetune_hyperparameters", "{not json", "a JSON object"),
    ("finetune_hyperparameters", {"epoch": 3}, "'epoch' is not one of"),
    ("finetune_hyperparameters", {"algorithm": "kto"}, "set it with finetune_algorithm"),
    ("finetune_hyperparameters", {"model_name_or_path": "x"}, "set it with finetune_base_model"),
    ("finetune_hyperparameters", {"epochs": "three"}, "'epochs' as a non-negative integer"),
    ("finetune_hyperparameters", {"learning_rate": "fast"}, "'learning_rate' as a non-negative number"),
    ("finetune_hyperparameters", {"merge": "yes"}, "'merge' as true or false"),
    ("finetune_hyperparameters", {"kl_budget": "wide"}, "'kl_budget' as a non-negative number"),
    ("finetune_hyperparameters", {"lora_target_modules": "q,,v"}, "a comma list of module names"),
    ("finetune_hyperparameters", {"lora_target_modules": "q v"}, "letters, digits or"),
    ("finetune_hyperparameters", {"epochs": [3]}, "a string, number or boolean"),
])
def test_bad_values_stop_synth_naming_the_key(key, value, accepted):
    with pytest.raises(ConfigError) as error:
        load_config({key: value})
    assert error.value.key == key
    assert f"'{key}'" in str(error.value)
    assert accepted in str(error.value)


IMPORTED = "arn:aws:bedrock:us-east-1:123456789012:imported-model/abcd1234efgh"


def test_a_model_given_by_arn_needs_its_provider():
    for context in ({"model_id": IMPORTED}, {"gate_model_id": IMPORTED}):
        with pytest.raises(ConfigError) as error:
            load_config(context)
        assert error.value.key == "model_provider" and "an ARN does not name it" in str(error.value)
        assert load_config({**context, "model_provider": "meta"}).model_provider == "meta"
    with pytest.raises(ConfigError) as error:
        load_config({"model_id": IMPORTED, "model_provider": "Meta Llama"})
    assert error.value.key == "model_provider"


def test_every_sampling_strategy_is_accepted():
    for strategy in ("random", "escalated_first", "thumbs_down_first"):
        assert load_config({"labeling_strategy": strategy}).labeling_strategy == strategy


def test_retry_budget_must_fit_the_api_timeout():
    load_config({"bedrock_max_attempts": 3, "bedrock_read_timeout_seconds": 8})
    with pytest.raises(ConfigError) as error:
        load_config({"bedrock_max_attempts": 4, "bedrock_read_timeout_seconds": 8})
    assert error.value.key == "bedrock_read_timeout_seconds"
    assert "29 s timeout" in str(error.value)


def test_settings_must_fit_lambdas_environment():
    with pytest.raises(ConfigError) as error:
        load_config({"system_prompt": "s" * 2000, "handoff_message": "h" * 500, "model_error_message": "m" * 500,
                     "human_request_patterns": ["p" * 50] * 30})
    assert error.value.key == "system_prompt"
    assert "4 KB" in str(error.value)


def test_accepted_settings_fit_beside_the_other_variables(make_template):
    context = {"system_prompt": "s" * 1800, "handoff_message": "h" * 300, "model_error_message": "m" * 300}
    load_config(context)  # accepted, so it must deploy: Lambda rejects more than 4 KB of variables
    function = next(iter(make_template(**context).find_resources("AWS::Lambda::Function").values()))
    variables = function["Properties"]["Environment"]["Variables"]
    size = sum(len(k) + len(v if isinstance(v, str) else "x" * 64) for k, v in variables.items())
    assert size < 4096


CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"


def test_a_web_domain_comes_with_its_certificate():
    config = load_config({"web_domain_name": "chat.example.com", "web_certificate_arn": CERTIFICATE})
    assert (config.web_domain_name, config.web_certificate_arn) == ("chat.example.com", CERTIFICATE)
    with pytest.raises(ConfigError) as error:
        load_config({"web_domain_name": "chat.example.com"})
    assert error.value.key == "web_certificate_arn" and "or neither" in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_config({"web_certificate_arn": CERTIFICATE})
    assert error.value.key == "web_domain_name"


def test_readme_documents_every_key():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [key for key in config_keys() if f"`{key}`" not in readme]
    assert not missing, f"README.md does not document {missing}"


def test_knowledge_base_retrieval_counts_in_the_time_budget():
    load_config({"bedrock_max_attempts": 3, "bedrock_read_timeout_seconds": 6, "knowledge_base_id": "ABCDEFGHIJ"})
    with pytest.raises(ConfigError) as error:
        load_config({"bedrock_max_attempts": 3, "bedrock_read_timeout_seconds": 8, "knowledge_base_id": "ABCDEFGHIJ"})
    assert "knowledge-base retrieval takes up to 6 s" in str(error.value)


def test_pii_masking_needs_a_language_comprehend_can_mask():
    load_config({"language_code": "es"})
    load_config({"language_code": "fr", "knowledge_export_redact_pii": False, "labeling_redact_pii": False})
    for masking in ("knowledge_export_redact_pii", "labeling_redact_pii"):
        other = {"labeling_redact_pii" if masking == "knowledge_export_redact_pii" else "knowledge_export_redact_pii": False}
        with pytest.raises(ConfigError) as error:
            load_config({"language_code": "fr", **other})
        assert error.value.key == "language_code" and masking in str(error.value)


def test_a_workteam_comes_from_an_arn_or_from_cognito_not_both():
    cognito = {"workteam_user_pool_id": "us-east-1_AbC123", "workteam_user_group": "raters",
               "workteam_client_id": "1example23456789"}
    load_config(cognito)
    with pytest.raises(ConfigError, match="all three of workteam_user_pool_id") as partial:
        load_config({"workteam_user_pool_id": "us-east-1_AbC123"})
    assert partial.value.key == "workteam_user_group"
    load_config({"labeling_workteam_arn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/raters"})
    with pytest.raises(ConfigError) as error:
        load_config({**cognito, "labeling_workteam_arn":
                     "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/raters"})
    assert error.value.key == "labeling_workteam_arn"


def test_experts_are_reminded_before_their_time_to_accept_runs_out():
    assert load_config({}).expert_reminder_minutes == 5
    load_config({"accept_timeout_minutes": 15, "expert_reminder_minutes": 14})
    load_config({"accept_timeout_minutes": 1, "expert_reminder_minutes": 0})  # 0: no reminders
    for reminder in (15, 20):
        with pytest.raises(ConfigError) as error:
            load_config({"accept_timeout_minutes": 15, "expert_reminder_minutes": reminder})
        assert error.value.key == "expert_reminder_minutes"
        assert "'expert_reminder_minutes'" in str(error.value) and "accept_timeout_minutes (15)" in str(error.value)


def test_finetune_ratings_must_leave_good_above_bad():
    load_config({"finetune_good_min_rating": 3.5, "finetune_bad_max_rating": 3.0})
    for good, bad in ((3.0, 3.0), (3.0, 3.5)):
        with pytest.raises(ConfigError) as error:
            load_config({"finetune_good_min_rating": good, "finetune_bad_max_rating": bad})
        assert error.value.key == "finetune_bad_max_rating"
        assert "below finetune_good_min_rating" in str(error.value)


def test_finetune_hyperparameters_become_sorted_strings():
    config = load_config({"finetune_hyperparameters": '{"learning-rate": 1e-05, "epochs": 3, "merge": "True", '
                                                      '"lora_target_modules": "q_proj,v_proj"}'})
    assert config.finetune_hyperparameters == (("epochs", "3"), ("learning_rate", "1e-05"),
                                               ("lora_target_modules", "q_proj,v_proj"), ("merge", "true"))
    assert load_config({"finetune_hyperparameters": {}}).finetune_hyperparameters == ()


def test_kto_needs_a_causal_model():
    load_config({"finetune_algorithm": "kto", "finetune_base_model": "meta-llama/Llama-3.2-1B"})
    load_config({"finetune_algorithm": "kto", "finetune_base_model": "s3://models/base/"})  # cannot tell: allowed
    with pytest.raises(ConfigError) as error:
        load_config({"finetune_algorithm": "kto"})  # the default base model is Flan-T5
    assert error.value.key == "finetune_base_model" and "KTO cannot train T5" in str(error.value)


def test_bedrock_import_needs_the_merged_model():
    load_config({"finetune_import_model": True, "finetune_hyperparameters": {"merge": "true"}})
    with pytest.raises(ConfigError) as error:
        load_config({"finetune_import_model": "true", "finetune_hyperparameters": {"merge": False}})
    assert error.value.key == "finetune_hyperparameters" and "merge left on" in str(error.value)
    load_config({"finetune_import_model": False, "finetune_hyperparameters": {"merge": False}})


def test_a_base_model_in_s3_is_told_apart_from_a_hub_id():
    assert TandemConfig().finetune_model_s3_uri == ""
    assert load_config({"finetune_base_model": "s3://my-models/base/"}).finetune_model_s3_uri == "s3://my-models/base/"


def test_training_images_name_their_repository():
    assert ecr_image_parts(TandemConfig().finetune_training_image) == (
        "763104351884", "{region}", "huggingface-pytorch-training")
    image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/trainer@sha256:" + "a" * 64
    assert ecr_image_parts(load_config({"finetune_training_image": image}).finetune_training_image) == (
        "123456789012", "eu-west-1", "team/trainer")


@pytest.mark.parametrize("key, value, settings, field", [
    ("labeling_seed", -1, SamplerSettings, "seed"),
    ("labeling_budget", 100_001, SamplerSettings, "budget"),
    ("labeling_strategy", "newest", SamplerSettings, "strategy"),
    ("session_ttl_days", 3651, ConsumerSettings, "session_ttl_days"),
    ("email_turns", 21, WorkerSettings, "email_turns"),
    ("max_message_chars", 20_001, ExpertApiSettings, "max_reply_chars"),
    ("finetune_min_train_rows", 0, DatasetSettings, "min_train_rows"),
    ("finetune_min_eval_rows", 1_000_001, DatasetSettings, "min_eval_rows"),
])
def test_a_value_handed_to_a_function_passes_that_functions_own_check(key, value, settings, field):
    with pytest.raises(ConfigError) as error:
        load_config({key: value})
    assert error.value.key == key
    assert str(error.value).endswith(f"expected {variable_of(settings, field).parser.accepted}")


def test_the_evaluation_gates_defaults_are_the_functions():
    gate = GateSettings.from_env({"REPORT_BUCKET": "tandem-artifacts", "REPORT_PREFIX": ""})
    config = TandemConfig()

    assert (config.finetune_judge_model_id, config.finetune_gate_min_lower_bound, config.finetune_gate_min_questions,
            config.finetune_gate_max_judge_failures) == (gate.judge_model_id, gate.min_lower_bound, gate.min_questions,
                                                         gate.max_failure_share)
