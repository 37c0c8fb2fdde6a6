"""Verifies an Amazon Cognito ID token the way AWS documents it
(https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-tokens-verifying-a-jwt.html):
the RS256 signature with the user pool's key named by the token's `kid` (from the pool's JWKS), `iss` is the
pool, `aud` one of the app clients, `token_use` is `id`, and `exp` has not passed.

The key set is fetched once and kept; a token signed with a key it does not know makes it fetch again (the
pool rotated its keys), at most once a minute, so a flood of forged `kid`s cannot make it hammer Cognito.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

import jwt

JWKS_PATH = "/.well-known/jwks.json"
REFETCH_INTERVAL_SECONDS = 60
FETCH_TIMEOUT_SECONDS = 3
# Clock skew tolerated between Cognito and this function.
LEEWAY_SECONDS = 30


class InvalidToken(ValueError):
    """The token is not a valid ID token of this pool and clients; the message says which check failed."""


@dataclass(frozen=True)
class Identity:
    sub: str
    email: str
    username: str
    groups: tuple[str, ...]


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return json.loads(response.read())


def cognito_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class IdTokenVerifier:
    def __init__(self, *, issuer: str, audiences: list[str], fetch: Callable[[str], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.time):
        if not audiences:
            raise ValueError("at least one app client id is needed to check a token's audience")
        self.issuer = issuer.rstrip("/")
        self.audiences = list(audiences)
        self._fetch = fetch or fetch_json
        self._clock = clock
        self._keys: dict[str, Any] = {}
        self._fetched_at: float | None = None
        self._lock = threading.Lock()

    def verify(self, token: str) -> Identity:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("not a JWT") from None
        if header.get("alg") != "RS256":
            raise InvalidToken("not signed with RS256")
        key = self._key(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token, key, algorithms=["RS256"], audience=self.audiences, issuer=self.issuer,
                leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]})
        except jwt.ExpiredSignatureError:
            raise InvalidToken("expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("issued to another app client") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("issued by another user pool") from None
        except jwt.PyJWTError as error:
            raise InvalidToken(f"rejected ({type(error).__name__})") from None
        if claims["token_use"] != "id":
            raise InvalidToken(f"a {claims['token_use']} token, not an ID token")
        groups = claims.get("cognito:groups") or []
        return Identity(sub=claims["sub"], email=str(claims.get("email", "")),
                        username=str(claims.get("cognito:username", claims["sub"])),
                        groups=tuple(str(g) for g in groups) if isinstance(groups, list) else (str(groups),))

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys and self._may_fetch():
                self._fetched_at = self._clock()
                try:
                    keys = jwt.PyJWKSet.from_dict(self._fetch(self.issuer + JWKS_PATH)).keys
                except Exception as error:  # noqa: BLE001 (an unreachable key set rejects, never admits)
                    raise InvalidToken(f"the user pool's keys could not be read ({type(error).__name__})") from None
                self._keys = {k.key_id: k.key for k in keys if k.key_id}
            if kid not in self._keys:
                raise InvalidToken("signed with a key the user pool does not have")
            return self._keys[kid]

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_INTERVAL_SECONDS
