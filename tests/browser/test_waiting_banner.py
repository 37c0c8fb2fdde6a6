"""The customer waiting for an expert sees how long they have waited and roughly how much longer, and the
minutes move on without a reload: the chat's banner (web/assets/chat.js) from GET messages' `escalation`
(its requested_at and accept_deadline). The demo runs with cdk.json's accept_timeout_minutes (15); the page's
clock is Playwright's, so the test lets two minutes pass in an instant."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, session

ANGRY = "This is useless, I want to talk to a real person now!"


def test_the_waiting_banner_shows_the_wait_and_updates_each_minute(demo: Any, page: Any, shots: Any) -> None:
    minutes = demo.aws.config.accept_timeout_minutes
    page.clock.install()  # the page's timers and Date, run at normal speed until the test moves them on
    chat = ChatPage(page, demo.base_url).open().sign_in("waiting-customer")

    chat.send(ANGRY)
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(demo.aws.config.handoff_message)
    # Once the workflow waits for an accept, the next poll brings its deadline.
    expect(chat.banner).to_have_text(re.compile(
        rf"Waiting for an expert: less than a minute so far \u2014 an expert usually joins within {minutes} min "
        rf"\(about {minutes} min more\)\."))
    shots(page, "just escalated")
    escalation = session(demo, chat.session_id())["escalations"][0]  # type: ignore[index]
    assert escalation["status"] == "pending"

    # The banner moves on by itself, not only when a message arrives: no answer from the chat API from here.
    page.route(re.compile(r".*/chat/[^/]+/messages.*"), lambda route: route.abort())
    page.clock.fast_forward("02:00")

    expect(chat.banner).to_have_text(re.compile(
        rf"Waiting for an expert: 2 min so far \u2014 an expert usually joins within {minutes} min "
        rf"\(about {minutes - 2} min more\)\."))
    expect(chat.banner).to_have_attribute("data-kind", "waiting")
    shots(page, "two minutes later")
