"""The live channel in Chromium: what an expert says reaches the customer's page by push, with polling cut
off; a dropped socket comes back and nothing said meanwhile is lost."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, ExpertPages, clock_until, pump_until, review_link, watch

ANGRY = "This is useless, I want to talk to a real person now!"


def handed_to_an_expert(demo: Any, context: Any, page: Any, name: str,
                        expert_context: Any = None) -> tuple[ChatPage, ExpertPages]:
    chat = ChatPage(page, demo.base_url).open().sign_in(name)
    expect(chat.chat).to_have_attribute("data-live", "open")
    chat.send(ANGRY)
    expect(chat.banner).to_contain_text("Waiting for an expert")
    expert = ExpertPages((expert_context or context).new_page())
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


def test_a_change_pushed_while_a_poll_is_in_flight_is_read_straight_after_it(demo: Any, browser: Any,
                                                                             context: Any, page: Any) -> None:
    """The poll in flight when a change is pushed may have read before it: the page polls again as soon as it
    ends, instead of waiting for the 30 s safety-net poll. The page's clock stands still, so no timer can
    bring the news in its place; the expert works in a browser of their own, with a clock that runs."""
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))))
    page.clock.install()
    expert_context = browser.new_context()
    try:
        chat, expert = handed_to_an_expert(demo, context, page, "race-customer", expert_context)
        page.clock.pause_at(datetime.now(timezone.utc) + timedelta(seconds=1))

        held: list[tuple[Any, Any]] = []  # (route, the answer it got before the hand-back)

        def hold_one_poll(route: Any) -> None:
            if held:
                route.continue_()
            else:
                held.append((route, route.fetch()))
        page.route(re.compile(r".*/prod/chat/[^/]+/messages(\?.*)?$"), hold_one_poll)
        # The safety-net poll: its read is held, with the expert still there (a read in flight when the clock
        # stopped sets the next poll's timer when it ends: the clock moves on a second at a time until one is held).
        clock_until(page, lambda: bool(held), what="the safety-net poll")

        pushed = len(frames)
        expert.resolve(close=False)  # hand back: a system turn and the escalation's end, pushed
        pump_until(page, lambda: any('"resolved"' in frame for frame in frames[pushed:]),
                   what="the hand-back's events")
        page.clock.run_for(1)  # the events ask for a poll: the one in flight is still held
        route, stale = held[0]
        route.fulfill(response=stale)  # it ends without the hand-back
        page.clock.run_for(1)  # the poll asked for meanwhile starts at once, not 30 s later
        expect(chat.turns("system").last.locator(".turn-text")).to_have_text(demo.aws.config.handback_message,
                                                                              timeout=10_000)
        expect(chat.banner).to_be_hidden()
    finally:
        expert_context.close()
