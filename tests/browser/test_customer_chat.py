"""The customer's chat (web/index.html) against the running demo: answers with their sources, refused
messages, a reload, hostile text, a phone's width."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, customer_texts, roles

PHONE = {"width": 360, "height": 740}
WEB = Path(__file__).resolve().parents[2] / "web"
MESSAGES = "**/prod/chat/*/messages*"


def chat_posts(page: Any) -> list[str]:
    """The messages the page POSTs to the Chat API, as they are sent (a list that fills as the page runs)."""
    sent: list[str] = []

    def record(request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/prod/chat"):
            sent.append(json.loads(request.post_data or "{}").get("message"))

    page.on("request", record)
    return sent


def test_an_answer_shows_its_sources_and_the_stand_in_model(demo: Any, page: Any, shots: Any) -> None:
    refused: list[str] = []  # what the Content-Security-Policy blocked (an inline style or script, say)
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
            else None)
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
    assert refused == []


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


MAYBE_NOT_SAVED = ("Your message may not have been saved. Check the conversation, then send it again if it is"
                   " missing.")


def test_a_message_that_was_not_saved_stays_in_the_box(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open().sign_in("unlucky")
    page.route("**/prod/chat", lambda route: route.fulfill(
        status=503, content_type="application/json",
        body='{"error": {"field": null, "message": "the message could not be saved; please resend it"}}'))
    chat.send("Is my hub covered by the warranty?")
    expect(chat.error).to_contain_text(MAYBE_NOT_SAVED)
    expect(chat.box).to_have_value("Is my hub covered by the warranty?")
    expect(chat.turns("customer")).to_have_count(0)
    shots(page, "not saved")

    page.unroute("**/prod/chat")
    page.route("**/prod/chat", lambda route: route.abort("internetdisconnected"))
    chat.send_button.click()
    expect(chat.error).to_contain_text(MAYBE_NOT_SAVED)
    expect(chat.box).to_have_value("Is my hub covered by the warranty?")

    page.unroute("**/prod/chat")
    chat.send_button.click()  # resent as it stood
    expect(chat.turns("customer").locator(".turn-text")).to_have_text(["Is my hub covered by the warranty?"])
    expect(chat.turns("bot")).to_have_count(1)
    expect(chat.error).to_be_hidden()
    expect(chat.box).to_have_value("")


def test_the_chat_works_from_the_keyboard(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open()
    expect(chat.log).to_have_attribute("role", "log")
    expect(chat.log).to_have_attribute("aria-live", "polite")
    name = page.get_by_label("Your name")
    expect(name).to_be_visible()  # shown once the page is ready: focusing it while hidden would do nothing
    name.focus()
    page.keyboard.type("keys-only")
    page.keyboard.press("Enter")
    expect(chat.box).to_be_focused()  # after sign-in, the message box has the focus
    sent = chat_posts(page)
    page.keyboard.type("First line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    expect(chat.box).to_have_value("First line\nsecond line")
    expect(chat.counter).to_contain_text(f"22 / {demo.client_config()['maxMessageChars']}")
    page.keyboard.press("Enter")
    expect(chat.turns("customer").locator(".turn-text")).to_have_text(["First line\nsecond line"])
    expect(chat.turns("bot")).to_have_count(1)
    assert sent == ["First line\nsecond line"]
    page.keyboard.press("Tab")
    expect(chat.send_button).to_be_focused()
    shots(page, "keyboard")

    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    expect(name).to_be_focused()
    expect(chat.chat).to_be_hidden()
    page.reload()  # signed out for good: neither the name nor the conversation come back
    expect(name).to_be_visible()
    expect(chat.chat).to_be_hidden()


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


def hide(page: Any, hidden: bool) -> None:
    """The tab hidden or shown again, as the page's visibilitychange listener sees it."""
    page.evaluate("""hidden => {
        Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
        document.dispatchEvent(new Event("visibilitychange"));
    }""", hidden)


def test_polling_waits_its_turn_backs_off_and_pauses_while_hidden(demo: Any, page: Any, shots: Any) -> None:
    interval = demo.client_config()["pollIntervalMs"] / 1000
    # The live channel cannot connect: the page polls at its normal pace, as it does whenever the socket is down.
    page.route_web_socket("**/live", lambda socket: socket.close())
    chat = ChatPage(page, demo.base_url).open().sign_in("poll-watcher")
    expect(chat.chat).to_have_attribute("data-live", "closed")
    chat.ask("How do I set up my router?")
    mode = {"now": "hold"}
    held: list[Any] = []
    polls: list[float] = []  # when each poll reached the network

    def route(request_route: Any) -> None:
        polls.append(time.monotonic())
        if mode["now"] == "hold":
            held.append(request_route)
        elif mode["now"] == "fail":
            request_route.fulfill(status=503, content_type="application/json",
                                  body='{"error": {"field": null, "message": "try again"}}')
        else:
            request_route.continue_()

    page.route(MESSAGES, route)
    # One poll hangs: however often the tab is shown again meanwhile, no second poll starts beside it.
    with page.expect_request(re.compile(r"/messages")):
        pass
    for _ in range(3):
        hide(page, True)
        hide(page, False)
    page.wait_for_timeout(2 * interval * 1000 + 500)
    assert len(held) == 1 and len(polls) == 1

    # Failing polls come further apart, and the page says it is retrying.
    mode["now"] = "fail"
    failed = time.monotonic()
    held[0].fulfill(status=503, content_type="application/json", body="{}")
    expect(page.locator("#poll-status")).to_be_visible(timeout=4 * interval * 1000 + 3000)
    assert len(polls) == 2
    assert polls[1] - failed >= 2 * interval * 0.8  # twice the interval after the first failure
    shots(page, "retrying")

    # Shown again, the page asks at once instead of waiting out its back-off.
    mode["now"] = "pass"
    hide(page, True)
    hide(page, False)
    expect(page.locator("#poll-status")).to_be_hidden(timeout=interval * 1000)

    # Hidden, it does not ask at all.
    hide(page, True)
    asked = len(polls)
    page.wait_for_timeout(2 * interval * 1000 + 500)
    assert len(polls) == asked
    with page.expect_request(re.compile(r"/messages"), timeout=interval * 1000):
        hide(page, False)
