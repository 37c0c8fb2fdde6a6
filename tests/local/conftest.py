"""The local runtime's tests: one local AWS per module (moto's server on 127.0.0.1 with every resource of the
app's templates, synthesized once per process), this process's environment set as local/aws.py sets it for
the handlers, and each handler module's start-up forgotten before and after.

- `local_aws`: the running LocalAws of the module;
- `local_environment`: the handlers' environment applied (the expert API's URL is EXPERT_API_URL);
- `bedrock`: the chatbot's bedrock-runtime client under a Stubber (queue one reply per answer).
"""

from __future__ import annotations

from typing import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.common import clients
from lambdas.common.startup import reset_handlers
from local.aws import LocalAws, environment_applied, start_local_aws
from local.identity import ISSUER_PATH, LocalCognito
from local.templates import synthesized

BASE_URL = "http://127.0.0.1:8765"  # where a test's gateway would listen (TestClient needs no port)
EXPERT_API_URL = f"{BASE_URL}/experts/"
# The local sign-in the tests' gateways trust (the demo makes its own when it starts).
IDENTITY = LocalCognito(issuer=f"{BASE_URL}{ISSUER_PATH}")


def signed_in(name: str) -> dict[str, str]:
    """The header a page signed in as `name` sends: a local ID token."""
    return {"Authorization": IDENTITY.sign_in(name)}


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    aws = start_local_aws(templates=synthesized())
    yield aws
    aws.stop()


@pytest.fixture(scope="module")
def local_environment(local_aws: LocalAws) -> Iterator[dict[str, str]]:
    environment = local_aws.process_environment(expert_api_url=EXPERT_API_URL)
    with environment_applied(environment):
        clients.reset()
        reset_handlers()
        yield environment
        reset_handlers()
        clients.reset()


@pytest.fixture
def bedrock(local_environment: dict[str, str]) -> Iterator[Stubber]:
    """Installed before the chatbot builds its model (which takes the client from lambdas/common/clients.py)."""
    from lambdas.chatbot import handler as chatbot_handler

    stubber = Stubber(boto3.client("bedrock-runtime"))
    stubber.activate()
    clients.set_client("bedrock-runtime", stubber.client)
    chatbot_handler.dependencies.reset()
    yield stubber
    stubber.deactivate()
    chatbot_handler.dependencies.reset()
