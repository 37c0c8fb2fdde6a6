"""Who calls the rating API: a signed-in member of the pool's `raters` group (rating) or `rating-admins`
group (a batch's view, its records, closing it; the review of experts' answers), named by the ID token's `sub`.

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
    rates: bool  # in the raters group


def rater(event: Mapping[str, Any], *, admin: bool = False, or_admin: bool = False) -> Rater:
    """The person making this request: a rater; with `admin` a rating admin; with `or_admin` either (what both
    may read, such as the list of batches). NotSignedIn or NotARater otherwise."""
    claims = claims_of(event)
    if claims is None:
        raise NotSignedIn("the request carries no signed-in user")
    sub = str(claims.get("sub") or "").strip()
    if not sub:
        raise NotSignedIn("the token names no user: sign in again")
    member_of = groups(claims.get("cognito:groups"))
    is_admin, rates = ADMINS_GROUP in member_of, RATERS_GROUP in member_of
    if admin and not is_admin:
        raise NotARater(f"only members of the {ADMINS_GROUP} group may do this")
    if not admin and not rates and not (or_admin and is_admin):
        raise NotARater(f"only members of the {RATERS_GROUP} group may rate answers")
    return Rater(sub=sub, admin=is_admin, rates=rates)
