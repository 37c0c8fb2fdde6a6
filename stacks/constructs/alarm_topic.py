"""Where Tandem's alarms go: an encrypted SNS topic mailed to `alarm_email` (DataStack owns it)."""

from __future__ import annotations

from typing import Iterable

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


class AlarmTopic(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, email: str) -> None:
        super().__init__(scope, construct_id)
        # CloudWatch cannot publish to a topic under the AWS-managed SNS key: a key of our own lets it.
        key = kms.Key(self, "Key", enable_key_rotation=True,
                      description="Encrypts Tandem's alarm topic; CloudWatch may use it to publish alarms")
        key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True, display_name="Tandem alarms")
        self.topic.add_subscription(subscriptions.EmailSubscription(email))


def notify(alarms: Iterable[cloudwatch.Alarm], topic: sns.ITopic | None) -> None:
    """Sends the alarms to the topic, when there is one (no `alarm_email`: alarms show in the console only)."""
    if topic is None:
        return
    for alarm in alarms:
        alarm.add_alarm_action(cw_actions.SnsAction(topic))
