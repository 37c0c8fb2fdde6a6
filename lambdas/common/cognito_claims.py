"""The signed-in user of a REST API request: the claims API Gateway's Cognito user-pool authorizer passes in
requestContext.authorizer.claims (docs/AWS-CONTRACTS.md, "API Gateway"), and the groups they name.

The authorizer has checked the ID token (signature, expiry, audience) before the function runs. A REST API's
authorizer passes every claim as text, so `cognito:groups` comes as one string: seen as "[experts other]"
and as "experts,other", or a single name; a list is taken too (an event written by hand). Nothing here
touches AWS.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

_SEPARATORS = re.compile(r"[,\s]+")


def claims_of(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """requestContext.authorizer.claims of a REST proxy event, if the request went through the authorizer."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    return claims if isinstance(claims, Mapping) and claims else None


def groups(value: Any) -> tuple[str, ...]:
    """The group names of a `cognito:groups` claim, in whichever form it arrives."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(item).strip() for item in value if str(item).strip())
    text = str(value).strip()
    if text.startswith("[") and text.endswith("]"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return groups(parsed)
        text = text[1:-1]
    return tuple(name for name in _SEPARATORS.split(text) if name)
