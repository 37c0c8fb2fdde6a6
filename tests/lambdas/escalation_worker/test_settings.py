"""The worker's settings: the expert API's URL the mailed links start with is https, except the local
runtime's pages on this machine's loopback address."""

from __future__ import annotations

import pytest

from lambdas.common.env_settings import SettingsError
from lambdas.escalation_worker.settings import WorkerSettings
from tests.lambdas.escalation_worker.conftest import worker_environment


def settings_with(url: str) -> WorkerSettings:
    environment = worker_environment(table="tandem-sessions", topic_arn="arn:aws:sns:us-east-1:123456789012:experts",
                                     secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:key")
    return WorkerSettings.from_env({**environment, "EXPERT_API_URL": url})


@pytest.mark.parametrize("url", [
    "https://abcdef1234.execute-api.us-east-1.amazonaws.com/experts/",
    "http://127.0.0.1:8000/experts/",
    "http://localhost:8765/",
])
def test_links_may_point_at_https_or_at_this_machine(url):
    assert settings_with(url).expert_api_url == url


@pytest.mark.parametrize("url", [
    "http://experts.example.com/prod/",  # plain http anywhere else would send signed links in the clear
    "http://127.0.0.1.example.com/experts/",
    "http://localhost@example.com/",
    "http://127.0.0.1:8000@example.com/",
    "https://experts.example.com/prod",  # links are the URL followed by "escalations/..."
    "ftp://127.0.0.1/",
])
def test_other_urls_are_refused_by_name(url):
    with pytest.raises(SettingsError, match="EXPERT_API_URL"):
        settings_with(url)
