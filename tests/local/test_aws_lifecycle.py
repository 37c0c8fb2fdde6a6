"""local/aws.py: what starting the local AWS changes in this process (moto's Step Functions execution, the
port its service tasks call) is put back when it stops, and nothing it made outlives it."""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
from moto.core.config import default_user_config

from local.aws import start_local_aws
from local.templates import synthesized


def test_stopping_puts_back_what_starting_changed(monkeypatch):
    monkeypatch.setenv("MOTO_PORT", "5999")
    before = dict(default_user_config["stepfunctions"])

    aws = start_local_aws(templates=synthesized())
    port = aws.endpoint_url.rsplit(":", 1)[1]
    running = (os.environ["MOTO_PORT"], dict(default_user_config["stepfunctions"]))
    tables = aws.client("dynamodb").list_tables()["TableNames"]
    aws.stop()

    assert running == (port, {"execute_state_machine": True})
    assert sorted(tables) == sorted(aws.names[role] for role in ("connections_table", "ratings_table", "sessions_table"))
    assert os.environ["MOTO_PORT"] == "5999"
    assert default_user_config["stepfunctions"] == before == {"execute_state_machine": False}
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(aws.endpoint_url, timeout=2)
    from moto.backends import get_backend

    assert list(get_backend("dynamodb")["123456789012"]["us-east-1"].tables) == []  # moto's state is reset
