"""A Python Lambda function bundled with pip on the build machine: no Docker needed.

The asset is a `lambdas` package holding the function's own folder and `lambdas/common`, plus the
packages of `lambdas/<name>/requirements.lock` (every package pinned, resolved from requirements.txt)
installed for the Lambda platform: manylinux wheels for the runtime's Python version and architecture. The handler is therefore
`lambdas.<name>.handler.handler`, the same import path the tests use.

Stack tests skip bundling with the CDK context `"aws:cdk:bundling-stacks": []`; the asset then points at
the source folder and nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

import jsii
from aws_cdk import BundlingOptions, Duration, ILocalBundling, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS
from stacks.constructs.nag import acknowledge

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python runtime aws-cdk-lib offers
ARCHITECTURE = lambda_.Architecture.ARM_64  # Graviton: cheaper per GB-second than x86_64

_PIP_PLATFORMS = {
    # Lambda's Python 3.12+ runtimes run on Amazon Linux 2023 (glibc 2.34): manylinux_2_28 wheels and older.
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
# Files a running function never reads; dropping them keeps the bundle (and the cold start) lean.
_PRUNE_DIRS = ("__pycache__", "tests", "test")
DEFAULT_TIMEOUT = Duration.seconds(30)


def _ignore_sources(_dir: str, names: list[str]) -> set[str]:
    return {n for n in names if n == "__pycache__" or n.endswith(".pyc")}


@jsii.implements(ILocalBundling)
class PipBundler:
    """Installs one function's requirements with pip and copies its code; one instance per asset."""

    def __init__(self, function_dir: Path, *, runtime: lambda_.Runtime, architecture: lambda_.Architecture):
        self.function_dir = function_dir
        self.python_version = runtime.name.removeprefix("python")
        self.platforms = _PIP_PLATFORMS[architecture.name]

    def pip_command(self, output_dir: str, *, requirements: Path | None = None) -> list[str]:
        """pip for the Lambda platform. By default it installs the function's lock exactly (--no-deps):
        tools/lock_lambda_requirements.py resolves requirements.txt into it."""
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--no-compile", "--only-binary=:all:", "--implementation", "cp",
                   "--python-version", self.python_version, "--target", output_dir]
        for platform in self.platforms:
            command += ["--platform", platform]
        if requirements is None:
            return [*command, "--no-deps", "--requirement", str(self.function_dir / "requirements.lock")]
        return [*command, "--requirement", str(requirements)]

    def try_bundle(self, output_dir: str, *, image, **_options) -> bool:
        subprocess.run(self.pip_command(output_dir), check=True)
        package = Path(output_dir) / "lambdas"
        package.mkdir(exist_ok=True)
        shutil.copy2(LAMBDAS_DIR / "__init__.py", package / "__init__.py")
        for source in (LAMBDAS_DIR / "common", self.function_dir):
            shutil.copytree(source, package / source.name, ignore=_ignore_sources, dirs_exist_ok=True)
        for pattern in _PRUNE_DIRS:
            for path in list(Path(output_dir).rglob(pattern)):
                if path.is_dir() and path.parent.name != "lambdas":
                    shutil.rmtree(path, ignore_errors=True)
        return True


def function_code(name: str, *, runtime: lambda_.Runtime = RUNTIME,
                  architecture: lambda_.Architecture = ARCHITECTURE) -> lambda_.Code:
    """The asset for `lambdas/<name>`; its hash covers only that folder, `common` and the requirements."""
    function_dir = LAMBDAS_DIR / name
    missing = [f for f in ("handler.py", "requirements.txt", "requirements.lock") if not (function_dir / f).is_file()]
    if missing:
        raise ValueError(f"lambdas/{name} lacks {', '.join(missing)} (the lock: python -m tools.lock_lambda_requirements {name})")
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR),
        exclude=["*", "!__init__.py", f"!{name}", f"!{name}/**", "!common", "!common/**",
                 "**/__pycache__", "**/*.pyc"],
        bundling=BundlingOptions(
            image=runtime.bundling_image,
            # The Docker fallback is never used here (no Docker engine): the local bundler always answers.
            command=["bash", "-c", "echo 'bundled locally by PipBundler' && exit 1"],
            local=PipBundler(function_dir, runtime=runtime, architecture=architecture),
        ),
    )


class PythonFunction(Construct):
    """A traced Python Lambda with its own log group (retention, removed with the stack).

    Exposes `function`, `role`, `log_group` and `alias` (the alias is set when SnapStart is on: callers must
    invoke the alias, because SnapStart only applies to published versions).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        description: str,
        environment: Mapping[str, str] | None = None,
        memory_size: int = 512,
        timeout: Duration = DEFAULT_TIMEOUT,
        log_retention_days: int = 30,
        snapstart: bool = False,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs",
            retention=retention(log_retention_days),
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Our own role instead of AWSLambdaBasicExecutionRole: it may write to this log group only.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=f"Tandem {name} function")
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self, "Function",
            role=self.role,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"lambdas.{name}.handler.handler",
            code=function_code(name),
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={"POWERTOOLS_SERVICE_NAME": f"tandem-{name}", **(environment or {})},
            reserved_concurrent_executions=reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if snapstart else None,
            recursive_loop=lambda_.RecursiveLoop.TERMINATE,
        )
        acknowledge(
            self.role, "AwsSolutions-IAM5[Resource::*]",
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions; Lambda "
            "active tracing needs them on '*'. They only write trace data and read nothing.",
        )
        self.alias: lambda_.Alias | None = None
        if snapstart:
            self.alias = lambda_.Alias(self, "Live", alias_name="live", version=self.function.current_version)
            acknowledge(
                self.function, "Annotation::@aws-cdk/aws-lambda:snapStartRequirePublish",
                "Every deploy publishes a version (current_version) and points the 'live' alias at it; callers "
                "invoke the alias, so SnapStart always applies.",
            )

    @property
    def invocable(self) -> lambda_.IFunction:
        """What an integration should call: the SnapStart alias when there is one, else the function."""
        return self.alias or self.function


def retention(days: int) -> logs.RetentionDays:
    """The RetentionDays member for a day count CloudWatch accepts (config.py validated the number)."""
    members = [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE]
    # Both lists are in ascending order of days; a stack test checks the synthesized RetentionInDays.
    return dict(zip(LOG_RETENTION_DAYS, members, strict=True))[days]
