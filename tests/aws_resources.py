"""The AWS resources the stacks create, made in moto with the same keys, for tests of the Lambda code."""

from __future__ import annotations

from typing import Any


def create_sessions_table(ddb: Any, name: str) -> None:
    """DataStack's sessions table: partition key session_id, sort key sk, and its stream (the outbox)."""
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "session_id", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "session_id", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
