"""The experts' inbox in Chromium (web/inbox.html on the running demo): an escalation appears in the list by
itself, an expert opens it from the list or from the mail's link, accepts, replies (the customer's page shows
it without a reload) and hands back; two experts in two browsers race to accept and the loser is told who won.
Experts sign in with the demo's stand-in for Cognito, in the `experts` group (local/identity.py LocalCognito)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import ChatPage, InboxPage, api_chat, mails, no_sideways_scroll, wait_for, watch

ANGRY = "This is useless, I want to talk to a real person now!"


def inbox_link(demo: Any, session_id: str) -> str:
    """The "Open in the inbox" line of the escalation mail about this session."""

    def find() -> str | None:
        for mail in mails(demo):
            match = re.search(rf"{re.escape(demo.base_url)}/inbox#{session_id}/\S+", mail["body"])
            if match:
                return match.group(0)
        return None

    return wait_for(find, timeout=20, what=f"the inbox link of the mail about {session_id}")


def test_an_escalation_appears_and_the_expert_accepts_replies_and_hands_back(demo: Any, context: Any, page: Any,
                                                                             shots: Any) -> None:
    problems = watch(page)
    inbox = InboxPage(page, demo.base_url).open().sign_in("inbox-dana")
    shots(page, "inbox signed in")

    customer_page = context.new_page()
    chat = ChatPage(customer_page, demo.base_url).open().sign_in("inbox-customer")
    chat.ask("How do I set up my router?")
    chat.send(ANGRY)
    expect(chat.banner).to_contain_text("Waiting for an expert")
    session_id = chat.session_id()

    item = inbox.item(session_id)
    expect(item).to_be_visible()  # by itself: the list refreshes
    expect(item).to_contain_text("Asked for a person")
    expect(item).to_contain_text(re.compile(r"Waiting (under a minute|\d+ min)"))
    expect(item).to_contain_text(ANGRY)  # the last turns, as text
    expect(page.locator("#queue-announcer")).to_contain_text("New in the inbox")
    shots(page, "escalation listed")

    item.focus()
    page.keyboard.press("Enter")  # the keyboard opens it
    expect(item).to_have_attribute("aria-current", "true")
    expect(inbox.conversation).to_be_visible()
    expect(page.locator("#escalation-facts")).to_contain_text("Sentiment")
    expect(inbox.turns.locator(".turn[data-role=customer] .turn-text").last).to_have_text(ANGRY)
    assert page.url.endswith(f"/inbox#{session_id}/{item.get_attribute('data-escalation-id')}")
    inbox.accept()
    expect(chat.banner).to_contain_text("inbox-dana@tandem.localhost")
    shots(page, "accepted")

    inbox.reply("Hello, I am Dana <b>from support</b>.")
    expect(chat.turns("expert").locator(".turn-text")).to_have_text(["Hello, I am Dana <b>from support</b>."])
    expect(chat.log.locator("b")).to_have_count(0)
    shots(customer_page, "customer sees the reply")

    chat.send("Thanks, the light is green now.")
    expect(inbox.turns.locator(".turn[data-role=customer] .turn-text").last).to_have_text(
        "Thanks, the light is green now.")  # the customer's message reaches the open conversation by itself

    inbox.hand_back("Walked the customer through the router's set-up.")
    expect(chat.turns("system").last.locator(".turn-text")).to_have_text(demo.aws.config.handback_message)
    expect(item).to_have_count(0)  # it is over: it leaves the list
    shots(page, "handed back")
    assert problems == []


def test_the_mails_inbox_link_opens_the_escalation_after_sign_in(demo: Any, page: Any, shots: Any) -> None:
    problems = watch(page)
    escalated = api_chat(demo, "inbox-linked-customer", ANGRY)
    link = inbox_link(demo, escalated["session_id"])

    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(link)
    inbox = InboxPage(page, demo.base_url).sign_in("inbox-lee")

    expect(inbox.conversation).to_be_visible()
    expect(inbox.turns.locator(".turn[data-role=customer] .turn-text")).to_have_text([ANGRY])
    expect(inbox.accept_button).to_be_visible()
    assert no_sideways_scroll(page)
    shots(page, "opened from the mail at phone width")
    assert problems == []


def test_two_experts_race_to_accept_and_the_loser_sees_who_won(demo: Any, browser: Any, shots: Any) -> None:
    escalated = api_chat(demo, "inbox-race-customer", ANGRY)
    link = inbox_link(demo, escalated["session_id"])
    contexts = [browser.new_context(viewport={"width": 1100, "height": 900}) for _ in range(2)]
    try:
        inboxes = {}
        for context, name in zip(contexts, ("inbox-ana", "inbox-ben"), strict=True):
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.goto(link)
            inboxes[name] = InboxPage(page, demo.base_url).sign_in(name)
            expect(inboxes[name].accept_button).to_be_visible()

        for inbox in inboxes.values():  # both clicks go out before either answer is back
            inbox.accept_button.dispatch_event("click")

        def outcome(inbox: InboxPage) -> str | None:
            if inbox.reply_box.is_visible():
                return "won"
            if inbox.accept_result.is_visible() and "Accepted by" in (inbox.accept_result.text_content() or ""):
                return "lost"
            return None

        results = wait_for(lambda: (lambda found: found if None not in found.values() else None)(
            {name: outcome(inbox) for name, inbox in inboxes.items()}), timeout=15, what="both accepts answered")
        assert sorted(results.values()) == ["lost", "won"], results
        (winner,) = [name for name, result in results.items() if result == "won"]
        (loser,) = [name for name, result in results.items() if result == "lost"]
        expect(inboxes[loser].accept_result).to_contain_text(
            re.compile(rf"^Accepted by {winner}@tandem\.localhost at .+"))
        expect(inboxes[loser].reply_box).to_be_hidden()
        shots(inboxes[loser].page, "the loser is told who won")
    finally:
        for context in contexts:
            context.close()
