"""groundtruth_templates/relevance.liquid.html rendered with python-liquid for the task inputs the
pre-annotation Lambda produces: well-formed HTML with one crowd-form and a five-category classifier, the
customer's and the bot's text escaped (markup in it stays text), sources and errors shown only when there."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from liquid import Environment

from lambdas.common.feedback import LabelingItem, Sampling
from lambdas.groundtruth_pre.items import ERROR_MESSAGE, error_task_input, task_input

TEMPLATE = Path(__file__).resolve().parents[2] / "groundtruth_templates" / "relevance.liquid.html"
CROWD_JS = "https://assets.crowd.aws/crowd-html-elements.js"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
ATTACK = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


class Page(HTMLParser):
    """Start tags (with attributes and ancestors), the text nodes (with the ids around them), and every
    nesting error of the rendered page."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []  # (tag, attrs, ancestors)
        self.open: list[tuple[str, str | None]] = []  # (tag, id)
        self.errors: list[str] = []
        self.text: list[tuple[str, frozenset[str]]] = []  # (text, ids of the elements around it)
        self.feed(html)
        self.close()
        if self.open:
            self.errors.append(f"never closed: {[t for t, _ in self.open]}")

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs, tuple(t for t, _ in self.open)))
        if tag not in VOID:
            self.open.append((tag, attrs.get("id")))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(t for t, _ in self.open)))

    def handle_endtag(self, tag):
        if not self.open or self.open[-1][0] != tag:
            self.errors.append(f"</{tag}> closes {self.open[-1][0] if self.open else 'nothing'}")
        else:
            self.open.pop()

    def handle_data(self, data):
        if data.strip():
            self.text.append((data, frozenset(i for _, i in self.open if i)))

    def find(self, tag: str) -> list[tuple[dict[str, str | None], tuple[str, ...]]]:
        return [(attrs, ancestors) for t, attrs, ancestors in self.tags if t == tag]

    def texts_in(self, element_id: str) -> list[str]:
        assert any(a.get("id") == element_id for _, a, _ in self.tags), f"no element with id {element_id}"
        return [data.strip() for data, ids in self.text if element_id in ids]

    def text_of(self, element_id: str) -> str:
        return "".join(self.texts_in(element_id))


def item(**changes) -> LabelingItem:
    fields = dict(source="Q/A", session_id="s-1", turn_id="t-1", question="How do I reset my password?",
                  answer="Open Settings, then Security, then Reset password.", sampling=Sampling("uniform", 1),
                  sources=("s3://tandem-knowledge/faq/passwords.md",))
    fields.update(changes)
    return LabelingItem(**fields)


@pytest.fixture(params=[False, True], ids=["plain", "autoescape"])
def render(request):
    """The template rendered as Ground Truth would, with and without Liquid's own autoescaping (Ground Truth
    autoescapes; the template escapes explicitly, so it is safe without and not escaped twice with)."""
    template = Environment(autoescape=request.param).from_string(TEMPLATE.read_text())

    def call(task_input: dict) -> str:
        return template.render(task={"input": task_input})

    return call


def test_the_template_loads_the_crowd_elements_and_has_one_form(render):
    page = Page(render(task_input(item())))

    assert page.errors == []
    assert [a.get("src") for a, _ in page.find("script")] == [CROWD_JS]
    assert len(page.find("crowd-form")) == 1


def test_the_classifier_offers_exactly_the_five_ratings_inside_the_form(render):
    page = Page(render(task_input(item())))

    ((attrs, ancestors),) = page.find("crowd-classifier")
    assert "crowd-form" in ancestors
    assert attrs["name"] == "relevance"
    assert ast.literal_eval(attrs["categories"]) == ["1", "2", "3", "4", "5"]
    assert "5 = most relevant" in attrs["header"]


def test_the_classifier_has_short_and_full_instructions(render):
    page = Page(render(task_input(item())))

    for tag in ("short-instructions", "full-instructions", "classification-target"):
        ((_, ancestors),) = page.find(tag)
        assert ancestors[-1] == "crowd-classifier"


def test_the_optional_comment_is_a_named_text_area_inside_the_form(render):
    page = Page(render(task_input(item())))

    ((attrs, ancestors),) = page.find("crowd-text-area")
    assert attrs["name"] == "comment" and "crowd-form" in ancestors
    assert "required" not in attrs


def test_the_question_and_the_answer_are_shown(render):
    page = Page(render(task_input(item())))

    assert page.text_of("question") == "How do I reset my password?"
    assert page.text_of("answer") == "Open Settings, then Security, then Reset password."


@pytest.mark.parametrize("field", ["question", "answer"])
def test_markup_in_customer_or_bot_text_stays_text(render, field):
    html = render(task_input(item(**{field: ATTACK})))
    page = Page(html)

    assert page.errors == []
    assert [a.get("src") for a, _ in page.find("script")] == [CROWD_JS]  # no script was added
    assert page.find("img") == []
    assert page.text_of(field) == ATTACK  # shown as written, once escaped (not &amp;lt;)
    assert "&amp;lt;" not in html


def test_markup_in_sources_and_errors_stays_text(render):
    page = Page(render({**task_input(item(sources=(ATTACK,))), "error": ATTACK}))

    assert page.errors == [] and page.find("img") == []
    assert [a.get("src") for a, _ in page.find("script")] == [CROWD_JS]


def test_unicode_is_shown_as_it_is(render):
    text = "Caf\u00e9 \u6ce8\u6587 \U0001F600 \u05e9\u05dc\u05d5\u05dd & <tags>"
    page = Page(render(task_input(item(question=text))))

    assert page.text_of("question") == text


def test_sources_are_listed_when_present(render):
    sources = ("s3://tandem-knowledge/faq/passwords.md", "https://kb.example.com/reset?a=1&b=2")
    page = Page(render(task_input(item(sources=sources))))

    assert page.texts_in("sources") == list(sources)


@pytest.mark.parametrize("task", [task_input(item(sources=())),
                                  {k: v for k, v in task_input(item()).items() if k != "sources"}],
                         ids=["empty", "missing"])
def test_no_sources_section_without_sources(render, task):
    html = render(task)

    assert 'id="sources"' not in html and "Sources the answer" not in html
    assert Page(html).errors == []


def test_an_error_is_shown_when_the_item_could_not_be_read(render):
    page = Page(render(error_task_input()))

    assert page.errors == []
    assert ERROR_MESSAGE in "".join(data for data, _ in page.text)
    assert len(page.find("crowd-classifier")) == 1


def test_no_error_is_shown_for_a_readable_item(render):
    html = render(task_input(item()))

    assert 'role="alert"' not in html and ERROR_MESSAGE not in html


def test_every_task_input_output_is_escaped_in_the_source():
    source = TEMPLATE.read_text()
    outputs = re.findall(r"{{(.*?)}}", source, re.DOTALL)

    assert outputs, "the template prints nothing"
    assert all(re.search(r"\|\s*escape\s*$", o.strip()) for o in outputs), outputs
    assert "skip_autoescape" not in source and "{% raw" not in source
