"""local/mailbox.py: what the topics would email is kept on this machine. A notification as SNS delivers it to
an SQS subscription becomes a mail; a notification delivered twice is kept once; the list keeps the newest
MAX_MAILS; whatever else reaches the queue is kept as it came and holds nothing up."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterator

import pytest

from local import mailbox as mailbox_module
from local.mailbox import MAILED_TOPICS, LocalMailbox, mail_from_notification
from testing.waiting import wait_for

WAIT = 10.0  # seconds any single wait may take before the test fails

# AWS's example of the message an SQS queue subscribed to a topic receives (raw message delivery off), from
# "Fanout to Amazon SQS queues", https://docs.aws.amazon.com/sns/latest/dg/SendMessageToSQS.html (the
# Signature is cut short there too).
DOCUMENTED_NOTIFICATION = """{
  "Type" : "Notification",
  "MessageId" : "63a3f6b6-d533-4a47-aef9-fcf5cf758c76",
  "TopicArn" : "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Subject" : "Testing publish to subscribed queues",
  "Message" : "Hello world!",
  "Timestamp" : "2012-03-29T05:12:16.901Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEnTrFPa3...",
  "SigningCertURL" : "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
  "UnsubscribeURL" : "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c7fe3a54-ab0e-4ec2-88e0-db410a0f2bee"
}"""
DOCUMENTED_TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"


def documented(**changes: str) -> str:
    """The documented notification with some fields changed (a field set to "" is left out)."""
    envelope = {**json.loads(DOCUMENTED_NOTIFICATION), **changes}
    return json.dumps({k: v for k, v in envelope.items() if v != ""})




@pytest.fixture(scope="module")
def mailbox(local_aws) -> Iterator[LocalMailbox]:
    """Subscribed to the topics, not started: each test polls it itself."""
    yield LocalMailbox(local_aws)


def arrived(mailbox: LocalMailbox, mail_id: str) -> list[Any]:
    """Polls until the mail with this id is in the mailbox; returns the mails with it."""
    def found() -> list[Any]:
        mailbox.poll()
        return [m for m in mailbox.mails() if m.mail_id == mail_id]
    return wait_for(found, what=f"mail {mail_id} in the mailbox", timeout=WAIT)


def drained(mailbox: LocalMailbox, local_aws) -> bool:
    """Polls once; True when nothing was received and the queue holds nothing, in flight or not."""
    if mailbox.poll():
        return False
    attributes = local_aws.client("sqs").get_queue_attributes(
        QueueUrl=mailbox.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return all(value == "0" for value in attributes.values())


# mail_from_notification ---------------------------------------------------------------------------------


def test_a_documented_notification_becomes_a_mail_to_whom_its_topic_mails():
    mail = mail_from_notification(DOCUMENTED_NOTIFICATION, {DOCUMENTED_TOPIC: "experts_topic"})

    assert mail.to_dict() == {"mail_id": "63a3f6b6-d533-4a47-aef9-fcf5cf758c76", "to": "experts",
                              "topic": "experts_topic", "subject": "Testing publish to subscribed queues",
                              "body": "Hello world!", "sent_at": "2012-03-29T05:12:16.901Z"}


@pytest.mark.parametrize("role", sorted(MAILED_TOPICS))
def test_each_mailed_topic_names_its_recipients(role):
    assert mail_from_notification(DOCUMENTED_NOTIFICATION, {DOCUMENTED_TOPIC: role}).to == MAILED_TOPICS[role]


def test_a_notification_without_a_subject_or_from_another_topic_is_still_a_mail():
    # SNS leaves Subject out when the publisher gave none (https://docs.aws.amazon.com/sns/latest/dg/
    # http-notification-json.html).
    mail = mail_from_notification(documented(Subject=""), {"arn:aws:sns:us-east-1:123456789012:Other": "x"})

    assert (mail.subject, mail.to, mail.topic, mail.body) == ("(no subject)", "unknown", "unknown", "Hello world!")


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"Hello world!"', '{"Type": "Notification"}'])
def test_a_body_that_is_no_notification_is_refused_as_such(body):
    with pytest.raises(ValueError, match="not an SNS notification"):
        mail_from_notification(body, {})


# LocalMailbox ---------------------------------------------------------------------------------------


def test_a_message_published_to_the_experts_topic_arrives_as_a_mail(local_aws, mailbox):
    subject = f"Tandem: a customer needs an expert ({uuid.uuid4().hex[:8]})"
    published = local_aws.client("sns").publish(TopicArn=local_aws.arns["experts_topic"], Subject=subject,
                                                Message="Line one\nhttp://127.0.0.1:8000/experts/escalations/e1")

    (mail,) = arrived(mailbox, published["MessageId"])
    assert (mail.to, mail.topic, mail.subject) == ("experts", "experts_topic", subject)
    assert mail.body == "Line one\nhttp://127.0.0.1:8000/experts/escalations/e1"
    assert mail.sent_at.endswith("Z")
    assert wait_for(lambda: drained(mailbox, local_aws), what="the queue to be empty", timeout=WAIT)


def test_the_fallback_topics_mail_arrives_too(local_aws, mailbox):
    published = local_aws.client("sns").publish(TopicArn=local_aws.arns["fallback_topic"], Message="busy")

    (mail,) = arrived(mailbox, published["MessageId"])
    assert (mail.to, mail.subject, mail.body) == ("fallback contact", "(no subject)", "busy")


def test_a_notification_delivered_twice_is_kept_once_and_both_deliveries_leave_the_queue(local_aws, mailbox):
    sqs = local_aws.client("sqs")
    mail_id = str(uuid.uuid4())
    body = documented(MessageId=mail_id, TopicArn=local_aws.arns["experts_topic"])
    for _ in range(2):  # SQS delivers at least once: the same notification, twice
        sqs.send_message(QueueUrl=mailbox.queue_url, MessageBody=body)

    assert wait_for(lambda: drained(mailbox, local_aws), what="both deliveries to be taken from the queue", timeout=WAIT)

    assert [m.subject for m in mailbox.mails() if m.mail_id == mail_id] == ["Testing publish to subscribed queues"]


def test_the_mailbox_keeps_the_newest_max_mails(local_aws, mailbox, monkeypatch):
    monkeypatch.setattr(mailbox_module, "MAX_MAILS", 3)
    sqs = local_aws.client("sqs")
    ids = [f"bound-{i}-{uuid.uuid4()}" for i in range(5)]
    for mail_id in ids:  # one at a time, so they arrive in this order
        sqs.send_message(QueueUrl=mailbox.queue_url,
                         MessageBody=documented(MessageId=mail_id, TopicArn=local_aws.arns["experts_topic"]))
        arrived(mailbox, mail_id)

    assert [m.mail_id for m in mailbox.mails()] == ids[-3:]
    # What is remembered to drop duplicates is bounded as well: only the kept mails' ids.
    assert mailbox._seen == set(ids[-3:])


def test_a_message_that_is_no_notification_is_kept_as_it_came_and_holds_no_mail_up(local_aws, mailbox):
    sqs = local_aws.client("sqs")
    mail_id = str(uuid.uuid4())
    sqs.send_message(QueueUrl=mailbox.queue_url, MessageBody="<b>not</b> a notification")
    sqs.send_message(QueueUrl=mailbox.queue_url,
                     MessageBody=documented(MessageId=mail_id, TopicArn=local_aws.arns["experts_topic"]))

    arrived(mailbox, mail_id)  # within WAIT, not after the unreadable message's visibility time-out
    assert wait_for(lambda: drained(mailbox, local_aws), what="the queue to be empty", timeout=WAIT)
    unreadable = [m for m in mailbox.mails() if m.body == "<b>not</b> a notification"]
    assert [(m.subject, m.to) for m in unreadable] == [("(not an SNS notification)", "unknown")]
