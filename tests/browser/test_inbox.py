"""The experts' inbox in Chromium (web/inbox.html on the running demo): an escalation appears in the list by
itself, an expert opens it from the list or from the mail's link, accepts, replies (the customer's page shows
it without a reload) and hands back; two experts in two browsers race to accept and the loser is told who won.
Experts sign in with the demo's stand-in for Cognito, in the `experts` group (local/identity.py LocalCognito)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import (
    ChatPage,
    InboxPage,
    api_chat,
    clock_until,
    mails,
    no_sideways_scroll,
    pump_until,
    wait_for,
    watch,
)

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


def test_a_new_escalation_is_pushed_to_the_inbox_over_the_live_channel(demo: Any, page: Any, shots: Any) -> None:
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))))
    inbox = InboxPage(page, demo.base_url).open().sign_in("push-dana")
    expect(page.locator("#inbox")).to_have_attribute("data-live", "open")  # polling slows to a 30 s safety net

    escalated = api_chat(demo, "push-customer", ANGRY)
    session_id = escalated["session_id"]
    expect(inbox.item(session_id)).to_be_visible()  # well within the 30 s the safety-net poll would take
    events = [e for e in (_json(f) for f in frames) if e and e.get("session_id") == session_id]
    assert any(e["type"] == "escalation" and e["escalation"]["status"] == "pending"
               and e["escalation"]["reason"] for e in events), frames
    shots(page, "pushed escalation")


def _json(frame: str) -> dict[str, Any] | None:
    import json

    try:
        found = json.loads(frame)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def test_an_escalation_pushed_while_the_list_is_being_read_is_not_missed(demo: Any, page: Any) -> None:
    """The list read in flight when an escalation is pushed may have read before it: the inbox reads again
    straight after, instead of waiting for the 30 s safety-net poll. The page's clock stands still, so no
    timer can bring the news in its place."""
    frames: list[str] = []
    page.on("websocket", lambda socket: socket.on("framereceived", lambda frame: frames.append(str(frame))))
    page.clock.install()
    inbox = InboxPage(page, demo.base_url).open().sign_in("race-dana")
    expect(page.locator("#inbox")).to_have_attribute("data-live", "open")
    first = api_chat(demo, "race-first", ANGRY)["session_id"]
    expect(inbox.item(first)).to_be_visible()
    page.clock.pause_at(datetime.now(timezone.utc) + timedelta(seconds=1))

    held: list[tuple[Any, Any]] = []  # (route, the answer it got before the second escalation)

    def hold_one_list_read(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append((route, route.fetch()))
    page.route(re.compile(r".*/inbox/escalations(\?.*)?$"), hold_one_list_read)
    # The safety-net poll: its read is held, with the list as it was (a read in flight when the clock stopped
    # sets the next poll's timer when it ends: the clock moves on a second at a time until one is held).
    clock_until(page, lambda: bool(held), what="the safety-net poll's read of the list")

    second = api_chat(demo, "race-second", ANGRY)["session_id"]
    pump_until(page, lambda: any(second in frame for frame in frames), what="the second escalation's event")
    route, stale = held[0]
    route.fulfill(response=stale)  # the read in flight ends without the second escalation
    expect(inbox.item(second)).to_be_visible(timeout=10_000)

