"""The base models Bedrock's own fine-tuning (CreateModelCustomizationJob) accepts, and what Tandem needs to
know of each to run the pipeline's Bedrock path (finetune_path "bedrock", stacks/finetune_stack.py).

Checked 2026-12-01 against AWS's pages "Supported models and Regions for fine-tuning"
(docs.aws.amazon.com/bedrock/latest/userguide/custom-model-fine-tuning.html) and "Deploy a custom model for
on-demand inference" (.../deploy-custom-model-on-demand.html); docs/external-defaults.md records the check.

The evaluation gate must ask the tuned model the held-out questions, so the custom model has to answer
somewhere. On-demand deployment (CreateCustomModelDeployment: paid per token, nothing while idle) exists only
for Amazon Nova Micro, Lite and Pro; every other fine-tunable model answers only through Provisioned
Throughput, billed by the hour per model unit whether used or not. Tandem runs the Bedrock path for the
models with on-demand deployment and refuses the others at synth with that reason (the README's table lists
both); such a model can still be trained on the SageMaker path and imported.
"""

from __future__ import annotations

from dataclasses import dataclass

CONVERSATION, PROMPT_COMPLETION = "bedrock-conversation", "bedrock"  # the dataset folders (finetune_dataset)


@dataclass(frozen=True)
class CustomizableModel:
    model_id: str  # BaseModelIdentifier: the fine-tunable variant, with its context length
    name: str
    data_folder: str  # the dataset's folder of rows in the format the model is trained from
    regions: tuple[str, ...]  # where Bedrock fine-tunes it
    on_demand: bool  # a custom model of it can be deployed for on-demand inference
    invoke_id: str  # what Converse takes for the base model's own answers (the gate's comparison)


MODELS = {model.model_id: model for model in (
    CustomizableModel("amazon.nova-micro-v1:0:128k", "Amazon Nova Micro", CONVERSATION, ("us-east-1",), True,
                      "amazon.nova-micro-v1:0"),
    CustomizableModel("amazon.nova-lite-v1:0:300k", "Amazon Nova Lite", CONVERSATION, ("us-east-1",), True,
                      "amazon.nova-lite-v1:0"),
    CustomizableModel("amazon.nova-pro-v1:0:300k", "Amazon Nova Pro", CONVERSATION, ("us-east-1",), True,
                      "amazon.nova-pro-v1:0"),
    CustomizableModel("amazon.nova-2-lite-v1:0:256k", "Amazon Nova 2 Lite", CONVERSATION, ("us-east-1",), False,
                      "amazon.nova-2-lite-v1:0"),
    CustomizableModel("meta.llama3-1-8b-instruct-v1:0:128k", "Meta Llama 3.1 8B Instruct", PROMPT_COMPLETION,
                      ("us-west-2",), False, "meta.llama3-1-8b-instruct-v1:0"),
    CustomizableModel("meta.llama3-1-70b-instruct-v1:0:128k", "Meta Llama 3.1 70B Instruct", PROMPT_COMPLETION,
                      ("us-west-2",), False, "meta.llama3-1-70b-instruct-v1:0"),
    CustomizableModel("meta.llama3-2-1b-instruct-v1:0:128k", "Meta Llama 3.2 1B Instruct", CONVERSATION,
                      ("us-west-2",), False, "meta.llama3-2-1b-instruct-v1:0"),
    CustomizableModel("meta.llama3-2-3b-instruct-v1:0:128k", "Meta Llama 3.2 3B Instruct", CONVERSATION,
                      ("us-west-2",), False, "meta.llama3-2-3b-instruct-v1:0"),
    CustomizableModel("meta.llama3-2-11b-instruct-v1:0:128k", "Meta Llama 3.2 11B Instruct", CONVERSATION,
                      ("us-west-2",), False, "meta.llama3-2-11b-instruct-v1:0"),
    CustomizableModel("meta.llama3-2-90b-instruct-v1:0:128k", "Meta Llama 3.2 90B Instruct", CONVERSATION,
                      ("us-west-2",), False, "meta.llama3-2-90b-instruct-v1:0"),
)}
DEFAULT_MODEL_ID = "amazon.nova-micro-v1:0:128k"  # the smallest and cheapest model the path can evaluate


def runnable() -> list[CustomizableModel]:
    """The models the Bedrock path runs with: those a custom model of can be deployed on demand."""
    return [model for model in MODELS.values() if model.on_demand]


def refusal(model_id: str) -> str | None:
    """Why the Bedrock path cannot run with `model_id`, or None when it can."""
    names = ", ".join(m.model_id for m in runnable())
    model = MODELS.get(model_id)
    if model is None:
        return f"a base model Bedrock fine-tunes and can deploy on demand: one of {names}"
    if not model.on_demand:
        return (f"a base model whose custom models Bedrock can deploy on demand (one of {names}): a custom "
                f"{model.name} answers only through Provisioned Throughput, billed by the hour, so the evaluation "
                "gate could not ask it anything without that commitment; train it on the SageMaker path instead")
    return None


def region_refusal(model_id: str, region: str) -> str | None:
    """Why the Bedrock path cannot fine-tune `model_id` in `region`, or None when it can."""
    model = MODELS[model_id]
    if region in model.regions:
        return None
    return f"{model.name} is fine-tuned by Bedrock only in {', '.join(model.regions)}, not in {region}"
