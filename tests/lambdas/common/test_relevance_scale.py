"""The relevance scale is said one way everywhere: the raters' console and its doc show the words of
lambdas/common/relevance_scale.py, which the evaluation gate's judge is given as its rubric."""

from __future__ import annotations

import html
import re
from pathlib import Path

from lambdas.common.feedback import MAX_RATING, MIN_RATING
from lambdas.common.relevance_scale import HIGHEST, LOWEST, RELEVANCE_MEANINGS, RELEVANCE_QUESTION, rubric

ROOT = Path(__file__).resolve().parents[3]


def test_the_raters_page_shows_the_scale_and_the_question_of_the_module():
    page = (ROOT / "web" / "rate.html").read_text()
    options = re.findall(r'<input type="radio" name="value" value="(\d)">\s*<span class="scale-number">\1</span>'
                         r'\s*<span class="scale-meaning">([^<]*)</span>', page)
    assert {int(value): html.unescape(meaning) for value, meaning in options} == RELEVANCE_MEANINGS
    assert len(options) == len(RELEVANCE_MEANINGS)
    legend = re.search(r'<fieldset class="scale"[^>]*>\s*<legend>([^<]*)</legend>', page)
    assert legend and html.unescape(legend.group(1)) == RELEVANCE_QUESTION


def test_the_rating_console_doc_lists_the_scale_of_the_module():
    doc = (ROOT / "docs" / "rating-console.md").read_text()
    rows = re.findall(r"^\s*\| ([1-5]) \| ([^|]+?) \|$", doc, re.M)
    assert {int(value): meaning for value, meaning in rows} == RELEVANCE_MEANINGS


def test_the_scale_spans_the_ratings_a_record_may_hold():
    assert (LOWEST, HIGHEST) == (MIN_RATING, MAX_RATING)
    assert sorted(RELEVANCE_MEANINGS) == list(range(MIN_RATING, MAX_RATING + 1))


def test_the_rubric_gives_every_rating_its_meaning_lowest_first():
    assert rubric().splitlines() == [f"{r}: {RELEVANCE_MEANINGS[r]}" for r in range(1, 6)]
