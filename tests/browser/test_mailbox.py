"""The mailbox page (/mailbox) of the running demo, in Chromium: it says it is a stand-in for email, starts
empty, shows the experts' mail as it arrives (no reload), newest first; a mail's body is text, with this
site's URLs as links and anything else (a customer's HTML, another site's URL) as it was written; the review
link opens the expert's review page. The state comes from the real chat API, as a customer makes it."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.pages import api_chat, mails, no_sideways_scroll, wait_for, watch

# A customer's words with HTML, another site's URL, and a URL of this very site that looks like a review link.
QUESTION = ("How do I reset my password? <b>x</b> see https://evil.example/help or "
            "{site}/experts/escalations/fake?session_id=x")
ESCALATE = "This is useless, I want to talk to a real person now!"
SUBJECT = "Tandem: a customer needs an expert (human_requested)"
EMPTY = "No mail yet. Ask for a human in the customer chat to see the experts' email arrive."
WAIT = 20.0


def escalate(demo: Any, user: str) -> tuple[str, str]:
    """A question, then a request for a person: (session id, escalation id)."""
    session_id = api_chat(demo, user, QUESTION.format(site=demo.base_url))["session_id"]
    reply = api_chat(demo, user, ESCALATE, session_id)
    assert reply["escalated"] is True, reply
    return session_id, reply["escalation"]["escalation_id"]


def test_the_experts_mail_arrives_without_a_reload_and_its_link_opens_the_review(demo, page, shots):
    problems = watch(page)
    page.goto(f"{demo.base_url}/mailbox")

    expect(page.get_by_role("heading", name="Mailbox", level=1)).to_be_visible()
    expect(page.locator("#mailbox-note")).to_contain_text(
        "Nothing leaves this machine: what Tandem's topics would email is kept here")
    expect(page.get_by_role("navigation", name="Tandem pages").get_by_role("link", name="Mailbox")).to_have_attribute(
        "aria-current", "page")
    expect(page.locator("#local-badge")).to_be_visible()
    expect(page.locator("#mailbox-empty")).to_have_text(EMPTY)
    expect(page.locator("#mail-list > li")).to_have_count(0)
    shots(page, "empty mailbox")
    page.evaluate("window.sameDocument = true")  # gone if the page reloads

    session_id, escalation_id = escalate(demo, "mia")

    mail = page.locator("#mail-list > li").filter(has_text=SUBJECT)
    expect(mail).to_have_count(1)
    expect(page.locator("#mailbox-announcer")).to_have_text(f"New mail: {SUBJECT}")
    expect(page.locator("#mailbox-empty")).to_be_hidden()
    expect(page.locator("#mailbox-count")).to_contain_text("1 mail")
    assert page.evaluate("window.sameDocument") is True
    expect(mail.locator("summary")).to_contain_text("To: experts")
    shots(page, "mail arrived")

    mail.locator("summary").click()
    body = mail.locator("pre.mail-body")
    expect(body).to_be_visible()
    expect(body).to_contain_text(f"Escalation: {escalation_id} (session {session_id})")
    # The customer's words as they wrote them: the HTML is text, and no URL they wrote is a link.
    expect(body).to_contain_text(QUESTION.format(site=demo.base_url))
    expect(body.locator("b")).to_have_count(0)
    # Two links, both Tandem's: the signed review page, and the escalation in the experts' inbox (no signature).
    expect(body.get_by_role("link")).to_have_count(2)
    inbox = f"{demo.base_url}/inbox#{session_id}/{escalation_id}"
    expect(body.get_by_role("link", name=inbox, exact=True)).to_have_attribute("href", inbox)
    review = body.get_by_role("link").first
    href = review.get_attribute("href") or ""
    assert href.startswith(f"{demo.base_url}/experts/escalations/{escalation_id}?session_id={session_id}&exp=")
    expect(review).to_have_text(href)  # the link goes where it says
    shots(page, "mail open")
    assert problems == []

    review.click()

    expect(page.get_by_role("heading", name="A customer needs an expert")).to_be_visible()
    assert page.url == href
    shots(page, "the expert's review page")


def test_mail_is_listed_newest_first(demo, page, shots):
    if not mails(demo):
        escalate(demo, "noor")
        wait_for(lambda: mails(demo), timeout=WAIT, what="the first mail")
    page.goto(f"{demo.base_url}/mailbox")
    before = len(mails(demo))
    expect(page.locator("#mail-list > li")).to_have_count(before)

    _, escalation_id = escalate(demo, "rafael")  # another customer: another session, another mail

    expect(page.locator("#mail-list > li")).to_have_count(before + 1)
    expect(page.locator("#mail-list > li").first).to_contain_text(f"Escalation: {escalation_id}")
    expect(page.locator("#mail-list > li").last).not_to_contain_text(escalation_id)
    expect(page.locator("#mailbox-count")).to_contain_text(f"{before + 1} mails")
    shots(page, "two mails")


def test_an_open_mail_reads_at_phone_width(demo, page, shots):
    if not mails(demo):
        escalate(demo, "sam")
        wait_for(lambda: mails(demo), timeout=WAIT, what="a mail")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{demo.base_url}/mailbox")
    first = page.locator("#mail-list > li").first
    first.locator("summary").click()

    expect(first.locator("pre.mail-body").get_by_role("link").first).to_be_visible()
    assert no_sideways_scroll(page)
    shots(page, "phone width")
