"""Fixtures for the tools' tests: the replay tool works on the outbox's world (moto's sessions table with its
stream, the transcripts bucket, a workflow)."""

from tests.lambdas.stream_consumer.conftest import aws  # noqa: F401 (re-exported as this folder's fixture)
