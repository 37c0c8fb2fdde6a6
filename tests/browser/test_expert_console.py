"""The expert's side in Chromium: the review page from the mail's signed link, accepting, and the console
showing the customer's new messages without a reload (its script runs under the page's nonce policy)."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.pages import review_link, signed_in, watch


def test_the_console_shows_a_new_customer_message_without_a_reload(demo: Any, page: Any, shots: Any) -> None:
    problems = watch(page)
    chat = f"{demo.base_url}/prod/chat"
    escalated = httpx.post(chat, headers=signed_in(demo, "lena"), json={"message": "Nothing works, get me a human now!"}).json()
    session_id = escalated["session_id"]
    page.goto(review_link(demo, session_id))
    expect(page.get_by_role("heading", name="A customer needs an expert")).to_be_visible()
    shots(page, "review page")
    page.get_by_label("Your name").fill("Sam")
    page.get_by_role("button", name="Accept: I will take this conversation").click()
    expect(page.get_by_role("heading", name="Expert console")).to_be_visible()
    expect(page.locator("#live-status")).to_contain_text("Live")
    shots(page, "console")
    url_before = page.url

    httpx.post(chat, headers=signed_in(demo, "lena"), json={"message": "Are you there? My router is still orange.",
                                              "session_id": session_id}).raise_for_status()
    expect(page.locator("#conversation")).to_contain_text("My router is still orange.")
    shots(page, "customer message appeared")
    assert page.url == url_before  # no navigation: the script added it
    assert page.locator("#conversation [data-turn-id]").count() == len(
        {t["turn_id"] for s in httpx.get(f"{demo.base_url}/local/api/state").json()["sessions"]
         if s["session_id"] == session_id for t in s["turns"]})
    assert problems == []
