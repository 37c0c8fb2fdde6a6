"""A moto user pool for the authorizer's tests (testing/cognito.py)."""

from __future__ import annotations

import pytest

from testing.cognito import MotoUserPool


@pytest.fixture
def pool(aws, set_environment) -> MotoUserPool:
    """The pool, and the function's environment naming it (its issuer and the web client)."""
    pool = MotoUserPool()
    set_environment({"TOKEN_ISSUER": pool.issuer, "TOKEN_AUDIENCES": pool.client_id})
    return pool


@pytest.fixture(autouse=True)
def keys_through_moto(monkeypatch):
    """The function reads the pool's keys with urllib, which moto does not intercept; `requests` it does."""
    from lambdas.socket_authorizer import id_tokens
    from testing import cognito

    monkeypatch.setattr(id_tokens, "fetch_json", cognito.fetch_json)
