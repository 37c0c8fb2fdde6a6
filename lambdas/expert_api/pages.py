"""The expert's HTML pages: small, plain forms that work without JavaScript.

Every value that came from a customer, an expert or the table goes through `_e` (html.escape with
quotes), in text and in attributes alike; nothing is marked safe.

One page has a script: the console of an accepted escalation, so that what the customer writes appears
without a reload. `_LIVE_SCRIPT` is a module constant, built once from the element ids below: no value of a
request or the table is ever put into it. It polls GET messages every LIVE_POLL_SECONDS, one request at a
time, with the link the page's forms already carry in their hidden fields and the settings the
conversation's data attributes hold; it adds each turn it has not shown (by turn_id) with DOM calls and
textContent only, so a customer's text is never parsed as markup; it backs off on errors and stops for good
when the link or the escalation is over, saying so in a status line. The response's Content-Security-Policy
allows that one script by a nonce fresh for each response (`Page.script_nonce`) and lets it fetch from the
page's own origin; every other page allows no script. Without JavaScript the console is the same forms and
its "Refresh the conversation" link.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from html import escape
from uuid import uuid4

from lambdas.common.transcript import EscalationRecord, Turn
from lambdas.expert_api.actions import Conversation, Link
from lambdas.expert_api.request import MAX_EXPERT_NAME_CHARS

ROLE_LABELS = {"customer": "Customer", "bot": "Assistant", "expert": "Expert", "system": "Tandem"}
# The console's live updates (`_LIVE_SCRIPT`), handed to it in the conversation's data attributes.
LIVE_POLL_SECONDS = 2  # data-poll-interval-ms: the wait between the end of one poll and the next
LIVE_MAX_POLL_SECONDS = 30  # data-max-interval-ms: the wait doubles after each failed poll, up to this
LIVE_REQUEST_TIMEOUT_SECONDS = 10  # data-request-timeout-ms: a poll that takes longer counts as failed
# data-lookback-ms: a turn's created_at is set before it is written, by up to a Lambda's run (30 s): a poll
# asks for the turns after the newest one shown minus this, so a turn written late is still found.
LIVE_LOOKBACK_SECONDS = 60
CONVERSATION_ID = "conversation"  # the element that holds the turns, each a div with data-turn-id
LIVE_STATUS_ID = "live-status"  # the script's status line
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


def _turn(t: Turn) -> str:
    # _LIVE_SCRIPT builds the same markup for the turns it adds.
    return (f"<div class=\"turn {_e(t.role)}\" data-turn-id=\"{_e(t.turn_id)}\" data-created-at=\"{_e(t.created_at)}\">"
            f"<div class=\"meta\">{_e(ROLE_LABELS.get(t.role, t.role))} &middot; {_e(t.created_at)}</div>"
            f"<p class=\"text\">{_e(t.text)}</p></div>")


def _conversation(turns: list[Turn], live_attributes: str = "") -> str:
    """The turns, oldest first (as the table returns them); `live_attributes` set up the live updates."""
    items = "".join(map(_turn, turns)) if turns else "<p class=\"empty\">No messages yet.</p>"
    return f"<h2>Conversation</h2><div id=\"{CONVERSATION_ID}\"{live_attributes}>{items}</div>"


def _live_attributes(messages_url: str) -> str:
    settings = {
        "messages-url": messages_url,
        "poll-interval-ms": LIVE_POLL_SECONDS * 1000,
        "max-interval-ms": LIVE_MAX_POLL_SECONDS * 1000,
        "request-timeout-ms": LIVE_REQUEST_TIMEOUT_SECONDS * 1000,
        "lookback-ms": LIVE_LOOKBACK_SECONDS * 1000,
        "role-labels": json.dumps(ROLE_LABELS),
    }
    # Screen readers hear the turns the script adds.
    return " aria-live=\"polite\" aria-relevant=\"additions\"" + "".join(
        f" data-{name}=\"{_e(value)}\"" for name, value in settings.items())


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


@dataclass(frozen=True)
class Page:
    html: str
    # The nonce of the page's one inline script: the response's Content-Security-Policy must allow it. None:
    # the page has no script.
    script_nonce: str | None = None


def console_page(conversation: Conversation, *, reply_action: str, resolve_action: str, refresh_url: str,
                 messages_url: str, max_chars: int, inbox_url: str = "") -> Page:
    """The console; while the escalation is accepted, with the live updates' script (GET messages at
    `messages_url`); with a link to the escalation in the experts' inbox when `inbox_url` is given."""
    record = conversation.record
    live = record.status == "accepted"
    if live:
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
    if inbox_url:
        refresh += f"<p><a href=\"{_e(inbox_url)}\">Open in the inbox</a> (sign in as an expert)</p>"
    if not live:
        return Page(_page("Expert console", _summary(record) + _conversation(conversation.turns) + refresh + forms))
    nonce = secrets.token_urlsafe(18)
    # Empty until the script runs: without JavaScript the page claims nothing live.
    status = f"<p id=\"{LIVE_STATUS_ID}\" class=\"meta\" role=\"status\" aria-live=\"polite\"></p>"
    script = f"<script nonce=\"{_e(nonce)}\">{_LIVE_SCRIPT}</script>"
    body = (_summary(record) + _conversation(conversation.turns, _live_attributes(messages_url)) + status + refresh
            + forms + script)
    return Page(_page("Expert console", body), script_nonce=nonce)


def resolved_page(record: EscalationRecord, *, closed: bool) -> str:
    outcome = ("The conversation is closed." if closed
               else "The conversation is back with the assistant.")
    return _page("Resolved, thank you", f"<p>{_e(outcome)}</p>" + _summary(record))


def redirect_page(location: str, label: str) -> str:
    return _page(label, f"<p><a href=\"{_e(location)}\">Continue</a></p>")


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p>{_e(message)}</p>")


# The console's live updates. Built once from the ids above; never from a request's values. It must not hold
# "</" (that would end the script element): the tests check.
_LIVE_SCRIPT = """
(() => {
  "use strict";
  const list = document.getElementById(__CONVERSATION_ID__);
  const status = document.getElementById(__LIVE_STATUS_ID__);
  if (!list || !status || !window.fetch || !window.AbortController || !window.URLSearchParams) return;
  const field = (name) => {
    const input = document.querySelector("form input[type=hidden][name=" + name + "]");
    return input ? input.value : "";
  };
  const link = {session_id: field("session_id"), exp: field("exp"), sig: field("sig")};
  if (!link.session_id || !link.exp || !link.sig) return;
  const setting = (name) => Number(list.getAttribute("data-" + name));
  const url = list.getAttribute("data-messages-url");
  const interval = setting("poll-interval-ms");
  const longest = setting("max-interval-ms");
  const timeout = setting("request-timeout-ms");
  const lookback = setting("lookback-ms");
  const labels = JSON.parse(list.getAttribute("data-role-labels"));
  const over = {400: "the request was refused", 403: "this link is not valid", 404: "this escalation was not found",
                409: "this escalation is no longer yours", 410: "this link has expired or the escalation is over"};

  const shown = () => Array.from(list.children).filter((el) => el.hasAttribute("data-turn-id"));
  const known = new Set(shown().map((el) => el.getAttribute("data-turn-id")));
  const order = (el) => [el.getAttribute("data-created-at"), el.getAttribute("data-turn-id")];
  const earlier = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  let wait = interval;
  let stopped = false;
  let busy = false;

  const say = (text) => { status.textContent = text; };
  const stop = (reason) => { stopped = true; say("Live updates stopped: " + reason + "; use Refresh."); };

  // The same markup as the server's, built with DOM calls: a customer's text is only ever textContent.
  const render = (turn) => {
    const item = document.createElement("div");
    item.className = "turn " + turn.role;
    item.setAttribute("data-turn-id", turn.turn_id);
    item.setAttribute("data-created-at", turn.created_at);
    const meta = document.createElement("div");
    meta.className = "meta";
    const label = Object.prototype.hasOwnProperty.call(labels, turn.role) ? labels[turn.role] : turn.role;
    meta.textContent = label + " \\u00b7 " + turn.created_at;
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = turn.text;
    item.append(meta, text);
    return item;
  };

  const add = (turn) => {
    if (!turn || typeof turn.turn_id !== "string" || typeof turn.created_at !== "string"
        || typeof turn.role !== "string" || typeof turn.text !== "string" || known.has(turn.turn_id)) return;
    known.add(turn.turn_id);
    const key = [turn.created_at, turn.turn_id];
    const next = shown().find((el) => earlier(key, order(el)));  // a turn written late goes in its place
    list.insertBefore(render(turn), next || null);
    const empty = list.querySelector(".empty");
    if (empty) empty.remove();
  };

  // Strictly after the newest turn shown, less the lookback (turns already shown are skipped by id).
  const since = () => {
    const all = shown();
    if (!all.length) return "";
    const time = Date.parse(all[all.length - 1].getAttribute("data-created-at").slice(0, 23) + "Z");
    return Number.isNaN(time) ? "" : new Date(time - lookback).toISOString().replace("Z", "000Z");
  };

  const poll = async () => {
    if (stopped || busy) return;
    busy = true;
    const query = new URLSearchParams(link);
    const after = since();
    if (after) query.set("after", after);
    const controller = new AbortController();
    const guard = setTimeout(() => controller.abort(), timeout);
    try {
      const response = await fetch(url + "?" + query.toString(), {
        headers: {Accept: "application/json"}, cache: "no-store", credentials: "omit", redirect: "error",
        signal: controller.signal});
      if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
        stop(over[response.status] || "the server answered " + response.status);
        return;
      }
      if (!response.ok) throw new Error("status " + response.status);
      const body = await response.json();
      (Array.isArray(body.turns) ? body.turns : []).forEach(add);
      if (typeof body.status === "string" && body.status !== "accepted") {
        stop("this escalation is " + body.status.replace(/_/g, " "));
        return;
      }
      wait = interval;
      say("Live: new messages appear here.");
    } catch (error) {
      wait = Math.min(wait * 2, longest);
      say("Live: the server cannot be reached; trying again in " + Math.round(wait / 1000) + " s.");
    } finally {
      clearTimeout(guard);
      busy = false;
      if (!stopped) setTimeout(poll, wait);
    }
  };

  say("Live: new messages appear here.");
  setTimeout(poll, wait);
})();
""".replace("__CONVERSATION_ID__", json.dumps(CONVERSATION_ID)).replace(
    "__LIVE_STATUS_ID__", json.dumps(LIVE_STATUS_ID))
