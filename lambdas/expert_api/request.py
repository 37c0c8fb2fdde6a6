"""What an expert's request says: the link it carries and the fields it sends, checked and typed.

Browsers post forms (application/x-www-form-urlencoded); scripts may post JSON. Both become the same
flat mapping of strings. Nothing here touches AWS. A rejected field is a RequestError naming it (400);
a missing or malformed link part is signing.LinkInvalid (403): without a whole link there is no right
to be told anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qs, quote

from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from lambdas.common.request_body import body_text, echoed_name, json_object
from lambdas.common.request_errors import RequestError
from lambdas.common.signing import LinkInvalid
from lambdas.common.transcript import IDENTIFIER

MAX_EXPERT_NAME_CHARS = 100
_MAX_FORM_FIELDS = 20
_TRUE = ("on", "true", "1", "yes")
_FALSE = ("", "off", "false", "0", "no")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Turn times as utc_now() writes them (lambdas/common/transcript.py).
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


@dataclass(frozen=True)
class LinkParams:
    """The signed part of a link, as received (signing.verify checks it)."""

    session_id: str
    exp: str
    sig: str


@dataclass(frozen=True)
class ExpertRequest:
    escalation_id: str
    query: dict[str, str]
    headers: Mapping[str, str]
    raw_body: str  # as text, "" for none (request_body.body_text)
    content_type: str
    base_path: str  # what precedes "/escalations/..." in the browser's URL: "/prod" on execute-api

    @property
    def wants_json(self) -> bool:
        return wants_json(self.headers)

    def url(self, suffix: str = "") -> str:
        """The path of this escalation's page (+ suffix), as the browser must request it."""
        return f"{self.base_path}/escalations/{quote(self.escalation_id, safe='')}{suffix}"


def wants_json(headers: Mapping[str, str]) -> bool:
    """JSON when the request accepts it or sends it; HTML otherwise (a browser). `headers` case-insensitive."""
    return "application/json" in (headers.get("accept") or "") or _content_type(headers) == "application/json"


def _content_type(headers: Mapping[str, str]) -> str:
    return (headers.get("content-type") or "").split(";")[0].strip().lower()


def parse_event(raw: dict[str, Any], escalation_id: str) -> ExpertRequest:
    """The request an API Gateway proxy event carries. `escalation_id` is the path's segment as routed (a
    REST API sends the path percent-encoded): anything but an escalation id is no escalation (404)."""
    event = APIGatewayProxyEvent(raw)
    context = raw.get("requestContext") or {}
    body = body_text(raw)
    query = dict(event.query_string_parameters or {})
    for name, value in query.items():
        _check_text(name, value)
    if not IDENTIFIER.fullmatch(escalation_id):
        raise RequestError("escalation_id", "is not an escalation id", status=404)
    return ExpertRequest(
        escalation_id=escalation_id, query=query, headers=event.headers, raw_body=body,
        content_type=_content_type(event.headers), base_path=_base_path(event.path or "", context),
    )


def _check_text(name: str, value: str) -> str:
    """A field's value must be storable text: JSON can escape a lone surrogate ("\\ud800"), which no UTF-8
    store, signature or page can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestError(echoed_name(name),
                           "must be valid Unicode text (it contains an unpaired surrogate)") from None
    return value


def _base_path(path: str, context: Mapping[str, Any]) -> str:
    """requestContext.path is the path the browser used (stage or custom-domain base path included);
    event.path is the same path without that prefix. Falls back to "/{stage}"."""
    full = context.get("path") or ""
    if path and full.endswith(path):
        return full[: len(full) - len(path)].rstrip("/")
    stage = context.get("stage")
    return f"/{stage}" if stage and stage != "$default" else ""


def body_fields(request: ExpertRequest) -> dict[str, str]:
    """A POST body as one string per field: a JSON object or a urlencoded form."""
    raw = request.raw_body
    if request.content_type == "application/json":
        return _strings(json_object(raw))
    if request.content_type not in ("", "application/x-www-form-urlencoded"):
        raise RequestError("body", "send application/x-www-form-urlencoded or application/json")
    if not raw.strip():
        return {}
    try:
        parsed = parse_qs(raw, keep_blank_values=True, strict_parsing=True, max_num_fields=_MAX_FORM_FIELDS,
                          errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise RequestError("body", "is not a valid form") from None
    repeated = sorted(name for name, values in parsed.items() if len(values) > 1)
    if repeated:
        raise RequestError(repeated[0], "was sent more than once")
    return {name: values[0] for name, values in parsed.items()}


def json_fields(request: ExpertRequest, allowed: tuple[str, ...]) -> dict[str, str]:
    """An inbox request's JSON body (no body is no fields), with no field but `allowed`: a misspelt field is
    named rather than ignored."""
    if not request.raw_body.strip():
        return {}
    if request.content_type != "application/json":
        raise RequestError("body", "send application/json")
    return _strings(json_object(request.raw_body, allowed))


def _strings(data: dict[str, Any]) -> dict[str, str]:
    """A JSON body's fields as a form's: one string each (a flag may be a JSON boolean, a link's exp a number)."""
    fields: dict[str, str] = {}
    for name, value in data.items():
        _check_text("body", name)
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, int) and name == "exp":
            fields[name] = str(value)
        elif isinstance(value, str):
            fields[name] = _check_text(name, value)
        else:
            raise RequestError(echoed_name(name), "must be a string")
    return fields


def link_params(fields: Mapping[str, str]) -> LinkParams:
    missing = [name for name in ("session_id", "exp", "sig") if not fields.get(name)]
    if missing:
        raise LinkInvalid(f"the link lacks {', '.join(missing)}")
    if not IDENTIFIER.fullmatch(fields["session_id"]):
        raise LinkInvalid("the link's session_id is not a session id")
    return LinkParams(session_id=fields["session_id"], exp=fields["exp"], sig=fields["sig"])


def expert_name(fields: Mapping[str, str]) -> str:
    name = (fields.get("expert") or "").strip()
    if not name:
        raise RequestError("expert", "is required: enter your name")
    if len(name) > MAX_EXPERT_NAME_CHARS:
        raise RequestError("expert", f"must be at most {MAX_EXPERT_NAME_CHARS} characters")
    if _CONTROL.search(name):
        raise RequestError("expert", "must be a single line of text")
    return name


def _text(fields: Mapping[str, str], field: str, *, max_chars: int, required: bool) -> str:
    # Browsers send a textarea's line breaks as CRLF: count them as one character.
    text = (fields.get(field) or "").replace("\r\n", "\n").replace("\r", "\n")
    if required and not text.strip():
        raise RequestError(field, "must not be empty")
    if len(text) > max_chars:
        raise RequestError(field, f"must be at most {max_chars} characters (got {len(text)})")
    if _CONTROL_EXCEPT_NEWLINE_TAB.search(text):
        raise RequestError(field, "must not contain control characters")
    return text.strip()


def reply_text(fields: Mapping[str, str], *, max_chars: int) -> str:
    return _text(fields, "text", max_chars=max_chars, required=True)


def resolution_note(fields: Mapping[str, str], *, max_chars: int) -> str:
    return _text(fields, "note", max_chars=max_chars, required=False)


def reply_id(fields: Mapping[str, str], *, required: bool = False) -> str | None:
    """The reply's idempotency key (a UUID the console page puts in its form; the inbox's page makes one per
    message), if the request has one; `required`: the inbox's requests must."""
    value = (fields.get("reply_id") or "").strip()
    if not value and required:
        raise RequestError("reply_id", "is required: a new UUID per message, the same one when a send is retried")
    if not value:
        return None
    if not _UUID.fullmatch(value):
        raise RequestError("reply_id", "must be the UUID the console form carries")
    return value


def close_flag(fields: Mapping[str, str]) -> bool:
    value = (fields.get("close") or "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise RequestError("close", "must be true or false")


def after_timestamp(query: Mapping[str, str]) -> str | None:
    after = query.get("after")
    if after is None or after == "":
        return None
    if not _TIMESTAMP.fullmatch(after):
        raise RequestError("after", "must be a turn's created_at, e.g. 2026-11-25T01:20:00.123456Z")
    return after
