"""AWS clients, created once per execution environment and swappable in tests.

Every AWS call in the Lambdas goes through `client(service)`, so a test can hand in a client wrapped in
botocore's Stubber (`set_client`) or let moto intercept the default one. Clients are cached because
creating one costs tens of milliseconds of a cold start; under SnapStart they are created during init
and land in the snapshot. A `purpose` keeps two clients of one service apart when they need different
retry settings (the chatbot's answer and its gate both call Bedrock).
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}
_configs: dict[tuple[str, str], Config] = {}
_endpoints: dict[tuple[str, str], str] = {}
_session: boto3.session.Session | None = None


def configure(service: str, config: Config, *, purpose: str = "default", endpoint_url: str | None = None) -> None:
    """Sets the botocore config (retries, time-outs) for a client not created yet, and its endpoint when the
    service has one per resource (API Gateway's @connections API is served by each WebSocket API's stage)."""
    with _lock:
        _configs[(service, purpose)] = config
        if endpoint_url is not None:
            _endpoints[(service, purpose)] = endpoint_url


def client(service: str, *, purpose: str = "default") -> Any:
    key = (service, purpose)
    cached = _clients.get(key)
    if cached is not None:
        return cached
    global _session
    with _lock:  # the chatbot creates clients from two threads at once
        if key not in _clients:
            # One session for all clients: it parses each botocore service model once, not once per client.
            _session = _session or boto3.session.Session()
            _clients[key] = _session.client(service, config=_configs.get(key), endpoint_url=_endpoints.get(key))
        return _clients[key]


def set_client(service: str, value: Any, *, purpose: str = "default") -> None:
    """Replaces a client (tests: a Stubber-wrapped client)."""
    with _lock:
        _clients[(service, purpose)] = value


def reset() -> None:
    """Forgets every client and config (tests: a fresh moto context needs fresh clients)."""
    global _session
    with _lock:
        _session = None
        _clients.clear()
        _configs.clear()
        _endpoints.clear()
