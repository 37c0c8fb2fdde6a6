"""Who is connected to the live channel: one item per WebSocket connection in the connections table.

Table layout (stacks/live_stack.py; partition key `connection_id`, TTL attribute `expires_at`):
- `connection_id`  API Gateway's id for the connection (what @connections posts to)
- `listener`       whose events it receives: `customer#<Cognito sub>` or `expert#<email>` (GSI `by-listener`)
- `room`           `inbox` on an expert's inbox connection only (sparse GSI `by-room`): escalation events
- `connected_at`, `expires_at`

A connection is deleted on $disconnect and when a push finds it gone (GoneException). API Gateway closes a
WebSocket after two hours at most, so the TTL removes, a little later, any item whose $disconnect was lost.
Experts are named by their email, as the signed email links name them, so a conversation an expert took
over by link or in the inbox reaches the same connections.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from lambdas.common import clients

BY_LISTENER = "by-listener"
BY_ROOM = "by-room"
INBOX: Final = "inbox"
# API Gateway's maximum connection duration is 2 hours; the item outlives it by a margin.
CONNECTION_TTL_SECONDS = 3 * 3600
Room = Literal["chat", "inbox"]


def customer_listener(customer_id: str) -> str:
    return f"customer#{customer_id}"


def expert_listener(email: str) -> str:
    return f"expert#{email.lower()}"


@dataclass(frozen=True)
class Connection:
    connection_id: str
    listener: str
    room: Room = "chat"


class ConnectionStore:
    def __init__(self, *, table_name: str, clock: Any = time.time):
        self.table_name = table_name
        self.clock = clock

    def _ddb(self) -> Any:
        return clients.client("dynamodb")

    def add(self, connection: Connection) -> None:
        now = int(self.clock())
        item = {"connection_id": {"S": connection.connection_id}, "listener": {"S": connection.listener},
                "connected_at": {"N": str(now)}, "expires_at": {"N": str(now + CONNECTION_TTL_SECONDS)}}
        if connection.room == INBOX:
            item["room"] = {"S": INBOX}
        self._ddb().put_item(TableName=self.table_name, Item=item)

    def remove(self, connection_id: str) -> None:
        self._ddb().delete_item(TableName=self.table_name, Key={"connection_id": {"S": connection_id}})

    def listening(self, listener: str) -> list[str]:
        """The connections of one customer or one expert."""
        return self._query(BY_LISTENER, "listener", listener)

    def in_room(self, room: Room) -> list[str]:
        """The connections that asked for a room's events (the experts' inbox)."""
        return self._query(BY_ROOM, "room", room)

    def _query(self, index: str, key: str, value: str) -> list[str]:
        request = {"TableName": self.table_name, "IndexName": index,
                   "KeyConditionExpression": "#k = :v", "ExpressionAttributeNames": {"#k": key},
                   "ExpressionAttributeValues": {":v": {"S": value}}, "ProjectionExpression": "connection_id, expires_at"}
        now = int(self.clock())
        found: list[str] = []
        while True:
            page = self._ddb().query(**request)
            # An item the TTL has not removed yet is a connection that cannot be open any more.
            found += [i["connection_id"]["S"] for i in page["Items"]
                      if int(i.get("expires_at", {}).get("N", now + 1)) > now]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
