"""The Lambda context object a handler is given by the tests and by the local runtime (local/gateway.py,
local/pollers.py): what Powertools reads from it (name, memory, ARN, request id, remaining time), for one of
Tandem's functions."""

from __future__ import annotations

from types import SimpleNamespace


def lambda_context(function_name: str, *, memory_mb: int = 512, remaining_ms: int = 28_000,
                   request_id: str = "req-1", account: str = "123456789012",
                   qualifier: str | None = None) -> SimpleNamespace:
    arn = f"arn:aws:lambda:us-east-1:{account}:function:{function_name}" + (f":{qualifier}" if qualifier else "")
    return SimpleNamespace(function_name=function_name, memory_limit_in_mb=memory_mb, aws_request_id=request_id,
                           invoked_function_arn=arn, get_remaining_time_in_millis=lambda: remaining_ms)
