"""Tandem's AWS on this machine: moto's server, in this process on 127.0.0.1, holding every resource the
stacks define, each made from its synthesized template definition (local/templates.py, local/resources.py):
the sessions table with its stream and indexes, the ratings table, the buckets, the escalation worker's
queue and its dead-letter queue, the outbox's failed-batch queue, the topics, the link-signing secret, and both state
machines from statemachines/*.asl.json with their stacks' DefinitionSubstitutions. Step Functions really
executes the definitions (moto's `execute_state_machine`).

    aws = start_local_aws()                  # cached templates: no synthesis on a warm start
    aws.endpoint_url, aws.names["sessions_table"], aws.state_machines["human_escalation"]
    aws.environment("chatbot", expert_api_url=...)   # what that Lambda handler is given
    aws.stop()

Each function's environment is its settings contract (lambdas/<function>/settings.py), filled in the way its
stack fills it, with the local resources in place of the CDK tokens, plus what Lambda's runtime would give it
(region, credentials) and the local endpoint. tests/local/test_aws.py checks the names against the
synthesized functions' environments.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import string
import urllib.request
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Mapping

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

from lambdas.chat_socket.settings import SocketSettings
from lambdas.chatbot.settings import ChatbotSettings
from lambdas.common.env_settings import EnvSettings
from lambdas.common.rating_files import DEFAULT_PREFIX as RATINGS_PREFIX
from lambdas.escalation_worker.settings import WorkerSettings
from lambdas.expert_api.settings import ExpertApiSettings
from lambdas.rating_api.settings import RatingApiSettings
from lambdas.socket_authorizer.settings import AuthorizerSettings
from lambdas.stream_consumer.settings import ConsumerSettings
from local.cdk_app import ROOT, app_context
from local.resources import MotoResources
from local.templates import ROLES, Definition, Templates, cached
from stacks.config import TandemConfig, load_config

REGION = "us-east-1"
HOST = "127.0.0.1"  # never another interface: the local AWS holds no secrets but answers anyone who asks
# The functions the local runtime runs (the offline loop's other functions run on a schedule or in a labeling
# job, neither of which runs locally).
FUNCTIONS = ("chatbot", "stream_consumer", "escalation_worker", "expert_api", "chat_socket", "socket_authorizer",
             "rating_api")
# What the stacks add beside each function's settings (stacks/constructs/python_function.py names the
# service; every stack that deploys one of FUNCTIONS sets the metrics namespace).
METRICS_NAMESPACE = "Tandem"
LOCAL_SERVICE_NAME = "tandem-local"  # the Powertools service of every function in one local process
STATE_MACHINES_DIR = ROOT / "statemachines"
ACCEPT_WAIT_SUBSTITUTION = "AcceptTimeoutSeconds"  # stacks/escalation_stack.py
REMINDER_SUBSTITUTION = "ExpertReminderSeconds"  # stacks/escalation_stack.py
# botocore's account-based DynamoDB endpoints are not routed by moto (docs/local.md).
CLIENT_CONFIG = Config(account_id_endpoint_mode="disabled")
UNSUPPORTED_TASK_LOGGER = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service." \
                          "state_task_service_unsupported"
_running: LocalAws | None = None  # the one local AWS of this process
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


def local_name(role: str) -> str:
    """The name a resource of `role` gets here (CloudFormation would generate one): "tandem-sessions-table"."""
    return "tandem-" + role.replace("_", "-")


def state_machine_key(definition_text: str) -> str:
    """The statemachines/ file a synthesized definition was loaded from ("human_escalation"), by its text."""
    for path in sorted(STATE_MACHINES_DIR.glob("*.asl.json")):
        if path.read_text() == definition_text:
            return path.name.removesuffix(".asl.json")
    raise KeyError("a state machine's definition is none of statemachines/*.asl.json")


def function_settings(config: TandemConfig, *, sessions_table: str, transcripts_bucket: str, knowledge_bucket: str,
                      experts_topic_arn: str, signing_secret_arn: str, state_machine_arn: str,
                      expert_api_url: str, connections_table: str, live: LiveEndpoints, ratings_table: str,
                      labeling_bucket: str, site_url: str = "") -> dict[str, EnvSettings]:
    """The settings contract of each of FUNCTIONS, filled in from `config` as its stack fills it
    (stacks/chatbot_stack.py, stacks/outbox_stack.py, stacks/escalation_stack.py, stacks/live_stack.py,
    stacks/feedback_stack.py), with
    these resources in place of the CDK tokens; `site_url` (where the web app answers, here) in place of the
    web stack's."""
    return {
        "chatbot": ChatbotSettings.from_config(config, sessions_table=sessions_table, site_url=site_url),
        "stream_consumer": ConsumerSettings(
            sessions_table=sessions_table, transcripts_bucket=transcripts_bucket, state_machine_arn=state_machine_arn,
            start_timeout_seconds=config.escalation_start_timeout_seconds, busy_message=config.busy_message,
            session_ttl_days=config.session_ttl_days, live_endpoint=live.management_url,
            connections_table=connections_table),
        "chat_socket": SocketSettings(connections_table=connections_table),
        "socket_authorizer": AuthorizerSettings(issuer=live.token_issuer, client_ids=[live.client_id]),
        "escalation_worker": WorkerSettings(
            sessions_table=sessions_table, experts_topic_arn=experts_topic_arn, signing_secret_arn=signing_secret_arn,
            expert_api_url=expert_api_url, email_turns=config.email_turns, busy_message=config.busy_message,
            handback_message=config.handback_message, session_ttl_days=config.session_ttl_days,
            site_url=site_url),
        "expert_api": ExpertApiSettings(
            sessions_table=sessions_table, signing_secret_arn=signing_secret_arn, knowledge_bucket=knowledge_bucket,
            knowledge_prefix=config.knowledge_export_prefix, handback_message=config.handback_message,
            resolve_timeout_seconds=config.resolve_timeout_hours * 3600, session_ttl_days=config.session_ttl_days,
            max_reply_chars=config.max_message_chars, redact_pii=config.knowledge_export_redact_pii,
            language_code=config.language_code, site_url=site_url),
        "rating_api": RatingApiSettings(ratings_table=ratings_table, ratings_bucket=labeling_bucket,
                                        ratings_prefix=RATINGS_PREFIX, site_url=site_url),
    }


@dataclass(frozen=True)
class LiveEndpoints:
    """Where the local runtime serves the live channel and the identity that signs its tokens (the demo's own
    server); the defaults leave push off, for a runtime without a server."""

    management_url: str = ""  # the WebSocket stage's @connections API, as the stream consumer posts to it
    token_issuer: str = "http://127.0.0.1/local/cognito"
    client_id: str = "tandem-local-web"


NO_LIVE = LiveEndpoints()


def generated_secret(properties: Mapping[str, Any]) -> str:
    """A value of the shape the definition's GenerateSecretString asks Secrets Manager for."""
    spec = properties.get("GenerateSecretString", {})
    alphabet = string.ascii_letters + string.digits
    if not spec.get("ExcludePunctuation"):
        alphabet += "!#$%&()*+,-./:;<=>?@[]^_{|}~"
    return "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))


@dataclass
class LocalAws:
    """The running local AWS: where it answers, what it holds, and what each function is given."""

    server: ThreadedMotoServer
    endpoint_url: str
    config: TandemConfig
    templates: Templates
    names: dict[str, str] = field(default_factory=dict)  # role -> what its Ref gives (name, queue URL, ARN)
    arns: dict[str, str] = field(default_factory=dict)  # role -> ARN
    state_machines: dict[str, str] = field(default_factory=dict)  # statemachines/<key>.asl.json -> ARN
    region: str = REGION
    _session: boto3.session.Session | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _previous_sfn_config: dict[str, Any] | None = None
    _previous_moto_port: str | None = None

    def client(self, service: str) -> Any:
        """A boto3 client on the local endpoint (independent of this process's environment), one per service."""
        if service in self._clients:
            return self._clients[service]
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"], region_name=self.region)
        self._clients[service] = self._session.client(service, endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)
        return self._clients[service]

    def runtime_environment(self) -> dict[str, str]:
        """What every function gets besides its own variables: what Lambda's runtime sets (region, credentials)
        and what points it at the local AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url, **DUMMY_CREDENTIALS,
            "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled", "AWS_EC2_METADATA_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon here
        }

    def function_environment(self, function: str, *, expert_api_url: str, live: LiveEndpoints = NO_LIVE,
                             site_url: str = "") -> dict[str, str]:
        """The variables `function`'s stack gives it, with the local resources' names and ARNs."""
        contracts = function_settings(
            self.config, sessions_table=self.names["sessions_table"],
            transcripts_bucket=self.names["transcripts_bucket"], knowledge_bucket=self.names["knowledge_bucket"],
            experts_topic_arn=self.names["experts_topic"], signing_secret_arn=self.names["link_signing_secret"],
            state_machine_arn=self.state_machines["human_escalation"], expert_api_url=expert_api_url,
            connections_table=self.names["connections_table"], live=live,
            ratings_table=self.names["ratings_table"], labeling_bucket=self.names["labeling_bucket"],
            site_url=site_url)
        return {"POWERTOOLS_SERVICE_NAME": f"tandem-{function}", **contracts[function].to_env(),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE}

    def environment(self, function: str, *, expert_api_url: str, live: LiveEndpoints = NO_LIVE
                    ) -> dict[str, str]:
        """Everything `function`'s handler finds in its environment here."""
        return {**self.runtime_environment(),
                **self.function_environment(function, expert_api_url=expert_api_url, live=live)}

    def process_environment(self, *, expert_api_url: str, live: LiveEndpoints = NO_LIVE,
                            site_url: str = "") -> dict[str, str]:
        """The environment of one process running all of FUNCTIONS: the union of theirs. Where two functions
        read the same variable their stacks give it the same value (checked); the service name, the one
        variable that differs, is LOCAL_SERVICE_NAME (each log line names its function through the Lambda
        context)."""
        union = self.runtime_environment()
        for function in FUNCTIONS:
            own = self.function_environment(function, expert_api_url=expert_api_url, live=live, site_url=site_url)
            own.pop("POWERTOOLS_SERVICE_NAME")
            for name, value in own.items():
                if union.setdefault(name, value) != value:
                    raise ValueError(f"two functions give {name} different values")
        return {**union, "POWERTOOLS_SERVICE_NAME": LOCAL_SERVICE_NAME}

    def stop(self) -> None:
        """Stops every running execution, forgets every resource and stops the server."""
        sfn = self.client("stepfunctions")
        for arn in self.state_machines.values():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                for execution in page["executions"]:
                    sfn.stop_execution(executionArn=execution["executionArn"])
        _post(self.endpoint_url, "/moto-api/reset", {})
        _post(self.endpoint_url, "/moto-api/config", {"stepfunctions": self._previous_sfn_config or
                                                      {"execute_state_machine": False}})
        self.server.stop()
        global _running
        if _running is self:
            _running = None
        if self._previous_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._previous_moto_port


def start_local_aws(*, templates: Templates | None = None, port: int = 0, accept_wait_seconds: int | None = None,
                    **overrides: Any) -> LocalAws:
    """Starts the server on 127.0.0.1 (`port` 0: any free one) and creates every resource of the templates
    (by default the app's with cdk.json's context and `overrides`, from the template cache).

    `accept_wait_seconds` shortens the escalation workflow's wait for an accept below the configuration's
    whole minutes (its AcceptTimeoutSeconds substitution), so the demo and its tests can reach the time-out;
    the experts' reminders then come at a third of it (reminder_seconds)."""
    from moto.core.config import default_user_config  # moto's process-wide settings, restored by stop()

    global _running
    if _running is not None:
        raise RuntimeError("a local AWS is already running in this process: moto keeps one state per process, "
                           "so stop it first")
    config = load_config(app_context(**overrides))
    templates = templates or cached(**overrides)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the server's line per request
    # moto warns, creating the fine-tuning pipeline, that it cannot run its SageMaker task: known (docs/local.md).
    logging.getLogger(UNSUPPORTED_TASK_LOGGER).setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    aws = LocalAws(server=server, endpoint_url=f"http://{host}:{bound}", config=config, templates=templates,
                   _previous_sfn_config=dict(default_user_config.get("stepfunctions", {})),
                   _previous_moto_port=os.environ.get("MOTO_PORT"))
    # A state machine's service tasks call the server at localhost:$MOTO_PORT (moto reads it at each call):
    # one local AWS per process.
    os.environ["MOTO_PORT"] = str(bound)
    _running = aws
    try:
        _post(aws.endpoint_url, "/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        _create_resources(aws, accept_wait_seconds)
    except BaseException:
        aws.stop()
        raise
    return aws


def _create_resources(aws: LocalAws, accept_wait_seconds: int | None) -> None:
    resources = MotoResources(aws.templates, aws.client, aws.region)
    for role in ROLES:
        definition = aws.templates.definition(role)
        created = resources.created(definition)  # a dead-letter queue is made with the queue that uses it
        if created is None:
            secret = generated_secret(definition.properties) if definition.type == "AWS::SecretsManager::Secret" \
                else None
            created = resources.create(definition, local_name(role), secret_string=secret)
        aws.names[role], aws.arns[role] = created.ref, created.arn
    for definition in aws.templates.of_type("AWS::StepFunctions::StateMachine"):
        key = state_machine_key(definition.properties["DefinitionString"])
        if key == "human_escalation" and accept_wait_seconds is not None:
            definition = with_substitution(definition, ACCEPT_WAIT_SUBSTITUTION, str(accept_wait_seconds))
            definition = with_substitution(definition, REMINDER_SUBSTITUTION,
                                           str(reminder_seconds(aws.config, accept_wait_seconds)))
        aws.state_machines[key] = resources.create(definition, local_name(key)).arn


def reminder_seconds(config: TandemConfig, accept_wait_seconds: int) -> int:
    """The reminder interval for a shortened wait: a third of it in whole seconds, so a wait of half a minute
    still shows reminders; 0 (none) when the configuration has none or the wait is under 3 s."""
    return accept_wait_seconds // 3 if config.expert_reminder_minutes else 0


def with_substitution(definition: Definition, key: str, value: str) -> Definition:
    """The state machine's definition with one DefinitionSubstitutions value replaced (KeyError if it has none)."""
    substitutions = dict(definition.properties.get("DefinitionSubstitutions", {}))
    if key not in substitutions:
        raise KeyError(f"{definition.path} has no substitution {key}")
    return replace(definition, properties={**definition.properties,
                                           "DefinitionSubstitutions": {**substitutions, key: value}})


def _post(endpoint_url: str, path: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(endpoint_url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@contextlib.contextmanager
def environment_applied(values: Mapping[str, str]) -> Iterator[None]:
    """Sets these variables in this process's environment for the block, then puts back what was there."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

