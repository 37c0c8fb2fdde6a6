"""The sessions table's stream records (DynamoDB Streams, NEW_AND_OLD_IMAGES), parsed into what the
consumer acts on. Pure: no AWS calls.

A record as Lambda delivers it (https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html):
    {"eventID": "...", "eventName": "INSERT" | "MODIFY" | "REMOVE", "eventSource": "aws:dynamodb",
     "dynamodb": {"Keys": {"session_id": {"S": ...}, "sk": {"S": ...}}, "NewImage": {...}, "OldImage": {...},
                  "SequenceNumber": "...", "StreamViewType": "NEW_AND_OLD_IMAGES"},
     "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"}}   # only on TTL deletes
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK, TURN_PREFIX
from lambdas.common.transcript import EscalationRecord

# The items whose changes a transcript shows; REQUEST# items (idempotency keys) are not part of it.
TRANSCRIPT_PREFIXES = (SESSION_SK, TURN_PREFIX, ESCALATION_PREFIX)
TTL_PRINCIPAL = "dynamodb.amazonaws.com"


class MalformedRecord(ValueError):
    """A stream record without the keys every sessions-table item has; retrying it cannot help."""


@dataclass(frozen=True)
class Change:
    sequence_number: str
    event_name: str  # INSERT | MODIFY | REMOVE
    session_id: str
    sk: str
    new_image: dict[str, Any] | None
    expired: bool = False  # removed by DynamoDB's TTL, not by Tandem
    old_image: dict[str, Any] | None = None

    @property
    def shows_in_transcript(self) -> bool:
        # An expired item is no reason to rewrite a transcript: the transcript keeps what the table forgot.
        return not self.expired and self.sk.startswith(TRANSCRIPT_PREFIXES)

    def opened_escalation(self) -> EscalationRecord | None:
        """The escalation this change created, if it is the INSERT of a pending ESCALATION item."""
        if self.event_name != "INSERT" or not self.sk.startswith(ESCALATION_PREFIX) or not self.new_image:
            return None
        if self.new_image.get("status", {}).get("S") != "pending":
            return None
        try:
            return EscalationRecord.from_dict(json.loads(self.new_image["body"]["S"]))
        except (KeyError, TypeError, ValueError) as error:
            raise MalformedRecord(f"ESCALATION item without a readable body ({type(error).__name__})") from None


def parse_record(record: Any) -> Change:
    try:
        data = record["dynamodb"]
        keys = data["Keys"]
        session_id, sk = keys["session_id"]["S"], keys["sk"]["S"]
        sequence_number = data["SequenceNumber"]
        event_name = record["eventName"]
    except (KeyError, TypeError) as error:
        raise MalformedRecord(f"stream record lacks {error}") from None
    identity = record.get("userIdentity") or {}
    return Change(sequence_number=sequence_number, event_name=event_name, session_id=session_id, sk=sk,
                  new_image=data.get("NewImage"), old_image=data.get("OldImage"),
                  expired=event_name == "REMOVE" and identity.get("principalId") == TTL_PRINCIPAL)
