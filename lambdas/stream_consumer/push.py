"""Pushes what changed in the sessions table to the browsers connected to the live channel
(lambdas/common/live_events.py for the envelope, lambdas/common/connections.py for who is connected).

- A new turn goes to its customer's connections and, while the conversation is escalated or taken over
  by an expert, to the experts' inbox.
- An escalation that was opened, or whose status or waiting times changed, goes to its customer (status
  and times only) and to the inbox (with the reason and who accepted). The workflow's own bookkeeping
  (task tokens, the notified flag) changes nothing anyone sees and is not pushed.

A connection that API Gateway says is gone (410) is forgotten. Any other failure to post is retried with
the stream record (at least once: a retried batch is pushed again and clients drop events they have seen).
The session's customer and state are read once per session per batch, after the batch's changes were made:
a turn from just before an escalation, in the same batch, reaches the inbox too (the inbox shows the last
turns of an escalated conversation anyway).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol

from botocore.exceptions import ClientError

from lambdas.common import live_events
from lambdas.common.connections import INBOX, ConnectionStore, customer_listener
from lambdas.common.session_store import ESCALATION_PREFIX, SESSION_SK, TURN_PREFIX
from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.stream_consumer.changes import Change, MalformedRecord

# The ESCALATION item's attributes a person sees change (its status and the waiting times).
VISIBLE_STATE = ("status", "accepted_by", "accepted_at", "resolved_at", "ended_at", "accept_deadline",
                 "reminders", "reminded_at")
GONE = "GoneException"


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: str, value: float) -> None: ...


def _value(attribute: dict[str, Any] | None) -> Any:
    if not attribute:
        return None
    if "S" in attribute:
        return attribute["S"]
    if "N" in attribute:
        number = float(attribute["N"])
        return int(number) if number.is_integer() else number
    return None


def _visible(image: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _value((image or {}).get(k)) for k in VISIBLE_STATE}


class LivePush:
    def __init__(self, *, connections: ConnectionStore, management: Callable[[], Any],
                 ddb: Callable[[], Any], sessions_table: str, metrics: MetricSink, logger: Any):
        self.connections = connections
        self.management = management
        self.ddb = ddb
        self.sessions_table = sessions_table
        self.metrics = metrics
        self.logger = logger

    def push(self, changes: list[Change]) -> int | None:
        """Pushes the batch's events; the index of the first change to retry, or None when all went out."""
        sessions: dict[str, dict[str, Any] | None] = {}
        for index, change in enumerate(changes):
            try:
                deliveries = self._deliveries(change, sessions)
            except MalformedRecord as error:  # retrying cannot help: counted and left out
                self.metrics.add_metric("MalformedStreamRecords", "Count", 1)
                self.logger.error("change not pushed", extra={"session_id": change.session_id,
                                                              "problem": str(error)})
                continue
            except ClientError as error:
                self.logger.warning("session not read for push", extra={
                    "session_id": change.session_id, "error": error.response["Error"]["Code"]})
                return index
            for connection_ids, event in deliveries:
                if not self._post_all(connection_ids, event):
                    return index
        return None

    # What each change tells whom -------------------------------------------------------------------

    def _deliveries(self, change: Change, sessions: dict[str, dict[str, Any] | None]
                    ) -> list[tuple[list[str], dict[str, Any]]]:
        if change.expired or change.event_name == "REMOVE" or not change.new_image:
            return []
        if change.sk.startswith(TURN_PREFIX) and change.event_name == "INSERT":
            session = self._session(change.session_id, sessions)
            if session is None:
                return []
            turn = _parse(Turn.from_dict, change.new_image)
            event = live_events.turn_event(change.session_id, turn)
            deliveries = [(self.connections.listening(customer_listener(session["customer_id"]["S"])), event)]
            if "open_escalation_id" in session or "owner" in session:
                deliveries.append((self.connections.in_room(INBOX), event))
            return deliveries
        if change.sk.startswith(ESCALATION_PREFIX):
            state = _visible(change.new_image)
            if change.event_name == "MODIFY" and state == _visible(change.old_image):
                return []
            session = self._session(change.session_id, sessions)
            record = _parse(EscalationRecord.from_dict, change.new_image)
            deliveries = [(self.connections.in_room(INBOX), live_events.escalation_event(
                record, state, "expert", change_id=change.sequence_number))]
            if session is not None:
                deliveries.append((self.connections.listening(customer_listener(session["customer_id"]["S"])),
                                   live_events.escalation_event(
                                       record, state, "customer", change_id=change.sequence_number)))
            return deliveries
        return []

    def _session(self, session_id: str, sessions: dict[str, dict[str, Any] | None]) -> dict[str, Any] | None:
        if session_id not in sessions:
            sessions[session_id] = self.ddb().get_item(
                TableName=self.sessions_table, ConsistentRead=True,
                Key={"session_id": {"S": session_id}, "sk": {"S": SESSION_SK}}).get("Item")
        return sessions[session_id]

    # Posting -------------------------------------------------------------------------------------------

    def _post_all(self, connection_ids: list[str], event: dict[str, Any]) -> bool:
        data = live_events.encode(event)
        delivered = True
        for connection_id in dict.fromkeys(connection_ids):
            try:
                self.management().post_to_connection(ConnectionId=connection_id, Data=data)
                self.metrics.add_metric("LiveEventsPushed", "Count", 1)
            except ClientError as error:
                code = error.response["Error"]["Code"]
                if code == GONE:
                    self.connections.remove(connection_id)
                    self.metrics.add_metric("LiveConnectionsGone", "Count", 1)
                    continue
                self.metrics.add_metric("LivePushFailures", "Count", 1)
                self.logger.warning("event not pushed", extra={"connection_id": connection_id, "error": code,
                                                               "event": event["type"]})
                delivered = False  # the others still get it now; this one when the record is retried
        return delivered


def _parse(parse: Callable[[dict[str, Any]], Any], image: dict[str, Any]) -> Any:
    try:
        return parse(json.loads(image["body"]["S"]))
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedRecord(f"item without a readable body ({type(error).__name__})") from None
