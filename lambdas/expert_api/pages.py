"""The expert's HTML pages: small, plain forms, no JavaScript (the Content-Security-Policy allows none).

Every value that came from a customer, an expert or the table goes through `_e` (html.escape with
quotes), in text and in attributes alike; nothing is marked safe.
"""

from __future__ import annotations

from html import escape
from uuid import uuid4

from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.expert_api.actions import Conversation, Link
from lambdas.expert_api.request import MAX_EXPERT_NAME_CHARS

ROLE_LABELS = {"customer": "Customer", "bot": "Assistant", "expert": "Expert", "system": "Tandem"}
_STYLE = """
body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#222}
.turn{border-left:4px solid #bbb;margin:.6rem 0;padding:.2rem .8rem}
.customer{border-color:#c60}.expert{border-color:#06c}.system{border-color:#888;color:#555}
.meta{color:#666;font-size:.85em}.text{white-space:pre-wrap;margin:.2rem 0}
form{margin:1.2rem 0;padding:1rem;background:#f5f5f5}label{display:block;margin:.4rem 0}
input[type=text],textarea{width:100%;box-sizing:border-box}dt{font-weight:600}dd{margin:0 0 .4rem}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{_e(title)} - Tandem</title><style>{_STYLE}</style></head>"
            f"<body><h1>{_e(title)}</h1>{body}</body></html>")


def _summary(record: EscalationRecord) -> str:
    rows = [("Reason", record.reason), ("Status", record.status), ("Requested", record.requested_at)]
    if record.explanation:
        rows.append(("Why", record.explanation.get("signal", "")))
        rows.append(("Words it read", record.explanation.get("excerpt", "")))
    if record.sentiment:
        s = record.sentiment
        rows.append(("Sentiment", f"{s.label} ({s.score:.2f}, {s.detector})" + (f": {s.reason}" if s.reason else "")))
    if record.accepted_by:
        rows.append(("Accepted by", f"{record.accepted_by} at {record.accepted_at}"))
    if record.resolved_at:
        rows.append(("Resolved", record.resolved_at))
    return "<dl>" + "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows) + "</dl>"


def _conversation(turns: list[Turn]) -> str:
    if not turns:
        return "<p>No messages yet.</p>"
    items = [f"<div class=\"turn {_e(t.role)}\"><div class=\"meta\">{_e(ROLE_LABELS.get(t.role, t.role))}"
             f" &middot; {_e(t.created_at)}</div><p class=\"text\">{_e(t.text)}</p></div>" for t in turns]
    return "<h2>Conversation</h2>" + "".join(items)


def _hidden(link: Link) -> str:
    return "".join(f"<input type=\"hidden\" name=\"{name}\" value=\"{_e(value)}\">"
                   for name, value in (("session_id", link.session_id), ("exp", link.expires), ("sig", link.sig)))


def _not_open(record: EscalationRecord) -> str:
    return f"<p><strong>This escalation is {_e(record.status)}</strong>; there is nothing to do here.</p>"


def review_page(conversation: Conversation, *, accept_action: str) -> str:
    record = conversation.record
    if record.status == "pending":
        action = (f"<form method=\"post\" action=\"{_e(accept_action)}\">{_hidden(conversation.link)}"
                  f"<label>Your name <input type=\"text\" name=\"expert\" required "
                  f"maxlength=\"{MAX_EXPERT_NAME_CHARS}\" autocomplete=\"name\"></label>"
                  "<button type=\"submit\">Accept: I will take this conversation</button></form>")
    else:
        action = _not_open(record)
    return _page("A customer needs an expert", _summary(record) + action + _conversation(conversation.turns))


def console_page(conversation: Conversation, *, reply_action: str, resolve_action: str, refresh_url: str,
                 max_chars: int) -> str:
    record = conversation.record
    if record.status == "accepted":
        hidden = _hidden(conversation.link)
        # A fresh key per page: sending the same form twice (a double click, a resubmitted POST) stores one reply.
        reply_key = f"<input type=\"hidden\" name=\"reply_id\" value=\"{uuid4()}\">"
        forms = (f"<form method=\"post\" action=\"{_e(reply_action)}\">{hidden}{reply_key}"
                 f"<label>Your reply to the customer<textarea name=\"text\" rows=\"4\" required "
                 f"maxlength=\"{max_chars}\"></textarea></label><button type=\"submit\">Send</button></form>"
                 f"<form method=\"post\" action=\"{_e(resolve_action)}\">{hidden}"
                 f"<label>Resolution note (kept with the conversation and in the knowledge base)"
                 f"<textarea name=\"note\" rows=\"3\" maxlength=\"{max_chars}\"></textarea></label>"
                 "<label><input type=\"checkbox\" name=\"close\" value=\"on\"> Close the conversation "
                 "(otherwise the assistant takes over again)</label>"
                 "<button type=\"submit\">Resolve</button></form>")
    else:
        forms = _not_open(record)
    refresh = f"<p><a href=\"{_e(refresh_url)}\">Refresh the conversation</a></p>"
    return _page("Expert console", _summary(record) + _conversation(conversation.turns) + refresh + forms)


def resolved_page(record: EscalationRecord, *, closed: bool) -> str:
    outcome = ("The conversation is closed." if closed
               else "The conversation is back with the assistant.")
    return _page("Resolved, thank you", f"<p>{_e(outcome)}</p>" + _summary(record))


def redirect_page(location: str, label: str) -> str:
    return _page(label, f"<p><a href=\"{_e(location)}\">Continue</a></p>")


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p>{_e(message)}</p>")
