"""The email that calls the experts in: plain text, made only of what is safe to mail.

It says why the conversation escalated, shows its latest turns (each cleaned and cut to TURN_MAX_CHARS),
and links to the expert API's review page with a signed, expiring query (lambdas/common/signing.py) and,
when the web app's address is set, to the escalation in the experts' inbox (no signature in that one: the
inbox asks the expert to sign in). While nobody accepts, the experts get a reminder every reminder interval:
the same email, headed and titled as a reminder that says how long the customer has been waiting, with the
same links. The Step Functions task token is never an input here, so it cannot end up in the mail or a link.

(Named expert_email, not email: a module called `email` shadows the standard library's package for any
script run from this folder.)
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Sequence
from urllib.parse import quote

from lambdas.common import signing
from lambdas.common.transcript import EscalationRecord, Turn

TURN_MAX_CHARS = 500
SUBJECT_MAX_CHARS = 99  # SNS: ASCII, no line breaks or control characters, fewer than 100 characters
SNS_MESSAGE_MAX_BYTES = 262_144
# A guard far below SNS's limit (20 turns x 500 characters x 4 bytes is about 40 KB): if it is ever
# exceeded, the oldest turns are left out, never the reason or the link.
MESSAGE_MAX_BYTES = 64 * 1024
ELLIPSIS = "\u2026"

REASONS = {
    "human_requested": "the customer asked for a person",
    "negative_sentiment": "the customer's message read as strongly negative",
    "negative_streak": "several negative customer messages in a row",
    "model_error": "the assistant could not answer",
}
ROLES = {"customer": "Customer", "bot": "Assistant", "expert": "Expert", "system": "Tandem"}
# Bidirectional-text controls can make a line display in another order than it reads (a spoofed link or
# name); they are dropped with the control characters.
_BIDI_CONTROLS = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
_JOINERS = frozenset("\u200c\u200d")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class ExpertEmail:
    subject: str
    message: str


@dataclass(frozen=True)
class Reminder:
    number: int  # 1 for the first reminder
    waited_seconds: int  # how long the customer has been waiting for an expert


def clean_text(text: str) -> str:
    """Newlines normalised, tabs as spaces; other control characters, lone surrogates and bidi controls
    dropped; runs of blank lines shortened."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    text = text.replace("\t", " ")
    kept = [ch for ch in text
            if ch == "\n" or (unicodedata.category(ch) not in ("Cc", "Cs") and ord(ch) not in _BIDI_CONTROLS)]
    return _MANY_BLANK_LINES.sub("\n\n", "".join(kept))


def cut(text: str, limit: int = TURN_MAX_CHARS) -> str:
    """Cleaned text of at most `limit` characters, ending in an ellipsis when it was cut. A character is
    never separated from the combining marks or joiners that follow it."""
    text = clean_text(text).strip()
    if len(text) <= limit:
        return text
    end = limit - 1  # room for the ellipsis
    while end > 0 and (unicodedata.category(text[end]) in ("Mn", "Mc", "Me") or text[end] in _JOINERS):
        end -= 1  # text[end] is the first character left out: keep no base without its marks
    while end > 0 and text[end - 1] in _JOINERS:
        end -= 1
    return text[:end].rstrip() + ELLIPSIS


def _ascii_label(value: str, limit: int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "", value)[:limit] or "unknown"


def _when(timestamp: str) -> str:
    """'2026-11-25T01:20:00.123456Z' -> '2026-11-25 01:20:00 UTC' (anything else: cleaned, as it is)."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z", timestamp):
        return f"{timestamp[:10]} {timestamp[11:19]} UTC"
    return cut(timestamp, 40)


def review_link(api_url: str, key: bytes, *, session_id: str, escalation_id: str, expires: int) -> str:
    """The expert API's review page for one escalation; the signed query lets its holder review and accept
    until `expires` (Unix seconds)."""
    query = signing.signed_query(key, action="review", session_id=session_id, escalation_id=escalation_id,
                                 expires=expires)
    return f"{api_url}escalations/{quote(escalation_id, safe='')}?{query}"


def waited(seconds: int) -> str:
    """'less than a minute', '1 minute', '14 minutes', '2 h 5 min'."""
    minutes = max(0, seconds) // 60
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} h {minutes % 60} min"


def subject(record: EscalationRecord, reminder: Reminder | None = None) -> str:
    if reminder is None:
        text = f"Tandem: a customer needs an expert ({_ascii_label(record.reason, 40)})"
    else:
        text = (f"Tandem reminder: a customer has waited {waited(reminder.waited_seconds)} for an expert "
                f"({_ascii_label(record.reason, 40)})")
    return text[:SUBJECT_MAX_CHARS]


def _why(record: EscalationRecord) -> list[str]:
    reason = cut(record.reason, 100)
    explained = REASONS.get(record.reason)
    lines = [f"Why:        {explained} ({reason})" if explained else f"Why:        {reason}"]
    if record.explanation:
        # The rule and the signal it fired on; the customer's words are in the conversation below.
        lines.append(f"Signal:     {cut(clean_text(record.explanation.get('signal', '')), 120)}")
    if record.sentiment is not None:
        detector = cut(record.sentiment.detector, 40)
        lines.append(f"Sentiment:  {cut(record.sentiment.label, 20)}, score {record.sentiment.score:.2f}"
                     + (f" (detector: {detector})" if detector else ""))
        if record.sentiment.reason:
            lines.append(f"            {cut(record.sentiment.reason, 200)}")
    lines.append(f"Raised at:  {_when(record.requested_at)}")
    lines.append(f"Escalation: {record.escalation_id} (session {record.session_id})")
    return lines


def _turn_block(turn: Turn) -> str:
    return f"--- {ROLES.get(turn.role, turn.role)}, {_when(turn.created_at)} ---\n{cut(turn.text) or '(empty)'}"


def _opening(reminder: Reminder | None) -> list[str]:
    if reminder is None:
        return ["A customer conversation needs a human expert."]
    return [f"REMINDER {reminder.number}: a customer has been waiting {waited(reminder.waited_seconds)} for a human "
            "expert, and nobody has accepted yet.",
            "This is the same conversation as the earlier email; the link below is the same too."]


def compose(record: EscalationRecord, turns: Sequence[Turn], *, link: str, link_expires: int, inbox: str = "",
            reminder: Reminder | None = None) -> ExpertEmail:
    """The email for `record`, showing `turns` (oldest first, as SessionStore.turns returns them); `inbox`, the
    escalation's place in the experts' inbox (lambdas/common/inbox_link.py), adds a line when given; with
    `reminder`, the reminder of it."""
    valid_until = datetime.fromtimestamp(link_expires, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    head = "\n".join([
        *_opening(reminder),
        "",
        *_why(record),
        "",
        "Review the conversation and accept it here. The first expert to accept takes it over; the link",
        f"works until {valid_until}, after which the conversation goes to the fallback team.",
        link,
        *(["", "Or open it in the inbox (sign in as an expert):", inbox] if inbox else []),
    ])
    foot = "You receive this because you subscribed to Tandem's expert notifications."
    shown = list(turns)
    while True:
        if shown:
            intro = (f"The last {len(shown)} turn{'s' if len(shown) != 1 else ''} of the conversation "
                     f"(oldest first; each cut to {TURN_MAX_CHARS} characters):")
            body = "\n\n".join([intro, *(_turn_block(t) for t in shown)])
        else:
            body = "No turns of the conversation could be shown."
        message = f"{head}\n\n{body}\n\n{foot}\n"
        if len(message.encode("utf-8")) <= MESSAGE_MAX_BYTES or not shown:
            return ExpertEmail(subject=subject(record, reminder), message=message)
        shown = shown[1:]  # leave out the oldest turn, never the reason or the link
