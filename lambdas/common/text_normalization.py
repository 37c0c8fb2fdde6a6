"""One canonical form of customer text for everything that matches or classifies it (the escalation
gate's rules and detectors), so that what a person reads as the same words is matched as the same words.

- NFKC: full-width and other compatibility forms become plain letters ("Ｈｕｍａｎ" -> "Human"), and a
  letter plus a combining accent becomes one character.
- Format characters (Unicode category Cf: zero-width spaces and joiners, the word joiner, soft hyphens,
  byte-order marks, bidirectional controls) are removed: they are invisible, so a reader never sees them
  split a word.
- Whitespace runs, line breaks included, become one space; the ends are trimmed.

The stored turn keeps the customer's original text; only matching uses this form.
"""

from __future__ import annotations

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    # Format characters go first, so that NFKC then sees (and composes) the letters they separated.
    visible = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", visible)).strip()


def strip_accents(text: str) -> str:
    """The text without combining marks ("húman" -> "human"); for matching only, never for display."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
