"""A Standard state machine whose definition is a file under statemachines/, loaded inline.

Both workflows (stacks/escalation_stack.py, stacks/finetune_stack.py) are built this way: the definition
stays a reviewable file executed for real in tests/statemachines, `DefinitionBody.from_string` keeps it in
the template (tests and cfn-lint see it; `from_file` would upload it as an asset), and the stack fills its
${Placeholders} with `definition_substitutions`. CDK adds no IAM for such a definition: the caller's role
must hold every integration. States are logged, execution data never is (it can hold task tokens or
dataset locations), and executions are traced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.nag import acknowledge
from stacks.constructs.python_function import retention


def standard_workflow(scope: Construct, construct_id: str, *, definition: Path, substitutions: Mapping[str, str],
                      role: iam.Role, log_retention_days: int, logs_id: str) -> sfn.StateMachine:
    """`definition` is a file of statemachines/. No whole-execution timeout: CDK applies `timeout` only to
    definitions it builds, so a definition bounds its own waits (TimeoutSeconds on its tasks)."""
    log_group = logs.LogGroup(scope, logs_id, retention=retention(log_retention_days),
                              removal_policy=RemovalPolicy.DESTROY)
    machine = sfn.StateMachine(
        scope, construct_id,
        state_machine_type=sfn.StateMachineType.STANDARD,  # callbacks and .sync jobs need Standard
        definition_body=sfn.DefinitionBody.from_string(definition.read_text()),
        definition_substitutions=dict(substitutions),
        role=role,
        tracing_enabled=True,
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
    )
    acknowledge(
        role, "AwsSolutions-IAM5[Resource::*]",
        "Step Functions' log delivery (logs:CreateLogDelivery and related) and X-Ray tracing actions support "
        "no resource-level permissions; CDK adds them for the workflow's own log group and traces.",
    )
    return machine
