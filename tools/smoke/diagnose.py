"""Why something a customer or an expert needs does not work, asked of the control planes.

- The model: when an answer carried a model error, Bedrock's GetFoundationModel (is the model Legacy or at
  its end of life?) and GetFoundationModelAvailability (is access granted in this account and region?) for
  the deployed model id (TandemChatbot's ModelId output). A cross-region inference profile id
  ("eu.anthropic...", "global.anthropic...") is looked up by the base model id after its prefix.
- The experts topic: an escalation mail reaches only confirmed email subscriptions.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdas.chatbot import model_ids
from tools.smoke.report import SmokeFailure, mask_email

EMAIL_PROTOCOLS = ("email", "email-json")
README = "see README, After every deploy: make smoke"


class ModelProblem(SmokeFailure):
    """The answer carried a model error; the message is the diagnosis."""

    part = "model"


class ExpertsUnreachable(SmokeFailure):
    part = "experts"


def base_model_id(model_id: str) -> str | None:
    """The foundation model behind a model id, an inference profile id or their ARNs (read as the chatbot
    reads them); None for a model that is not a foundation model (imported, custom, provisioned, an
    application inference profile)."""
    base = model_ids.base_model_id(model_id)
    return None if base.startswith("arn:") else base


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "ClientError")


class ModelDiagnosis:
    def __init__(self, bedrock: Any, *, region: str):
        self.bedrock = bedrock
        self.region = region

    def diagnose(self, model_id: str | None, error: str) -> str:
        """What is wrong with the model the chatbot calls, as a sentence that says what to do."""
        if not model_id:
            return (f"the model failed ({error}) and TandemChatbot has no ModelId output to look it up: deploy "
                    "TandemChatbot again, then run make smoke")
        base = base_model_id(model_id)
        if base is None:
            return (f"model {model_id} failed ({error}); it is not a foundation model, so Bedrock's model access "
                    "cannot be checked here: check it in the Bedrock console")
        via = "" if base == model_id else f", called through {model_id},"
        try:
            details = self.bedrock.get_foundation_model(modelIdentifier=base)["modelDetails"]
        except ClientError as failure:
            if _code(failure) in ("ResourceNotFoundException", "ValidationException"):
                return (f"model {base}{via} is not offered in {self.region} ({_code(failure)}): it may be past its "
                        f"end of life or a wrong id; choose another: {README}")
            return f"the model failed ({error}); Bedrock could not be asked about {base}: {_code(failure)}"
        lifecycle = details.get("modelLifecycle", {})
        if lifecycle.get("status", "ACTIVE") != "ACTIVE":
            end = lifecycle.get("endOfLifeTime")
            when = f", end of life {end:%Y-%m-%d}" if end is not None else ""
            return (f"model {base}{via} is Legacy/end-of-life (Bedrock lists it {lifecycle['status']}{when}), "
                    f"choose another: {README}")
        try:
            availability = self.bedrock.get_foundation_model_availability(modelId=base)
        except ClientError as failure:
            return f"the model failed ({error}); Bedrock could not say whether {base} is available: {_code(failure)}"
        missing = []
        if availability.get("authorizationStatus") != "AUTHORIZED":
            missing.append(f"authorization {availability.get('authorizationStatus')}")
        agreement = availability.get("agreementAvailability", {}).get("status")
        if agreement != "AVAILABLE":
            missing.append(f"agreement {agreement}")
        if availability.get("entitlementAvailability") != "AVAILABLE":
            missing.append(f"entitlement {availability.get('entitlementAvailability')}")
        if availability.get("regionAvailability") == "NOT_AVAILABLE":
            missing.append(f"not available in {self.region}")
        if missing:
            return (f"model access not granted for {base} ({', '.join(missing)}){via.rstrip(',')}: request it "
                    f"in the Bedrock console, Model access, in {self.region}")
        return (f"model {base}{via} is Active and access is granted, yet the chatbot's call failed with {error}: "
                "read the TandemChatbot function's log")


class ExpertsTopicCheck:
    def __init__(self, sns: Any):
        self.sns = sns

    def check(self, topic_arn: str) -> str:
        subscriptions = [s for page in self.sns.get_paginator("list_subscriptions_by_topic").paginate(
            TopicArn=topic_arn) for s in page["Subscriptions"] if s.get("Protocol") in EMAIL_PROTOCOLS]
        if not subscriptions:
            raise ExpertsUnreachable(f"no expert subscribed to {topic_arn}: deploy with -c expert_email=... or "
                                     "subscribe an address to the ExpertsTopicArn output")
        confirmed = [s for s in subscriptions if s["SubscriptionArn"].startswith("arn:")]
        pending = [s for s in subscriptions if s["SubscriptionArn"] == "PendingConfirmation"]
        addresses = ", ".join(mask_email(s.get("Endpoint", "")) for s in pending)
        if not confirmed:
            raise ExpertsUnreachable(f"expert email subscription unconfirmed ({addresses or 'none confirmed'}): "
                                     "click the link in the confirmation mail from AWS Notifications")
        detail = f"{len(confirmed)} confirmed: " + ", ".join(mask_email(s.get("Endpoint", "")) for s in confirmed)
        return detail + (f"; still unconfirmed: {addresses}" if pending else "")
