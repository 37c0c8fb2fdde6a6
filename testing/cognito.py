"""A Cognito user pool under moto that issues real RS256 ID tokens and serves its JWKS at the pool's issuer
URL, for tests of Tandem's token checks (the live channel's authorizer, the local demo's sign-in).

    pool = MotoUserPool()                      # inside mock_aws: one pool, the web client, the groups
    token = pool.id_token("eva", groups=("experts",))
    pool.verifier().verify(token)              # the production verifier, fetching the pool's keys via moto
"""

from __future__ import annotations

from typing import Any

import boto3
import requests
from moto.cognitoidp.models import cognitoidp_backends

from lambdas.socket_authorizer.id_tokens import IdTokenVerifier

ACCOUNT = "123456789012"
PASSWORD = "Correct-horse-battery-9!"


def fetch_json(url: str) -> dict[str, Any]:
    """The key set through `requests`, which moto intercepts (urllib, the function's own way, it does not)."""
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.json()


class MotoUserPool:
    def __init__(self, region: str = "us-east-1"):
        self.region = region
        self.cognito = boto3.client("cognito-idp", region_name=region)
        self.pool_id = self.cognito.create_user_pool(
            PoolName="tandem-customers", UsernameAttributes=["email"])["UserPool"]["Id"]
        # As the stacks create it: the email is readable, so it is in the ID token.
        self.client_id = self._client("web")
        self.other_client_id = self._client("another-app")
        for group in ("experts", "raters"):
            self.cognito.create_group(UserPoolId=self.pool_id, GroupName=group)
        self._users: set[str] = set()

    def _client(self, name: str) -> str:
        return self.cognito.create_user_pool_client(
            UserPoolId=self.pool_id, ClientName=name, ExplicitAuthFlows=["USER_PASSWORD_AUTH"],
            ReadAttributes=["email"])["UserPoolClient"]["ClientId"]

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    def verifier(self, **kwargs: Any) -> IdTokenVerifier:
        return IdTokenVerifier(issuer=self.issuer, audiences=[self.client_id], fetch=fetch_json, **kwargs)

    def email(self, name: str) -> str:
        return f"{name}@example.com"

    def _ensure_user(self, name: str, groups: tuple[str, ...]) -> str:
        email = self.email(name)
        if email not in self._users:
            self.cognito.admin_create_user(UserPoolId=self.pool_id, Username=email,
                                           UserAttributes=[{"Name": "email", "Value": email}])
            self.cognito.admin_set_user_password(UserPoolId=self.pool_id, Username=email, Password=PASSWORD,
                                                 Permanent=True)
            for group in groups:
                self.cognito.admin_add_user_to_group(UserPoolId=self.pool_id, Username=email, GroupName=group)
            self._users.add(email)
        return email

    def tokens(self, name: str, *, groups: tuple[str, ...] = (), client_id: str | None = None) -> dict[str, Any]:
        email = self._ensure_user(name, groups)
        return self.cognito.initiate_auth(
            ClientId=client_id or self.client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})["AuthenticationResult"]

    def id_token(self, name: str, *, groups: tuple[str, ...] = (), client_id: str | None = None) -> str:
        return self.tokens(name, groups=groups, client_id=client_id)["IdToken"]

    def sub(self, name: str) -> str:
        attributes = self.cognito.admin_get_user(UserPoolId=self.pool_id, Username=self.email(name))["UserAttributes"]
        return next(a["Value"] for a in attributes if a["Name"] == "sub")

    def expired_id_token(self, name: str, *, seconds_ago: int = 3600) -> str:
        """An ID token the pool signed that expired `seconds_ago` (moto's own signing, with a past expiry)."""
        email = self._ensure_user(name, ())
        pool = cognitoidp_backends[ACCOUNT][self.region].user_pools[self.pool_id]
        token, _ = pool.create_jwt(self.client_id, email, "id", expires_in=-seconds_ago,
                                   extra_data={"email": email})
        return token
