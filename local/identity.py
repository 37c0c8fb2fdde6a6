"""Stands in for Amazon Cognito on this machine, named as such: it signs in a local user by name (no password)
and issues RS256 ID tokens shaped like a user pool's, signed with a key made when the demo starts and served
as the pool's key set (`/local/cognito/.well-known/jwks.json`).

The point is that everything downstream is the deployed code: the live channel's authorizer
(lambdas/socket_authorizer) fetches these keys and verifies these tokens exactly as it verifies Cognito's, and
the local API Gateway checks the `Authorization` header with the same verifier before it passes the claims a
Cognito authorizer passes. Only the sign-in itself is simulated. The demo answers 127.0.0.1 only
(docs/local.md), so a name is enough.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from lambdas.socket_authorizer.id_tokens import IdTokenVerifier, InvalidToken

ISSUER_PATH = "/local/cognito"
CLIENT_ID = "tandem-local-web"  # the local app client: the `aud` of every local token
KEY_ID = "tandem-local"
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
GROUPS = ("experts", "raters", "rating-admins")  # the user pool's groups (stacks/chatbot_stack.py)
TOKEN_SECONDS = 12 * 3600  # a demo session: longer than Cognito's hour, so a demo never signs anyone out


class SignInRefused(ValueError):
    """The name or a group is not one the local sign-in takes; the message says which."""


@dataclass
class LocalCognito:
    issuer: str  # <demo base URL>/local/cognito; a user pool's is https://cognito-idp.<region>.amazonaws.com/<id>
    client_id: str = CLIENT_ID
    _key: Any = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      repr=False)

    def sign_in(self, name: str, groups: list[str] | tuple[str, ...] = ()) -> str:
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise SignInRefused("name: use up to 64 letters, digits, dots, dashes or underscores")
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise SignInRefused(f"groups: {', '.join(map(str, unknown))} is not one of {', '.join(GROUPS)}")
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": self.sub(name), "aud": self.client_id, "iss": self.issuer, "token_use": "id",
            "email": f"{name}@tandem.localhost", "email_verified": True, "cognito:username": name,
            "iat": now, "auth_time": now, "exp": now + TOKEN_SECONDS, "jti": str(uuid.uuid4()),
        }
        if groups:
            claims["cognito:groups"] = list(dict.fromkeys(groups))
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": KEY_ID})

    def sub(self, name: str) -> str:
        """The same name is always the same user (the customer id of their sessions)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/{name}"))

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    def verifier(self) -> IdTokenVerifier:
        return IdTokenVerifier(issuer=self.issuer, audiences=[self.client_id], fetch=lambda _url: self.jwks())

    def authorizer_claims(self, authorization: str | None) -> dict[str, str] | None:
        """What API Gateway's Cognito authorizer passes for a request with this Authorization header (its
        values are all text; groups are comma-separated), or None when the token does not verify."""
        if not authorization:
            return None
        try:
            identity = self.verifier().verify(authorization.strip())
        except InvalidToken:
            return None
        claims = jwt.decode(authorization.strip(), options={"verify_signature": False})  # verified just above
        text = {k: ",".join(v) if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else str(v)
                for k, v in claims.items()}
        assert text["sub"] == identity.sub
        return text
