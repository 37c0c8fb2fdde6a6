"""Fixtures for the shared Lambda code: a SessionStore over moto's sessions table."""

from __future__ import annotations

import pytest

from lambdas.common.session_store import SessionStore

TABLE = "tandem-sessions-unit"
BUCKET = "tandem-transcripts-unit"


@pytest.fixture
def store(aws) -> SessionStore:
    """The store over the sessions table, with the transcripts bucket beside it as deployed."""
    aws.create("sessions_table", TABLE)
    aws.create("transcripts_bucket", BUCKET)
    return SessionStore(table_name=TABLE, ttl_days=30)
