"""Signed expert links: HMAC-SHA256 over what the link may do, for which escalation, until when.

A link carries `session_id`, `escalation_id`, `action`, `exp` (Unix seconds) and `sig`; never a task
token. The key is a Secrets Manager secret generated at deploy. Checks run in a fixed order, so each
failure has one answer: a wrong signature (tampered, or another action's link) -> LinkInvalid (403); a
right signature past its expiry -> LinkExpired (410).

Actions: `review` opens the conversation page and accepts (the link in the experts' email); `work`
replies and resolves (the link the accept page hands to the expert who accepted).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import urlencode

from lambdas.common import clients

Action = Literal["review", "work"]
ACTIONS: tuple[str, ...] = ("review", "work")
_VERSION = "v1"
_SEPARATOR = "|"
_EXP_DIGITS = 12  # Unix seconds have 10 digits until the year 2286


class LinkInvalid(PermissionError):
    """The signature does not match: a tampered link, or one made for another action or escalation."""


class LinkExpired(PermissionError):
    """A genuine link past its expiry."""


def _message(action: str, session_id: str, escalation_id: str, expires: int) -> bytes:
    return _SEPARATOR.join((_VERSION, action, session_id, escalation_id, str(expires))).encode()


def _ambiguous(*ids: str) -> bool:
    """An id holding the separator could make two different links sign the same message."""
    return any(not isinstance(i, str) or _SEPARATOR in i for i in ids)


def sign(key: bytes, *, action: Action, session_id: str, escalation_id: str, expires: int) -> str:
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if _ambiguous(session_id, escalation_id):
        raise ValueError(f"session and escalation ids must be strings without {_SEPARATOR!r}")
    return hmac.new(key, _message(action, session_id, escalation_id, expires), hashlib.sha256).hexdigest()


def verify(key: bytes, *, action: Action, session_id: str, escalation_id: str, expires: str | int,
           signature: str, now: float | None = None) -> None:
    """Raises LinkInvalid or LinkExpired; returns None for a valid, unexpired link."""
    # Only a few ASCII digits: int() would also take " 12", "1_2", other scripts' digits, and raise
    # ValueError past 4300 digits.
    if isinstance(expires, str) and expires.isascii() and expires.isdigit() and len(expires) <= _EXP_DIGITS:
        expires_at = int(expires)
    elif isinstance(expires, int) and not isinstance(expires, bool):
        expires_at = expires
    else:
        raise LinkInvalid("exp is not a number")
    if _ambiguous(session_id, escalation_id):
        raise LinkInvalid("malformed id")
    expected = sign(key, action=action, session_id=session_id, escalation_id=escalation_id, expires=expires_at)
    # compare_digest raises TypeError on non-ASCII text: such a signature is simply wrong.
    if not isinstance(signature, str) or not signature.isascii() or not hmac.compare_digest(expected, signature):
        raise LinkInvalid("signature does not match")
    if (time.time() if now is None else now) > expires_at:
        raise LinkExpired("link expired")


def signed_query(key: bytes, *, action: Action, session_id: str, escalation_id: str, expires: int) -> str:
    """The query string of a link (the path names the escalation; the query proves the right to act)."""
    return urlencode({"session_id": session_id, "exp": expires,
                      "sig": sign(key, action=action, session_id=session_id, escalation_id=escalation_id,
                                  expires=expires)})


_key_cache: dict[str, bytes] = {}


def signing_key(secret_id: str) -> bytes:
    """The HMAC key from Secrets Manager, read once per execution environment."""
    if secret_id not in _key_cache:
        secret = clients.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        if len(secret) < 32:
            raise ValueError("the link-signing secret is too short to be an HMAC key")
        _key_cache[secret_id] = secret.encode()
    return _key_cache[secret_id]
