"""Where people sign in: the customer user pool's managed login domain (Amazon Cognito).

ChatbotStack creates the domain; WebStack's Content-Security-Policy must name it before ChatbotStack exists
(the pool's callback URLs need the site's address, so the site comes first). Both read the name here: a
prefix from cdk.json, or one made of the account id, which each stack resolves itself (no export).
"""

from __future__ import annotations

from aws_cdk import Aws

from stacks.config import TandemConfig


def domain_prefix(config: TandemConfig) -> str:
    """The managed login domain's prefix; Cognito wants it unused by every account in the Region."""
    return config.sign_in_domain_prefix or f"tandem-{Aws.ACCOUNT_ID}"


def domain_host(config: TandemConfig) -> str:
    return f"{domain_prefix(config)}.auth.{Aws.REGION}.amazoncognito.com"
