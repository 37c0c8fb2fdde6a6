"""The hand-off to a human, as the customer and the expert see it: the customer's chat (web/index.html) in one
page, the expert's pages (opened from the escalation mail's review link) in another, the demo's state read
back at the end. Nothing is reloaded on the customer's side: what the expert does reaches it by polling."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from lambdas.expert_api.actions import CLOSED_MESSAGE
from tests.browser.pages import ChatPage, ExpertPages, review_link, roles, session, transcript_roles, wait_for

ANGRY = "This is useless, I want to talk to a real person now!"
NOT_RELOADED = "window.tandemTestMarker"  # set once by the test: a reload would clear it


def escalate(chat: ChatPage, demo: Any) -> None:
    chat.send(ANGRY)
    handoff = chat.turns("system").last
    expect(handoff.locator(".turn-text")).to_have_text(demo.aws.config.handoff_message)
    expect(handoff.locator(".turn-who")).to_have_text("Tandem")
    expect(chat.banner).to_be_visible()
    expect(chat.banner).to_contain_text("Waiting for an expert")


def test_an_expert_joins_replies_and_hands_back(demo: Any, context: Any, page: Any, shots: Any) -> None:
    config = demo.aws.config
    chat = ChatPage(page, demo.base_url).open().sign_in("journey-customer")
    page.evaluate(f"{NOT_RELOADED} = true")
    chat.ask("How do I set up my router?")
    escalate(chat, demo)
    shots(page, "waiting for an expert")
    session_id = chat.session_id()

    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, session_id), "Dana")
    shots(expert.page, "expert console")
    expect(chat.notice("expert-joined")).to_contain_text("An expert (Dana) joined")
    expect(chat.banner).to_contain_text("Dana")
    shots(page, "expert joined")

    expert.reply("Hello, I am Dana. Let us get your hub online together.")
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(
        ["Hello, I am Dana. Let us get your hub online together."])
    expect(chat.turns("expert").locator(".turn-who")).to_have_text(["Expert"])
    shots(page, "expert replied")

    expert.resolve(close=False, note="Walked the customer through the hub's set-up.")
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(config.handback_message)
    expect(chat.banner).to_be_hidden()
    # Said once: the server's own turn is the hand-back, the page adds no notice of its own.
    expect(chat.log.get_by_text(re.compile("assistant is back", re.IGNORECASE))).to_have_count(1)
    expect(chat.notice("assistant-back")).to_have_count(0)
    expect(chat.notice("expert-joined")).to_have_count(1)  # said once, however many polls saw the expert
    shots(page, "assistant back")

    answer = chat.ask("What do the lights on the hub mean?")
    expect(answer.locator(".source-uri").first).to_contain_text("local/knowledge/")
    assert page.evaluate(NOT_RELOADED) is True
    shots(page, "bot answers again")

    expected = ["customer", "bot", "customer", "system", "expert", "system", "customer", "bot"]
    assert roles(demo, session_id) == expected
    # The page shows the same turns, in the same order (Tandem's own notices aside).
    shown = chat.log.locator(".turn:not([data-notice])")
    assert [shown.nth(i).get_attribute("data-role") for i in range(shown.count())] == expected
    wait_for(lambda: transcript_roles(demo, session_id) == expected, timeout=10,
             what="the transcript with every turn")


def test_an_expert_closes_the_conversation(demo: Any, context: Any, page: Any, shots: Any) -> None:
    chat = ChatPage(page, demo.base_url).open().sign_in("closed-customer")
    page.evaluate(f"{NOT_RELOADED} = true")
    escalate(chat, demo)
    session_id = chat.session_id()
    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, session_id), "Sam")
    expect(chat.notice("expert-joined")).to_contain_text("An expert (Sam) joined")

    expert.resolve(close=True)
    expect(chat.closed).to_be_visible()
    expect(chat.closed).to_contain_text("This conversation was closed by the expert")
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(CLOSED_MESSAGE)
    expect(chat.box).to_be_disabled()
    expect(chat.send_button).to_be_disabled()
    expect(chat.banner).to_be_hidden()
    expect(chat.start_new).to_be_focused()
    assert page.evaluate(NOT_RELOADED) is True
    shots(page, "closed")

    page.reload()  # still closed, read back from the API
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(CLOSED_MESSAGE)
    expect(chat.closed).to_be_visible()
    expect(chat.box).to_be_disabled()
    assert chat.session_id() == session_id

    chat.start_new.click()
    expect(chat.closed).to_be_hidden()
    expect(chat.log.locator(".turn")).to_have_count(0)
    expect(chat.box).to_be_enabled()
    expect(chat.box).to_be_focused()
    chat.ask("How do I set up my router?")
    assert chat.session_id() != session_id
    shots(page, "new conversation")


def test_a_message_to_a_closed_conversation_is_refused(demo: Any, context: Any, page: Any, shots: Any) -> None:
    """The page has not heard yet that the expert closed it (its polls fail): the API's 409 says so."""
    chat = ChatPage(page, demo.base_url).open().sign_in("late-customer")
    escalate(chat, demo)
    session_id = chat.session_id()
    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, session_id), "Ade")
    expect(chat.notice("expert-joined")).to_be_visible()

    page.route("**/prod/chat/*/messages*", lambda route: route.abort())
    expert.resolve(close=True)
    chat.send("Are you still there? My hub is still orange.")
    expect(chat.closed).to_be_visible()
    expect(chat.error).to_contain_text("closed")
    expect(chat.box).to_be_disabled()
    expect(chat.box).to_have_value("Are you still there? My hub is still orange.")
    shots(page, "refused as closed")
    page.unroute("**/prod/chat/*/messages*")

    # The words are not lost: a new conversation starts with them in the box.
    chat.start_new.click()
    expect(chat.box).to_have_value("Are you still there? My hub is still orange.")
    stored = session(demo, session_id)
    assert stored is not None
    assert "Are you still there? My hub is still orange." not in [t["text"] for t in stored["turns"]]


def test_an_expert_who_joins_and_replies_unseen_is_announced_first(
        demo: Any, context: Any, page: Any, shots: Any) -> None:
    """The polls fail while the expert accepts and replies: the answer to the customer's next message is the
    first to say that an expert has the conversation, and it brings the expert's message too."""
    chat = ChatPage(page, demo.base_url).open().sign_in("one-poll-customer")
    escalate(chat, demo)
    session_id = chat.session_id()
    polls = "**/prod/chat/*/messages*"
    page.route(polls, lambda route: route.abort())
    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, session_id), "Lee")
    expert.reply("Hi, Lee here. I can help with that.")
    chat.send("Is anybody there?")
    expect(chat.box).to_have_value("")
    page.unroute(polls)

    expect(chat.turns("expert")).to_have_count(1)
    expect(chat.notice("expert-joined")).to_have_count(1)
    expect(chat.banner).to_contain_text("Lee")
    shown = chat.log.locator(".turn")
    order = [shown.nth(i).get_attribute("data-notice") or shown.nth(i).get_attribute("data-role")
             for i in range(shown.count())]
    assert order == ["customer", "system", "expert-joined", "expert", "customer"]
    shots(page, "joined and replied unseen")
