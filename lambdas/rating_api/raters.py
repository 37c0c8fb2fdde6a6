"""Who calls the rating API: a signed-in member of the pool's `raters` group (rating) or `rating-admins`
group (a batch's view, its records, closing it), named by the ID token's `sub`.

Raters are known by `sub`, never by email: the rating records name them (as Ground Truth names its workers)
and stay pseudonymous wherever they travel. Nothing here touches AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from lambdas.common.cognito_claims import claims_of, groups

RATERS_GROUP = "raters"
ADMINS_GROUP = "rating-admins"


class NotSignedIn(PermissionError):
    """No usable identity in the request (401)."""


class NotARater(PermissionError):
    """A signed-in user without the group the request needs (403)."""


@dataclass(frozen=True)
class Rater:
    sub: str
    admin: bool


def rater(event: Mapping[str, Any], *, admin: bool = False) -> Rater:
    """The person making this request: a rater, or with `admin` a rating admin; NotSignedIn or NotARater
    otherwise."""
    claims = claims_of(event)
    if claims is None:
        raise NotSignedIn("the request carries no signed-in user")
    sub = str(claims.get("sub") or "").strip()
    if not sub:
        raise NotSignedIn("the token names no user: sign in again")
    member_of = groups(claims.get("cognito:groups"))
    is_admin = ADMINS_GROUP in member_of
    if admin and not is_admin:
        raise NotARater(f"only members of the {ADMINS_GROUP} group may see a batch's results")
    if not admin and RATERS_GROUP not in member_of:
        raise NotARater(f"only members of the {RATERS_GROUP} group may rate answers")
    return Rater(sub=sub, admin=is_admin)
