"""Where an escalation is in the experts' inbox (web/inbox.html): `<site>/inbox#<session_id>/<escalation_id>`.

The expert email and the signed console page link there. The link carries no signature or token: the inbox
asks the expert to sign in, and its page reads the ids from the fragment, which a browser never sends to a
server.
"""

from __future__ import annotations

from urllib.parse import quote

INBOX_PATH = "/inbox"


def inbox_link(site_url: str, *, session_id: str, escalation_id: str) -> str:
    """The escalation in the inbox of the web app at `site_url` (SITE_URL), or "" when there is none."""
    if not site_url:
        return ""
    return f"{site_url.rstrip('/')}{INBOX_PATH}#{quote(session_id, safe='')}/{quote(escalation_id, safe='')}"
