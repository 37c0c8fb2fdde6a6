"""The WebSocket authorizer's settings: the environment stacks/live_stack.py gives the function."""

from __future__ import annotations

from dataclasses import dataclass, field

from lambdas.common.env_settings import TEXT, EnvSettings, Variable, comma_list


@dataclass(frozen=True)
class AuthorizerSettings(EnvSettings):
    # The user pool's issuer URL, https://cognito-idp.<region>.amazonaws.com/<pool id> (the local demo's own
    # stand-in issuer when it runs locally).
    issuer: str = field(metadata=Variable("TOKEN_ISSUER", TEXT))
    # The app clients whose ID tokens may connect (a token's `aud`).
    client_ids: list[str] = field(metadata=Variable("TOKEN_AUDIENCES", comma_list("app client ids")))
