"""Masks personal data with Amazon Comprehend DetectPiiEntities before text leaves the conversation store:
for raters (lambdas/feedback_sampler) and for the knowledge base other customers read (lambdas/expert_api).

`redact` replaces each entity with its type in brackets ("[EMAIL]", "[NAME]") and leaves every other
character as it was. Every entity Comprehend reports is masked, whatever its score: a false positive costs
a word, a false negative leaks it.

Fail safe: when Comprehend cannot check the text (any ClientError or BotoCoreError, or an answer whose
offsets do not fit the text) `redact_texts` raises RedactionFailed, carrying the error code only, and the
caller writes nothing. The text never goes out unmasked because a check failed.

A function that masks reads two variables, REDACT_PII and LANGUAGE_CODE (`masking_settings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common import clients
from lambdas.common.env_settings import EXACT_FLAG, SettingsError, Variable, one_of

MAX_REQUEST_BYTES = 100_000  # DetectPiiEntities' Text limit, 100 KB of UTF-8 (AWS-CONTRACTS.md, Comprehend)
LANGUAGE_CODES = ("en", "es")  # the languages DetectPiiEntities masks (AWS-CONTRACTS.md, Comprehend)
# Whether the function masks (exactly as the stack writes it), and the conversations' language.
REDACT_PII = Variable("REDACT_PII", EXACT_FLAG)
LANGUAGE_CODE = Variable("LANGUAGE_CODE", one_of(*LANGUAGE_CODES))
JOINT = "\n\n"  # between the texts that share a request
_TYPE = re.compile(r"[A-Z][A-Z0-9_]*")


class RedactionFailed(RuntimeError):
    """Comprehend could not check the text, so it must not be exported. Carries the error code only:
    an error message may quote the text it was about."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Entity:
    """A span of personal data: characters [begin, end) of one text."""

    type: str
    begin: int | None  # None (a Comprehend answer without the offset) is refused by `redact`
    end: int | None


def masking_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """`redact_pii` and `language_code` of a function's settings. LANGUAGE_CODE is read only when masking
    (None otherwise), and then it is required."""
    if not REDACT_PII.read(environ):
        return {"redact_pii": False, "language_code": None}
    if not environ.get(LANGUAGE_CODE.name, "").strip():
        raise SettingsError(LANGUAGE_CODE.name, f"is required when {REDACT_PII.name} is true")
    return {"redact_pii": True, "language_code": LANGUAGE_CODE.read(environ)}


# Masking (pure) ---------------------------------------------------------------------------------------

def _entity(raw: Entity | Mapping[str, Any]) -> Entity:
    if isinstance(raw, Entity):
        return raw
    # Missing offsets stay None here and are refused by `redact` with the out-of-range ones.
    return Entity(type=raw.get("Type") or "", begin=raw.get("BeginOffset"), end=raw.get("EndOffset"))


def _label(types: list[str]) -> str:
    names = [t if _TYPE.fullmatch(t) else "PII" for t in types]
    return "[" + "|".join(dict.fromkeys(names)) + "]"


def redact(text: str, entities: Iterable[Entity | Mapping[str, Any]]) -> str:
    """`text` with each entity's characters replaced by "[TYPE]". Entities are Comprehend's
    ({Type, BeginOffset, EndOffset}, end exclusive) or Entity values, in any order. Overlapping entities
    become one mask naming their types in order ("[NAME|EMAIL]"); adjacent ones keep a mask each. A type
    that is not an upper-case name becomes "PII". ValueError if an offset falls outside the text."""
    spans: list[tuple[int, int, str]] = []
    for entity in map(_entity, entities):
        first, last = entity.begin, entity.end
        if not (isinstance(first, int) and isinstance(last, int) and 0 <= first <= last <= len(text)):
            raise ValueError(f"entity offsets {first}..{last} do not fit a text of {len(text)} characters")
        spans.append((first, last, entity.type))
    spans.sort(key=lambda span: span[:2])
    merged: list[tuple[int, int, list[str]]] = []
    for first, last, kind in spans:
        if first == last:
            continue
        if merged and first < merged[-1][1]:
            begin, end, types = merged[-1]
            merged[-1] = (begin, max(end, last), types + [kind])
        else:
            merged.append((first, last, [kind]))
    parts, kept = [], 0
    for begin, end, types in merged:
        parts += [text[kept:begin], _label(types)]
        kept = end
    parts.append(text[kept:])
    return "".join(parts)


def split_utf8(text: str, max_bytes: int) -> list[tuple[int, str]]:
    """`text` cut into pieces of at most `max_bytes` UTF-8 bytes each, as (offset of the piece in `text`,
    piece). A cut falls after the last line break, else the last space, of the second half of a piece's
    room; else after the last character that fits. The pieces join back into `text`."""
    if max_bytes < 4:  # the longest UTF-8 character
        raise ValueError("max_bytes must leave room for any character (4 bytes)")
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        window = text[start:start + max_bytes]  # every character takes at least one byte
        encoded = window.encode("utf-8")
        if len(encoded) > max_bytes:
            # Bytes up to the limit, less a character cut short: the longest prefix that fits.
            window = encoded[:max_bytes].decode("utf-8", errors="ignore")
        if start + len(window) < len(text):  # not the last piece: prefer a natural break
            floor = len(window) // 2
            cut = window.rfind("\n", floor) + 1 or next(
                (i + 1 for i in range(len(window) - 1, floor - 1, -1) if window[i].isspace()), 0)
            if cut:
                window = window[:cut]
        pieces.append((start, window))
        start += len(window)
    return pieces


# Comprehend ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Placed:
    index: int  # which text
    offset: int  # where the piece starts in that text
    at: int  # where it starts in the request
    length: int


def _requests(texts: Sequence[str], max_bytes: int) -> list[tuple[str, list[_Placed]]]:
    """The pieces of every text packed, in order, into as few requests as fit `max_bytes`."""
    joint_bytes = len(JOINT.encode("utf-8"))
    requests: list[tuple[str, list[_Placed]]] = []
    parts: list[str] = []
    placed: list[_Placed] = []
    size = at = 0
    for index, text in enumerate(texts):
        for offset, piece in split_utf8(text, max_bytes):
            if not piece.strip():  # nothing to find in blanks (and Comprehend refuses empty text)
                continue
            piece_bytes = len(piece.encode("utf-8"))
            if parts and size + joint_bytes + piece_bytes > max_bytes:
                requests.append((JOINT.join(parts), placed))
                parts, placed, size, at = [], [], 0, 0
            if parts:
                size += joint_bytes
                at += len(JOINT)
            placed.append(_Placed(index=index, offset=offset, at=at, length=len(piece)))
            parts.append(piece)
            size += piece_bytes
            at += len(piece)
    if parts:
        requests.append((JOINT.join(parts), placed))
    return requests


def _detect(text: str, language_code: str) -> list[Mapping[str, Any]]:
    try:
        response = clients.client("comprehend").detect_pii_entities(Text=text, LanguageCode=language_code)
    except ClientError as error:
        raise RedactionFailed(error.response.get("Error", {}).get("Code") or "ClientError") from None
    except BotoCoreError as error:
        raise RedactionFailed(type(error).__name__) from None
    return response.get("Entities", [])


def detect_pii(texts: Sequence[str], language_code: str, *, max_bytes: int = MAX_REQUEST_BYTES) -> list[list[Entity]]:
    """The personal data in each text (offsets into that text), from as few DetectPiiEntities requests as
    the limit allows. RedactionFailed when Comprehend fails or answers with offsets outside its text."""
    found: list[list[Entity]] = [[] for _ in texts]
    for request, placed in _requests(texts, max_bytes):
        for raw in _detect(request, language_code):
            begin, end = raw.get("BeginOffset"), raw.get("EndOffset")
            if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(request)):
                raise RedactionFailed("EntityOffsetsOutOfRange")
            for piece in placed:  # every piece the entity touches (one, unless it runs across a joint)
                lo, hi = max(begin, piece.at), min(end, piece.at + piece.length)
                if lo < hi:
                    found[piece.index].append(Entity(type=raw.get("Type") or "", begin=piece.offset + lo - piece.at,
                                                     end=piece.offset + hi - piece.at))
    return found


def redact_texts(texts: Sequence[str], language_code: str, *, max_bytes: int = MAX_REQUEST_BYTES) -> list[str]:
    """Each text with its personal data masked; RedactionFailed (nothing masked) if Comprehend failed."""
    found = detect_pii(texts, language_code, max_bytes=max_bytes)
    return [redact(text, entities) for text, entities in zip(texts, found, strict=True)]


class PiiMasker:
    """The seam between a function's rules and Comprehend: the expert API's knowledge export and the
    sampler's manifest both mask through it, and their tests stand in for it. What a RedactionFailed means
    (nothing masked) is decided by the caller's rules."""

    def mask(self, texts: Sequence[str], language_code: str) -> list[str]:
        """Each text with its personal data masked, in the order given, in as few Comprehend requests as fit."""
        return redact_texts(texts, language_code)
