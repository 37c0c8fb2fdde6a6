"""DataStack: the conversation store (stacks/constructs/conversation_store.py) every other stack uses, and
the alarm topic every stack's alarms go to.

Kept apart so the escalation workflow and the chatbot can both use it without depending on each other
the wrong way round (the chatbot starts the workflow; the workflow writes to the conversations).
"""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct

from stacks.config import TandemConfig
from stacks.constructs.alarm_topic import AlarmTopic
from stacks.constructs.conversation_store import ConversationStore


class DataStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: TandemConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.store = ConversationStore(self, "Conversations",
                                       transcript_retention_days=config.transcript_retention_days,
                                       session_ttl_days=config.session_ttl_days)
        self.alarm_topic = AlarmTopic(self, "Alarms", email=config.alarm_email).topic if config.alarm_email else None
