"""The one canonical form of customer text that the gate's rules and detectors read."""

from __future__ import annotations

import pytest

from lambdas.common.text_normalization import normalize


@pytest.mark.parametrize(("text", "expected"), [
    ("Ｉ ｗａｎｔ ａ ｈｕｍａｎ", "I want a human"),                 # full-width letters (NFKC)
    ("hu\u200bman a\u00adgent", "human agent"),                     # zero-width space, soft hyphen
    ("\ufeffag\u2060ent\u200d", "agent"),                           # byte-order mark, word joiner, joiner
    ("talk\n\n to  \t a\u00a0person ", "talk to a person"),         # any whitespace run, no-break space
    ("e\u0301", "\u00e9"),                                          # letter + combining accent composed
    ("e\u200b\u0301", "\u00e9"),                                    # ... even with a format character between
    ("\u202ereversed", "reversed"),                                 # a bidirectional control
])
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_normalize_is_idempotent():
    text = "Ｃａｎ  I\u200b talk to\na\u00adperson?"
    assert normalize(normalize(text)) == normalize(text)
