"""Nobody accepts: the workflow's wait for an expert runs out (6 s here instead of minutes) and the customer's
chat, without a reload, shows Tandem's busy notice and stops saying it waits for an expert."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from local.demo import DemoOptions
from tests.browser.pages import ChatPage, roles

DEMO_OPTIONS = DemoOptions(accept_wait_seconds=6)
NOT_RELOADED = "window.tandemTestMarker"


def test_the_busy_notice_replaces_the_wait(demo: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open().sign_in("patient-customer")
    page.evaluate(f"{NOT_RELOADED} = true")
    chat.send("This is useless, I want to talk to a real person now!")
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(demo.aws.config.handoff_message)
    expect(chat.banner).to_contain_text("Waiting for an expert")
    session_id = chat.session_id()
    shots(page, "waiting")

    busy = chat.turns("system").filter(has_text=demo.aws.config.busy_message)
    expect(busy).to_have_count(1, timeout=25_000)  # the 6 s wait, the workflow and mail pollers, a poll
    expect(busy.locator(".turn-who")).to_have_text("Tandem")
    expect(chat.banner).to_be_hidden()
    expect(chat.notice("expert-joined")).to_have_count(0)
    assert page.evaluate(NOT_RELOADED) is True
    shots(page, "busy notice")

    # The assistant answers again.
    answer = chat.ask("How do I set up my router?")
    expect(answer.locator(".source-uri").first).to_contain_text("router-setup")
    expect(chat.banner).to_be_hidden()
    assert roles(demo, session_id) == ["customer", "system", "system", "customer", "bot"]
