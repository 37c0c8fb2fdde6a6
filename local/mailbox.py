"""The local mailbox: what Tandem's topics would email, kept on this machine instead of sent.

Deployed, the experts' and fallback topics have email subscriptions. Here nothing leaves the machine: an
SQS queue is subscribed to each topic that would mail someone (as the tests read topics), and a poller
thread moves every notification into a list the demo's mailbox page shows. A message is deleted from the
queue only once it is in the list, so a mail is never lost between the two.

This is a stand-in for email, named as such on the mailbox page.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any

from local.aws import LocalAws, local_name
from local.pollers import IDLE_SECONDS, PollerThread

# Topic role -> who would receive its mail.
MAILED_TOPICS = {"experts_topic": "experts", "fallback_topic": "fallback contact",
                 "finetune_notices_topic": "model owners"}
QUEUE_ROLE = "local_mailbox"
MAX_MAILS = 500  # the oldest go first beyond this: a long-running demo must not grow without bound


@dataclass(frozen=True)
class Mail:
    mail_id: str  # the SNS MessageId
    to: str  # who the topic mails
    topic: str  # the topic's role
    subject: str
    body: str
    sent_at: str  # the SNS Timestamp

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def mail_from_notification(body: str, topics: dict[str, str]) -> Mail:
    """A mail from the SNS notification an SQS subscription delivers (the JSON envelope: Type, MessageId,
    TopicArn, Subject, Message, Timestamp). `topics` maps a topic ARN to its role."""
    envelope = json.loads(body)
    role = topics.get(envelope.get("TopicArn", ""), "unknown")
    return Mail(mail_id=envelope["MessageId"], to=MAILED_TOPICS.get(role, role), topic=role,
                subject=envelope.get("Subject") or "(no subject)", body=envelope.get("Message", ""),
                sent_at=envelope.get("Timestamp", ""))


class LocalMailbox:
    """Subscribes a queue to every mailed topic and keeps what arrives, newest last."""

    def __init__(self, aws: LocalAws, *, idle_seconds: float = IDLE_SECONDS):
        self._sqs = aws.client("sqs")
        self._mails: list[Mail] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self.queue_url = self._sqs.create_queue(QueueName=local_name(QUEUE_ROLE))["QueueUrl"]
        queue_arn = self._sqs.get_queue_attributes(QueueUrl=self.queue_url,
                                                   AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns = aws.client("sns")
        self._topics = {aws.arns[role]: role for role in MAILED_TOPICS}
        for topic_arn in self._topics:
            sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self._thread = PollerThread("mailbox", self.poll, idle_seconds=idle_seconds)

    def start(self) -> LocalMailbox:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()

    def poll(self) -> int:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        for message in messages:
            mail = mail_from_notification(message["Body"], self._topics)
            with self._lock:
                if mail.mail_id not in self._seen:  # SQS delivers at least once
                    self._seen.add(mail.mail_id)
                    self._mails.append(mail)
                    del self._mails[:-MAX_MAILS]
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)
