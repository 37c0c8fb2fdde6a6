"""Stopping the demo (local/demo.py): its own module, as one process holds one local AWS at a time."""

from __future__ import annotations

import os
import socket

import pytest

from local.aws import start_local_aws
from local.demo import Demo, DemoOptions


def test_stopping_frees_the_port_and_gives_the_process_its_environment_back():
    before = os.environ.get("AWS_ENDPOINT_URL")
    demo = Demo(DemoOptions(port=0)).start()
    port = int(demo.base_url.rsplit(":", 1)[1])
    assert os.environ["AWS_ENDPOINT_URL"] == demo.aws.endpoint_url  # type: ignore[union-attr]
    demo.stop()
    assert os.environ.get("AWS_ENDPOINT_URL") == before
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_stopping_gives_the_chatbot_its_deployed_start_up_back():
    from lambdas.chatbot import handler

    deployed = handler.dependencies
    demo = Demo(DemoOptions(port=0)).start()
    assert handler.dependencies is not deployed
    demo.stop()
    assert handler.dependencies is deployed


def test_a_second_local_aws_in_the_process_is_refused_and_the_first_keeps_running():
    demo = Demo(DemoOptions(port=0)).start()
    try:
        with pytest.raises(RuntimeError, match="already running in this process"):
            start_local_aws()
        assert demo.aws is not None and demo.aws.client("dynamodb").describe_table(
            TableName=demo.aws.names["sessions_table"])["Table"]["TableStatus"] == "ACTIVE"
    finally:
        demo.stop()
