"""The customer's chat (web/index.html) against the running demo: answers with their sources, refused
messages, a reload, hostile text, a phone's width."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, customer_texts, roles

PHONE = {"width": 360, "height": 740}


def chat_posts(page: Any) -> list[str]:
    """The messages the page POSTs to the Chat API, as they are sent (a list that fills as the page runs)."""
    sent: list[str] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/prod/chat"):
            sent.append(json.loads(request.post_data or "{}").get("message"))

    page.on("request", record)
    return sent


def test_an_answer_shows_its_sources_and_the_stand_in_model(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open()
    expect(page.locator("#auth-note")).to_contain_text("Local sign-in")
    expect(page.locator("#local-badge")).to_be_visible()
    shots(page, "sign in")
    chat.sign_in("router-asker")

    answer = chat.ask("How do I set up my router?")
    shots(page, "answered")
    expect(chat.turns("customer").locator(".turn-text")).to_have_text(["How do I set up my router?"])
    expect(answer.locator(".turn-who")).to_have_text("Assistant")
    expect(answer.locator(".turn-text")).to_contain_text("Fernlink Hub")
    sources = answer.locator(".source")
    expect(sources.first).to_be_visible()
    expect(answer.locator(".source-uri").first).to_contain_text("router-setup")
    expect(answer.locator(".source-name").first).to_contain_text("Router setup")
    excerpt = sources.first.locator("details.source-excerpt")
    excerpt.locator("summary").click()
    expect(excerpt.locator(".source-excerpt-text")).to_contain_text("Hub")
    expect(chat.model_note).to_be_visible()
    expect(chat.model_note).to_contain_text("stand-in")
    expect(chat.model_note).to_contain_text(demo.client_config()["model"]["note"])
    shots(page, "excerpt open")


def test_a_too_long_message_is_refused_by_the_server_and_kept_in_the_box(demo: Any, page: Any, shots: Any) -> None:
    limit = demo.client_config()["maxMessageChars"]
    chat = ChatPage(page, demo.base_url).open().sign_in("long-writer")
    marker = f"too-long-{uuid.uuid4()} "
    text = marker + "x" * (limit + 1 - len(marker))
    assert len(text) == limit + 1
    chat.box.fill(text)
    expect(chat.counter).to_contain_text(f"{limit + 1} / {limit}")
    expect(chat.counter).to_have_class("counter over")
    with page.expect_response(lambda r: r.url.endswith("/prod/chat") and r.request.method == "POST") as answer:
        chat.send_button.click()
    assert answer.value.status == 400  # the server judged it: the page does not stop it on its own
    shots(page, "refused")
    expect(chat.error).to_be_visible()
    expect(chat.error).to_contain_text(f"at most {limit} characters")
    expect(chat.error).to_contain_text(f"got {limit + 1}")
    expect(chat.box).to_have_attribute("aria-describedby", "message-error message-help message-counter")
    expect(chat.box).to_have_attribute("aria-invalid", "true")
    expect(chat.box).to_have_value(text)
    expect(chat.turns("customer")).to_have_count(0)
    assert not [t for t in customer_texts(demo) if t.startswith(marker.strip())]


def test_an_empty_message_is_not_sent(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open().sign_in("quiet-one")
    sent = chat_posts(page)
    chat.box.fill("   \n  ")
    chat.send_button.click()
    expect(chat.error).to_contain_text("Type a message")
    expect(chat.box).to_have_attribute("aria-invalid", "true")
    chat.box.press("Enter")
    shots(page, "empty refused")
    expect(chat.turns("customer")).to_have_count(0)
    # Typing clears the page's own error; the next real message is the first thing the page ever POSTs.
    chat.box.fill("When is my bill due?")
    expect(chat.error).to_be_hidden()
    chat.box.press("Enter")
    expect(chat.turns("bot")).to_have_count(1)
    assert sent == ["When is my bill due?"]


def test_a_reload_keeps_the_conversation(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open().sign_in("reloader")
    chat.ask("How do I set up my router?")
    session_id = chat.session_id()
    page.reload()
    shots(page, "reloaded")
    expect(chat.turns("customer")).to_have_count(1)
    expect(chat.turns("customer").first.locator(".turn-text")).to_have_text("How do I set up my router?")
    expect(chat.turns("bot")).to_have_count(1)
    expect(chat.turns("bot").first.locator(".source-uri").first).to_contain_text("router-setup")
    assert chat.session_id() == session_id
    # The same conversation goes on, and nothing was shown twice.
    chat.ask("What do the lights on the hub mean?")
    expect(chat.turns("customer")).to_have_count(2)
    assert chat.session_id() == session_id
    assert roles(demo, session_id) == ["customer", "bot", "customer", "bot"]


def test_markup_in_a_message_is_shown_as_text(demo: Any, page: Any, shots: Any) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    chat = ChatPage(page, demo.base_url).open().sign_in("mallory")
    hostile = "<img src=x onerror=alert(1)> <b>bold?</b>"
    chat.ask(hostile)
    shots(page, "hostile text")
    expect(chat.turns("customer").first.locator(".turn-text")).to_have_text(hostile)
    expect(chat.log.locator("img")).to_have_count(0)
    expect(chat.log.locator("b")).to_have_count(0)
    page.reload()  # the same text read back through GET messages
    expect(chat.turns("customer").first.locator(".turn-text")).to_have_text(hostile)
    expect(chat.log.locator("img")).to_have_count(0)
    assert dialogs == []


def test_a_phone_never_scrolls_sideways(demo: Any, page: Any, shots: Any) -> None:
    page.set_viewport_size(PHONE)
    chat = ChatPage(page, demo.base_url).open()

    def width() -> int:
        return int(page.evaluate("document.documentElement.scrollWidth"))

    expect(page.get_by_label("Your name")).to_be_visible()
    assert width() <= PHONE["width"]
    chat.sign_in("phone-user")
    answer = chat.ask("How do I set up my router?")
    answer.locator("details.source-excerpt summary").first.click()
    chat.ask("Whatabout" + "averylongwordwithoutanyspaces" * 8)
    shots(page, "phone")
    assert width() <= PHONE["width"]
    chat.box.fill("y" * (demo.client_config()["maxMessageChars"] + 1))
    chat.send_button.click()
    expect(chat.error).to_be_visible()
    assert width() <= PHONE["width"]
