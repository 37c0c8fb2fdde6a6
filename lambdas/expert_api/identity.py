"""Who calls the experts' inbox: the signed-in user whose claims API Gateway's Cognito user-pool authorizer
passes in requestContext.authorizer.claims (docs/AWS-CONTRACTS.md, "API Gateway").

The authorizer has checked the ID token (signature, expiry, audience) before the function runs; what is left
to decide here is whether that user is an expert. Experts are the members of the pool's EXPERTS_GROUP, named
by the token's `cognito:groups` claim. A REST API's authorizer passes every claim as text, so the groups come
as one string: seen as "[experts other]" and as "experts,other", or a single name; a list is taken too (an
event written by hand). An expert is known by the token's `email` claim, verified: the same person is the
same expert whether they accept by the emailed link or in the inbox, and the email is what the customer's
conversation and the other experts are shown. Nothing here touches AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from lambdas.common.cognito_claims import claims_of, groups

EXPERTS_GROUP = "experts"
MAX_EMAIL_CHARS = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class NotSignedIn(PermissionError):
    """No usable identity in the request (401): no claims, or no email in them (an access token was sent
    instead of the ID token)."""


class NotAnExpert(PermissionError):
    """A signed-in user who may not use the inbox (403): not in EXPERTS_GROUP, or an unverified email."""


@dataclass(frozen=True)
class Expert:
    email: str


def expert(event: Mapping[str, Any]) -> Expert:
    """The expert making this request; NotSignedIn or NotAnExpert otherwise."""
    claims = claims_of(event)
    if claims is None:
        raise NotSignedIn("the request carries no signed-in user")
    email = str(claims.get("email") or "").strip()
    if not email:
        raise NotSignedIn("the token names no email: sign in again (the inbox needs the ID token)")
    if EXPERTS_GROUP not in groups(claims.get("cognito:groups")):
        raise NotAnExpert(f"only members of the {EXPERTS_GROUP} group may use the inbox")
    if len(email) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(email):
        raise NotAnExpert("the token's email is not an email address")
    if str(claims.get("email_verified", "")).lower() != "true":
        raise NotAnExpert("your email address is not verified: the inbox knows experts by it")
    return Expert(email=email)
