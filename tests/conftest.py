"""Test environment: no AWS account, no network. Dummy credentials, no instance-metadata probing.

The fixtures every folder uses:
- `aws`: moto for the test (testing/moto_aws.py): `aws.create(role, name)` makes one of Tandem's resources
  from the synthesized template's own definition; `aws.stub(service)` puts a Stubber where moto cannot serve.
  Every Lambda handler module the test imported starts and ends with nothing built (`dependencies.reset()`),
  so each invocation reads the environment the test set; the link-signing key cache starts empty. A folder
  whose tests read more from it (`aws.outbox`, `aws.store`) overrides `aws` with a fixture that takes this
  one, creates what the folder's function uses, and returns it.
- `moto_config`: moto's configuration for `aws` (a folder or module overrides it, e.g. to run state machines).
- `set_environment`: sets a function's environment variables for the test (None removes one).
- `handler_module`, `lambda_context`, `invoke`, `logs`: the function a folder tests/lambdas/<name>/ is about
  (lambdas/<name>/handler.py), the context Lambda gives it, a call to it as Lambda makes one, and the lines
  its Powertools logger writes.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, Callable, Iterator, Mapping

import botocore.session
import pytest

from lambdas.common import signing
from lambdas.common.startup import reset_handlers
from local.lambda_context import lambda_context as context_for
from testing.log_capture import CapturedLogs, captured
from testing.moto_aws import MotoAws

os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_NAMESPACE": "Tandem",
    "POWERTOOLS_SERVICE_NAME": "tandem-test", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
})

LAMBDA_TESTS = Path(__file__).resolve().parent / "lambdas"


@pytest.fixture(autouse=True, scope="session")
def shared_botocore_loader():
    """moto resets boto3's default session for every test, so every test's clients would parse botocore's
    JSON service models again (most of the Lambda tests' run time). One cached loader shares them."""
    original = botocore.session.create_loader
    botocore.session.create_loader = functools.lru_cache(maxsize=None)(original)
    yield
    botocore.session.create_loader = original


@pytest.fixture
def moto_config() -> dict[str, Any]:
    return {}


@pytest.fixture
def aws(moto_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoAws]:
    monkeypatch.setattr(signing, "_key_cache", {})
    with MotoAws(moto_config) as world:
        reset_handlers()
        yield world
        reset_handlers()


@pytest.fixture
def set_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, str | None]], None]:
    """Sets (or, for None, removes) environment variables for this test; the handlers built before then
    are forgotten, so the next invocation reads them."""

    def apply(values: Mapping[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        reset_handlers()

    return apply


@pytest.fixture
def handler_module(request: pytest.FixtureRequest) -> ModuleType:
    """lambdas/<name>/handler.py for a test under tests/lambdas/<name>/."""
    path = Path(request.path)
    if LAMBDA_TESTS not in path.parents:
        raise pytest.UsageError(f"{path} is not under tests/lambdas/<function>/: it names no function")
    return importlib.import_module(f"lambdas.{path.relative_to(LAMBDA_TESTS).parts[0]}.handler")


@pytest.fixture
def lambda_context(handler_module: ModuleType) -> SimpleNamespace:
    return context_for("tandem-" + handler_module.__name__.split(".")[1].replace("_", "-"))


@pytest.fixture
def invoke(aws: MotoAws, handler_module: ModuleType, lambda_context: SimpleNamespace) -> Callable[[Any], Any]:
    """Calls the real handler with `event`, as Lambda does; what it returns must serialise (Lambda sends it
    on as JSON)."""

    def call(event: Any) -> Any:
        result = handler_module.handler(event, lambda_context)
        json.dumps(result)
        return result

    return call


@pytest.fixture
def logs(handler_module: ModuleType) -> Iterator[CapturedLogs]:
    """Every line the function's Powertools logger writes (it binds its stream when its module is imported,
    so neither capsys nor caplog sees it)."""
    with captured(handler_module.logger) as found:
        yield found
