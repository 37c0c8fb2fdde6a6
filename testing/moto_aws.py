"""moto for one test or one benchmark: `with MotoAws() as aws:` starts the mock, forgets the Lambdas' cached
clients (lambdas/common/clients.py) on the way in and out, and offers

- `aws.create(role, name)`: one of Tandem's resources as its stack defines it (local/resources.py);
- `aws.stub(service, purpose=...)`: a botocore Stubber installed as that Lambda client, for what moto does
  not serve (Bedrock, Comprehend, SageMaker's labeling jobs) or where a test dictates each answer; a Stubber
  with nothing queued fails any call, so a test that queues nothing also proves the call was not made;
- boto3 clients on the mock, made on first use: `aws.ddb`, `aws.s3`, `aws.sqs`, `aws.sns`, `aws.sfn`,
  `aws.secrets`.

A test folder may keep its own handles on the object (`aws.store = SessionStore(...)`).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber
from moto import mock_aws

from lambdas.common import clients
from local.resources import MotoResources
from local.templates import synthesized

REGION = "us-east-1"
CLIENTS = {"ddb": "dynamodb", "s3": "s3", "sqs": "sqs", "sns": "sns", "sfn": "stepfunctions",
           "secrets": "secretsmanager"}


class MotoAws:
    def __init__(self, config: dict[str, Any] | None = None):
        self._mock = mock_aws(config=config)  # type: ignore[arg-type]  # moto types its config as a TypedDict
        self._stubbers: list[Stubber] = []
        self._clients: dict[str, Any] = {}
        self._resources: MotoResources | None = None

    def __enter__(self) -> MotoAws:
        self._mock.start()
        clients.reset()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for stubber in self._stubbers:
            stubber.deactivate()
        self._clients.clear()
        clients.reset()
        self._mock.stop()

    def __getattr__(self, name: str) -> Any:
        """The boto3 clients of CLIENTS, made when first read (a test may replace one, e.g. by a Stubber)."""
        if name not in CLIENTS:
            raise AttributeError(name)
        client = self.client(CLIENTS[name])
        setattr(self, name, client)
        return client

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION)
        return self._clients[service]

    def create(self, role: str, name: str, *, secret_string: str | None = None) -> str:
        """Creates the resource of `role` (local/templates.py ROLES) named `name`; returns what the
        template's Ref gives (a table's or bucket's name, a queue's URL, a topic's or secret's ARN)."""
        templates = synthesized()
        if self._resources is None:
            self._resources = MotoResources(templates, self.client, REGION)
        return self._resources.create(templates.definition(role), name, secret_string=secret_string).ref

    def stub(self, service: str, *, purpose: str = "default") -> Stubber:
        client = boto3.client(service, region_name=REGION)
        stubber = Stubber(client)
        stubber.activate()
        clients.set_client(service, client, purpose=purpose)
        self._stubbers.append(stubber)
        return stubber
