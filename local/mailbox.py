"""The local mailbox: what Tandem's topics would email, kept on this machine instead of sent.

Deployed, the experts' and fallback topics have email subscriptions. Here nothing leaves the machine: an
SQS queue is subscribed to each topic that would mail someone (as the tests read topics), and a poller
thread moves every notification into a list the demo's mailbox page shows. A message is deleted from the
queue only once it is in the list, so a mail is never lost between the two.

This is a stand-in for email, named as such on the mailbox page.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from local.aws import LocalAws, local_name
from local.pollers import IDLE_SECONDS, PollerThread

# Topic role -> who would receive its mail.
MAILED_TOPICS = {"experts_topic": "experts", "fallback_topic": "fallback contact",
                 "finetune_notices_topic": "model owners"}
logger = logging.getLogger("tandem.local.mailbox")
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
    TopicArn, Subject, Message, Timestamp). `topics` maps a topic ARN to its role. ValueError when `body` is
    no such envelope."""
    try:
        envelope = json.loads(body)
    except json.JSONDecodeError:
        raise ValueError("not an SNS notification: not JSON") from None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("MessageId"), str):
        raise ValueError("not an SNS notification: no MessageId")
    role = topics.get(str(envelope.get("TopicArn", "")), "unknown")
    return Mail(mail_id=envelope["MessageId"], to=MAILED_TOPICS.get(role, role), topic=role,
                subject=str(envelope.get("Subject") or "(no subject)"), body=str(envelope.get("Message", "")),
                sent_at=str(envelope.get("Timestamp", "")))


def unreadable_mail(message: dict[str, Any]) -> Mail:
    """Whatever else reached the queue, kept as it came (never left in the queue, where it would come back
    after every visibility time-out and hold up the mail received with it)."""
    arrived = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Mail(mail_id=message["MessageId"], to="unknown", topic="unknown",
                subject="(not an SNS notification)", body=message.get("Body", ""), sent_at=arrived)


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
            try:
                mail = mail_from_notification(message["Body"], self._topics)
            except ValueError as error:
                logger.warning("the mailbox queue held a message that is not an SNS notification (%s): kept as "
                               "it came", error)
                mail = unreadable_mail(message)
            self._keep(mail)
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(messages)

    def _keep(self, mail: Mail) -> None:
        with self._lock:
            if mail.mail_id in self._seen:  # SQS delivers at least once
                return
            self._seen.add(mail.mail_id)
            self._mails.append(mail)
            # The ids remembered are the kept mails' ids: neither list grows without bound.
            for dropped in self._mails[:-MAX_MAILS]:
                self._seen.discard(dropped.mail_id)
            del self._mails[:-MAX_MAILS]

    def mails(self) -> list[Mail]:
        with self._lock:
            return list(self._mails)
