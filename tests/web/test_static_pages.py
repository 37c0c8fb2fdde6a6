"""What the web app's files may hold, read from the files: the pages are sent with a Content-Security-Policy
that allows no inline script or style, and every text that came from a person or the table goes into a page
as text. So no page has inline code, and no script parses markup or evaluates text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
PAGES = sorted(WEB.glob("*.html"))
SCRIPTS = sorted((WEB / "assets").glob("*.js"))
MARKUP_OR_CODE_FROM_TEXT = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "createContextualFragment",
                            "DOMParser", "eval(", "new Function", "setTimeout(\"", "setInterval(\"")
INLINE_STYLE_FROM_SCRIPT = ".style"  # style="" attributes are refused by the policy: classes and `hidden` instead


def test_there_are_pages_and_scripts_to_check():
    assert {p.name for p in PAGES} >= {"index.html", "mailbox.html", "behind-the-scenes.html"}
    assert len(SCRIPTS) >= 3


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_parses_markup_evaluates_text_or_sets_inline_styles(script):
    code = re.sub(r"^\s*//.*$", "", script.read_text(), flags=re.M)  # what runs, not what comments say
    for forbidden in (*MARKUP_OR_CODE_FROM_TEXT, INLINE_STYLE_FROM_SCRIPT):
        assert forbidden not in code, f"{script.name} uses {forbidden}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_has_inline_code_or_style(page):
    html = page.read_text()
    assert not re.search(r"\sstyle\s*=", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)
    assert not re.search(r"<style", html, re.I)
    scripts = re.findall(r"<script[^>]*>", html, re.I)
    assert scripts, f"{page.name} loads no script"
    for tag in scripts:
        assert re.fullmatch(r'<script type="module" src="/assets/[a-z-]+\.js">', tag), tag
        assert (WEB / "assets" / re.search(r"/assets/([a-z-]+\.js)", tag).group(1)).exists(), tag  # type: ignore[union-attr]
