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
from stacks.live_stack import LiveStack
from stacks.outbox_stack import OutboxStack
from stacks.web_stack import WebContentStack, WebStack


def read_config(app: cdk.App) -> TandemConfig:
    # Retired keys too, so that a cdk.json that still sets one is told what replaced it.
    return load_config({key: app.node.try_get_context(key) for key in [*config_keys(), *RETIRED_KEYS]})


def create_stacks(app: cdk.App, config: TandemConfig) -> dict[str, cdk.Stack]:
    """Every stack, wired to the ones it uses (the stack tests build the app through here too)."""
    # Env-agnostic stacks: `cdk synth` needs no account; `cdk deploy` takes the CLI's account and region.
    data = DataStack(app, "TandemData", config=config, description="Tandem: sessions table and conversation buckets")
    # The site needs no other stack; the user pool's sign-in returns to its pages.
    web = WebStack(app, "TandemWeb", config=config, description="Tandem: web app hosting (CloudFront, private bucket)")
    chatbot = ChatbotStack(app, "TandemChatbot", config=config, store=data.store, alarm_topic=data.alarm_topic,
                           sign_in_urls=web.sign_in_urls, site_url=web.site_url,
                           description="Tandem: Bedrock chatbot with escalation gate")
    # Experts sign in to the inbox in the chatbot's user pool (its `experts` group).
    escalation = EscalationStack(app, "TandemEscalation", config=config, store=data.store,
                                 user_pool=chatbot.user_pool, site_url=web.site_url, alarm_topic=data.alarm_topic,
                                 description="Tandem: human escalation workflow, expert links, inbox and API")
    live = LiveStack(app, "TandemLive", config=config, user_pool=chatbot.user_pool,
                     client_ids=[chatbot.web_client.user_pool_client_id, chatbot.user_pool_client.user_pool_client_id],
                     alarm_topic=data.alarm_topic,
                     description="Tandem: live channel (WebSocket API pushing conversation events)")
    outbox = OutboxStack(app, "TandemOutbox", config=config, store=data.store,
                         escalation_workflow=escalation.state_machine, live=live, alarm_topic=data.alarm_topic,
                         description="Tandem: what follows a stored turn (workflow starts, transcripts, live push)")
    feedback = FeedbackStack(
        app, "TandemFeedback", config=config, store=data.store, user_pool=chatbot.user_pool, site_url=web.site_url,
        description="Tandem: expert ratings of bot answers (sampling, Ground Truth, rating records)")
    finetune = FinetuneStack(
        app, "TandemFinetune", config=config, store=data.store,
        description="Tandem: fine-tuning from the ratings (dataset, SageMaker training, Bedrock import)")
    # Last: the pages' runtime settings are the other stacks' URLs and ids.
    web_content = WebContentStack(
        app, "TandemWebContent", config=config, site=web, chat_api_url=chatbot.api.url,
        expert_api_url=escalation.api.url, user_pool_id=chatbot.user_pool.user_pool_id,
        web_client_id=chatbot.web_client.user_pool_client_id, sign_in_url=chatbot.sign_in_domain.base_url(),
        live_url=live.stage.url, rating_api_url=feedback.rating_api.url,
        description="Tandem: the web app's files and runtime settings (config.json)")
    return {"data": data, "escalation": escalation, "outbox": outbox, "chatbot": chatbot, "live": live,
            "feedback": feedback, "finetune": finetune, "web": web, "web_content": web_content}


def build_app(app: cdk.App) -> cdk.App:
    create_stacks(app, read_config(app))
    cdk.Tags.of(app).add("project", "tandem")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app(cdk.App()).synth()
