"""The live channel in Chromium: what an expert says reaches the customer's page by push, with polling cut
off; a dropped socket comes back and nothing said meanwhile is lost."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, ExpertPages, review_link, watch

ANGRY = "This is useless, I want to talk to a real person now!"


def handed_to_an_expert(demo: Any, context: Any, page: Any, name: str) -> tuple[ChatPage, ExpertPages]:
    chat = ChatPage(page, demo.base_url).open().sign_in(name)
    expect(chat.chat).to_have_attribute("data-live", "open")
    chat.send(ANGRY)
    expect(chat.banner).to_contain_text("Waiting for an expert")
    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, chat.session_id()), "Dana")
    expect(chat.notice("expert-joined")).to_contain_text("An expert (Dana) joined")
    return chat, expert


def test_an_experts_reply_is_pushed_to_the_customer_with_polling_cut_off(demo: Any, context: Any, page: Any,
                                                                         shots: Any) -> None:
    problems = watch(page)
    chat, expert = handed_to_an_expert(demo, context, page, "push-customer")
    polls: list[str] = []

    def refuse(route: Any) -> None:
        polls.append(route.request.url)
        route.abort()
    page.route("**/prod/chat/*/messages**", refuse)  # from here on, only the live channel can bring news

    expert.reply("Hello, I am Dana: pushed, not polled.")
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(["Hello, I am Dana: pushed, not polled."])
    shots(page, "pushed reply")
    expert.reply("And a second one.")
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(
        ["Hello, I am Dana: pushed, not polled.", "And a second one."])
    assert polls == []  # the safety-net poll did not bring them: it did not even run
    assert problems == []


def test_a_dropped_socket_reconnects_and_nothing_said_meanwhile_is_lost(demo: Any, context: Any, page: Any,
                                                                        shots: Any) -> None:
    chat, expert = handed_to_an_expert(demo, context, page, "dropped-customer")
    demo.live.drop_all()
    expert.reply("Said while your connection was down.")  # nobody is connected to push it to
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(["Said while your connection was down."])
    expect(chat.chat).to_have_attribute("data-live", "open")  # and the socket is back
    expert.reply("Said after it came back.")
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(
        ["Said while your connection was down.", "Said after it came back."])
    shots(page, "after the reconnect")
    assert demo.live.open_connections() >= 1
