"""The Ground Truth input manifest: one LabelingItem per line (lambdas/common/feedback.py), pure.

Limits (AWS-CONTRACTS.md): at most 20,000 characters per attribute and 100,000 per line; the
pre-annotation Lambda receives a line as a request of at most 100 KB. Both are kept with room to spare by
measuring what is written, not the raw text: an attribute's JSON encoding (quotes and escapes included) has
at most MAX_ATTRIBUTE_CHARS characters and TEXT_MAX_BYTES UTF-8 bytes, so a line of three texts, ids and
a few source URIs stays under 100,000 characters and 100,000 bytes.

A text that does not fit is cut before a character that fits (never between a character and its combining
marks) and ends with a visible note, "[cut: N of M characters shown]", so a rater knows the answer is not
complete; the line also lists the cut attributes under "truncated" (Ground Truth and the pre-annotation
Lambda pass extra keys through).

`source` is what Ground Truth keeps with the label in its output manifest, and the one text of the line it
hands the consolidation Lambda (as `dataObject.content`), which finds the line again by it in the job's input
manifest (docs/ground-truth.md). So it reads "Question: ...\n\nAnswer: ...\n\nTandem item: session <id>,
turn <id>": question and answer each cut to half of the room the attribute has left after the reference
line, so a long question never hides the answer, and the reference makes every line's `source` unique in
its job (a job never holds one turn twice: sampling.collect takes each once and manifest_body refuses a
repeat). The reference names ids only, never customer text.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any, Sequence

from lambdas.common.feedback import MAX_ATTRIBUTE_CHARS, MAX_OBJECT_CHARS, LabelingItem, Sampling
from lambdas.common.transcript import IDENTIFIER
from lambdas.feedback_sampler.sampling import Candidate

MAX_OBJECTS = 100_000  # per labeling job
MAX_LINE_BYTES = 100_000  # the pre-annotation Lambda's request (AWS-CONTRACTS.md)
TEXT_MAX_BYTES = 30_000  # per text attribute: three of them and the rest stay under MAX_LINE_BYTES
SOURCES_MAX_CHARS = 2_000  # all cited URIs together
SOURCE_URI_MAX_CHARS = 1_000
# The reference line at its longest (two 128-character ids) encodes to 290 characters and bytes; with the
# "Question: " and "Answer: " labels the source keeps under MAX_ATTRIBUTE_CHARS and TEXT_MAX_BYTES.
REFERENCE_ROOM = 320
_HALF_CHARS = (MAX_ATTRIBUTE_CHARS - REFERENCE_ROOM) // 2
_HALF_BYTES = (TEXT_MAX_BYTES - REFERENCE_ROOM) // 2


class ManifestError(ValueError):
    """A line broke a limit after cutting: a bug here, never a reason to send the line."""


def encoded_chars(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def _fits(value: str, max_chars: int, max_bytes: int) -> bool:
    encoded = json.dumps(value, ensure_ascii=False)
    return len(encoded) <= max_chars and len(encoded.encode("utf-8")) <= max_bytes


def cut(text: str, *, max_chars: int = MAX_ATTRIBUTE_CHARS, max_bytes: int = TEXT_MAX_BYTES) -> tuple[str, bool]:
    """`text`, or its longest prefix plus a cut note whose JSON encoding fits both limits; and whether it was cut."""
    if _fits(text, max_chars, max_bytes):
        return text, False

    def shortened(n: int) -> str:
        return f"{text[:n].rstrip()}\n[cut: {n:,} of {len(text):,} characters shown]"

    low, high = 0, len(text)  # the longest prefix that fits lies in [low, high)
    while low < high:
        middle = (low + high + 1) // 2
        if _fits(shortened(middle), max_chars, max_bytes):
            low = middle
        else:
            high = middle - 1
    n = low
    while n > 0 and unicodedata.category(text[n]) in ("Mn", "Mc", "Me"):
        n -= 1  # text[n] is the first character left out: keep no base without its marks
    return shortened(n), True


def _sources(uris: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    kept: list[str] = []
    for uri in uris:
        if len(uri) <= SOURCE_URI_MAX_CHARS and encoded_chars(kept + [uri]) <= SOURCES_MAX_CHARS:
            kept.append(uri)
    return tuple(kept), len(kept) != len(uris)


def reference(session_id: str, turn_id: str) -> str:
    """The line that ends every `source`: the turn it is, so that no two lines of a job share a source."""
    if not (IDENTIFIER.fullmatch(session_id) and IDENTIFIER.fullmatch(turn_id)):
        raise ManifestError("session and turn ids must be plain ids (transcript.IDENTIFIER)")
    return f"Tandem item: session {session_id}, turn {turn_id}"


def manifest_line(candidate: Candidate, sampling: Sampling) -> str:
    """One manifest line (no newline) for `candidate`, whose texts are already redacted when they must be."""
    question, question_cut = cut(candidate.question)
    answer, answer_cut = cut(candidate.answer)
    shown_question, short_q = cut(candidate.question, max_chars=_HALF_CHARS, max_bytes=_HALF_BYTES)
    shown_answer, short_a = cut(candidate.answer, max_chars=_HALF_CHARS, max_bytes=_HALF_BYTES)
    sources, sources_cut = _sources(candidate.sources)
    source = (f"Question: {shown_question}\n\nAnswer: {shown_answer}\n\n"
              f"{reference(candidate.session_id, candidate.turn_id)}")
    item = LabelingItem(source=source,
                        session_id=candidate.session_id, turn_id=candidate.turn_id, question=question,
                        answer=answer, sampling=sampling, sources=sources)
    data = item.to_dict()
    truncated = [name for name, was_cut in (("source", short_q or short_a), ("question", question_cut),
                                            ("answer", answer_cut), ("sources", sources_cut)) if was_cut]
    if truncated:
        data["truncated"] = truncated
    check(data)
    return json.dumps(data, ensure_ascii=False)


def check(data: dict[str, Any]) -> None:
    """ManifestError unless `data` keeps Ground Truth's limits."""
    for name, value in data.items():
        if name.startswith("$"):
            raise ManifestError(f"attribute {name!r} starts with '$'")
        if encoded_chars(value) > MAX_ATTRIBUTE_CHARS:
            raise ManifestError(f"attribute {name!r} has more than {MAX_ATTRIBUTE_CHARS} characters")
    line = json.dumps(data, ensure_ascii=False)
    if len(line) > MAX_OBJECT_CHARS or len(line.encode("utf-8")) > MAX_LINE_BYTES:
        raise ManifestError(f"line of {data.get('session_id')}/{data.get('turn_id')} is over the object limit")


def manifest_body(candidates: Sequence[Candidate], sampling: Sampling) -> bytes:
    """The manifest of one job. A turn given twice is a bug upstream, refused here because the consolidation
    Lambda could tell neither line from the other (their sources would be the same)."""
    if len(candidates) > MAX_OBJECTS:
        raise ManifestError(f"{len(candidates)} objects: a labeling job takes at most {MAX_OBJECTS}")
    keys = {c.key for c in candidates}
    if len(keys) != len(candidates):
        raise ManifestError("a turn is given twice: a job must hold each (session_id, turn_id) once")
    return "".join(manifest_line(c, sampling) + "\n" for c in candidates).encode("utf-8")
