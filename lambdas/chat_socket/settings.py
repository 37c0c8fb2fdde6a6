"""The live channel's connection handler's settings: the environment stacks/live_stack.py gives it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import CONNECTIONS_TABLE, EnvSettings


@dataclass(frozen=True)
class SocketSettings(EnvSettings):
    connections_table: str = field(metadata=CONNECTIONS_TABLE)
