#!/usr/bin/env python3
"""Tandem's CDK app: reads cdk.json context into a validated config, creates the stacks, runs cdk-nag."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.chatbot_stack import ChatbotStack
from stacks.config import RETIRED_KEYS, TandemConfig, config_keys, load_config
from stacks.data_stack import DataStack
from stacks.escalation_stack import EscalationStack
from stacks.feedback_stack import FeedbackStack
from stacks.finetune_stack import FinetuneStack
from stacks.outbox_stack import OutboxStack


def read_config(app: cdk.App) -> TandemConfig:
    # Retired keys too, so that a cdk.json that still sets one is told what replaced it.
    return load_config({key: app.node.try_get_context(key) for key in [*config_keys(), *RETIRED_KEYS]})


def create_stacks(app: cdk.App, config: TandemConfig) -> dict[str, cdk.Stack]:
    """Every stack, wired to the ones it uses (the stack tests build the app through here too)."""
    # Env-agnostic stacks: `cdk synth` needs no account; `cdk deploy` takes the CLI's account and region.
    data = DataStack(app, "TandemData", config=config, description="Tandem: sessions table and conversation buckets")
    chatbot = ChatbotStack(app, "TandemChatbot", config=config, store=data.store, alarm_topic=data.alarm_topic,
                           description="Tandem: Bedrock chatbot with escalation gate")
    # Experts sign in to the inbox in the chatbot's user pool (its `experts` group).
    escalation = EscalationStack(app, "TandemEscalation", config=config, store=data.store,
                                 user_pool=chatbot.user_pool, alarm_topic=data.alarm_topic,
                                 description="Tandem: human escalation workflow, expert links, inbox and API")
    outbox = OutboxStack(app, "TandemOutbox", config=config, store=data.store,
                         escalation_workflow=escalation.state_machine, alarm_topic=data.alarm_topic,
                         description="Tandem: what follows a stored turn (workflow starts, transcripts)")
    feedback = FeedbackStack(
        app, "TandemFeedback", config=config, store=data.store,
        description="Tandem: expert ratings of bot answers (sampling, Ground Truth, rating records)")
    finetune = FinetuneStack(
        app, "TandemFinetune", config=config, store=data.store,
        description="Tandem: fine-tuning from the ratings (dataset, SageMaker training, Bedrock import)")
    return {"data": data, "escalation": escalation, "outbox": outbox, "chatbot": chatbot, "feedback": feedback,
            "finetune": finetune}


def build_app(app: cdk.App) -> cdk.App:
    create_stacks(app, read_config(app))
    cdk.Tags.of(app).add("project", "tandem")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app(cdk.App()).synth()
