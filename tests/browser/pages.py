"""Page objects for the browser tests: the customer's chat (web/index.html), the expert's pages (reached by the
review link of an escalation mail), and what the demo's read-only JSON says (/local/api/...).

The chat's hooks (web/assets/chat.js) that tests rely on:
- sign-in: form #sign-in-form, field labelled "Your name" (#sign-in-name), #sign-in-error, #auth-note;
- conversation: #chat (data-session-id, data-phase: bot | waiting | expert | closed), the log #chat-log
  (role=log) with one `.turn` per turn (data-role: customer | bot | expert | system | notice, data-turn-id
  once known), the text in `.turn-text`, a bot turn's sources in `.source` (`.source-name`, `.source-uri`,
  `details.source-excerpt`); Tandem's own notices `.turn-notice[data-notice=expert-joined | assistant-back |
  conversation-gone]`;
- #chat-banner (role=status, data-kind: waiting | expert), #chat-closed with the button #start-new,
  #model-note, #poll-status;
- the message box #message-input (labelled "Your message"), #send-button, #message-error, #message-counter;
- under each bot answer, `.thumbs` (role=group, data-thumb): the toggle buttons "Helpful" and "Not helpful"
  (aria-pressed), the comment box labelled "Tell us more (optional)" with "Send comment", `.thumb-status`.
"""

from __future__ import annotations

import re
from typing import Any, Callable, TypeVar
from urllib.parse import quote

import httpx
from playwright.sync_api import Locator, Page, expect

from local.demo import Demo
from testing.waiting import wait_for
from tests.browser.conftest import TIMEOUT_MS

T = TypeVar("T")
LINK = re.compile(r"http://\S+/experts/escalations/\S+")
# An expectation waits as long as the fixtures' pages do (conftest.py TIMEOUT_MS): a poll, a workflow step or a
# mail takes seconds. Playwright's own default for `expect` is 5 s.
expect.set_options(timeout=TIMEOUT_MS)


# The demo's JSON and APIs ------------------------------------------------------------------------------

def api_chat(demo: Demo, user: str, message: str, session_id: str | None = None) -> dict[str, Any]:
    """A customer's turn sent to the chat API directly (as the page would), for tests about other pages."""
    body = {"message": message, **({"session_id": session_id} if session_id else {})}
    reply = httpx.post(f"{demo.base_url}/prod/chat", headers=signed_in(demo, user), json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def signed_in(demo: Demo, name: str, groups: tuple[str, ...] = ()) -> dict[str, str]:
    """The header a page signed in as `name` sends: an ID token from the demo's local sign-in."""
    token = httpx.post(f"{demo.base_url}/local/cognito/sign-in", json={"name": name, "groups": list(groups)},
                       timeout=10).json()["idToken"]
    return {"Authorization": token}


def mails(demo: Demo) -> list[dict[str, Any]]:
    return list(httpx.get(f"{demo.base_url}/local/api/mailbox", timeout=10).json()["mails"])


# The page itself ----------------------------------------------------------------------------------------

def watch(page: Page) -> list[str]:
    """Script errors and console errors (a CSP violation is one) of the page, as they happen."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    return problems

def clock_until(page: Page, check: Callable[[], bool], *, what: str, step_ms: int = 1000) -> None:
    """Moves the page's stopped clock (page.clock) on a step at a time until check() holds: a timer set late
    (by a request that was in flight when the clock stopped) still fires."""
    pump_until(page, lambda: check() or page.clock.run_for(step_ms) is None and check(), what=what)


def pump_until(page: Page, check: Callable[[], bool], *, what: str, timeout_ms: int = 20_000) -> None:
    """Waits for check() while Playwright delivers the page's events (a route, a frame): they reach this
    thread only during Playwright's own calls, so time.sleep would wait in vain."""
    for _ in range(timeout_ms // 100):
        if check():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")



def no_sideways_scroll(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"))

def state(demo: Demo) -> dict[str, Any]:
    response = httpx.get(f"{demo.base_url}/local/api/state", timeout=10)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def session(demo: Demo, session_id: str) -> dict[str, Any] | None:
    return next((s for s in state(demo)["sessions"] if s["session_id"] == session_id), None)


def roles(demo: Demo, session_id: str) -> list[str]:
    found = session(demo, session_id)
    return [turn["role"] for turn in found["turns"]] if found else []


def customer_texts(demo: Demo) -> list[str]:
    """Every customer turn stored, in any session."""
    return [t["text"] for s in state(demo)["sessions"] for t in s["turns"] if t["role"] == "customer"]


def review_link(demo: Demo, session_id: str, *, timeout: float = 20) -> str:
    """The review link of the escalation mail about this session, once the mailbox has it."""

    def find() -> str | None:
        mails = httpx.get(f"{demo.base_url}/local/api/mailbox", timeout=10).json()["mails"]
        for mail in mails:
            if session_id in mail["body"]:
                match = LINK.search(mail["body"])
                if match:
                    return match.group(0)
        return None

    return wait_for(find, timeout=timeout, what=f"the escalation mail of session {session_id}")


def transcript_roles(demo: Demo, session_id: str) -> list[str]:
    """The roles of the turns in the session's S3 transcript ([] while there is none)."""
    key = next((t["key"] for t in state(demo)["transcripts"] if session_id in t["key"]), None)
    if key is None:
        return []
    response = httpx.get(f"{demo.base_url}/local/api/transcript?key={quote(key)}", timeout=10)
    return [turn["role"] for turn in response.json().get("turns", [])] if response.status_code == 200 else []


# The customer's chat ---------------------------------------------------------------------------------

class ChatPage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.chat = page.locator("#chat")
        self.log = page.locator("#chat-log")
        self.box = page.get_by_label("Your message")
        self.send_button = page.locator("#send-button")
        self.error = page.locator("#message-error")
        self.counter = page.locator("#message-counter")
        self.banner = page.locator("#chat-banner")
        self.closed = page.locator("#chat-closed")
        self.start_new = page.get_by_role("button", name="Start a new conversation")
        self.model_note = page.locator("#model-note")

    def open(self) -> ChatPage:
        self.page.goto(f"{self.base_url}/")
        return self

    def sign_in(self, name: str) -> ChatPage:
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.box).to_be_focused()
        return self

    def turns(self, role: str) -> Locator:
        return self.log.locator(f".turn[data-role={role}]")

    def notice(self, kind: str) -> Locator:
        return self.log.locator(f".turn-notice[data-notice={kind}]")

    def send(self, text: str) -> None:
        self.box.fill(text)
        self.box.press("Enter")

    def ask(self, text: str) -> Locator:
        """Sends `text` and returns the bot's answer to it, once shown."""
        answers = self.turns("bot")
        before = answers.count()
        self.send(text)
        expect(answers).to_have_count(before + 1)
        expect(self.box).to_have_value("")
        return answers.last

    def session_id(self) -> str:
        expect(self.chat).to_have_attribute("data-session-id", re.compile(r"^[0-9a-f-]{36}$"))
        value = self.chat.get_attribute("data-session-id")
        assert value is not None
        return value


# The expert's pages (server-rendered forms) ------------------------------------------------------------

class ExpertPages:
    def __init__(self, page: Page):
        self.page = page

    def accept(self, review_link: str, name: str) -> None:
        self.page.goto(review_link)
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_role("button", name="Accept: I will take this conversation").click()
        expect(self.page.get_by_role("heading", name="Expert console")).to_be_visible()

    def reply(self, text: str) -> None:
        self.page.get_by_label("Your reply to the customer").fill(text)
        self.page.get_by_role("button", name="Send", exact=True).click()
        expect(self.page.get_by_role("heading", name="Expert console")).to_be_visible()
        expect(self.page.locator(".turn.expert").last).to_contain_text(text)

    def resolve(self, *, close: bool, note: str = "") -> None:
        if note:
            self.page.get_by_label("Resolution note").fill(note)
        if close:
            self.page.get_by_label("Close the conversation").check()
        self.page.get_by_role("button", name="Resolve").click()
        expect(self.page.get_by_role("heading", name="Resolved, thank you")).to_be_visible()


# The experts' inbox (web/inbox.html) -------------------------------------------------------------------
# Its hooks: the sign-in form (field "Your name"), #inbox, #signed-in-email, the list #queue with one
# `.queue-item` button per open escalation (data-session-id, data-escalation-id, data-status, aria-current
# when open), #queue-announcer (aria-live), the open conversation #conversation with #escalation-facts,
# #accept-result, the button "Accept: I will take this conversation", the log #turns (`.turn[data-role]`,
# `.turn-text`), the reply box "Your reply to the customer", "Hand back to the assistant", "Close the
# conversation", #conversation-status.

class InboxPage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.queue = page.locator("#queue")
        self.conversation = page.locator("#conversation")
        self.turns = page.locator("#turns")
        self.accept_button = page.get_by_role("button", name="Accept: I will take this conversation")
        self.accept_result = page.locator("#accept-result")
        self.reply_box = page.get_by_label("Your reply to the customer")
        self.status = page.locator("#conversation-status")

    def open(self, fragment: str = "") -> InboxPage:
        self.page.goto(f"{self.base_url}/inbox{fragment}")
        return self

    def sign_in(self, name: str) -> InboxPage:
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("#signed-in-email")).to_have_text(f"{name}@tandem.localhost")
        return self

    def item(self, session_id: str) -> Locator:
        return self.queue.locator(f".queue-item[data-session-id='{session_id}']")

    def accept(self) -> None:
        self.accept_button.click()
        expect(self.reply_box).to_be_visible()

    def reply(self, text: str) -> None:
        self.reply_box.fill(text)
        self.page.get_by_role("button", name="Send", exact=True).click()
        expect(self.turns.locator(".turn[data-role=expert] .turn-text").last).to_have_text(text)
        expect(self.reply_box).to_have_value("")

    def hand_back(self, note: str = "") -> None:
        self.page.get_by_label("Note (kept with the conversation").fill(note)
        self.page.get_by_role("button", name="Hand back to the assistant").click()
        expect(self.status).to_have_text("Handed back to the assistant.")


# The raters' console (web/rate.html) -------------------------------------------------------------------
# Its hooks: the sign-in form (field "Your name", the local sign-in's checkboxes "A rater" (ticked) and "A rating
# admin"), #console, #signed-in-name, #rate-error (role=alert), #rate-note (the time ran out, a closed batch),
# #rate-announcer (aria-live), the batch list #batch-list (`.queue-item[data-batch-id]`), the rating panel
# #rating with #batch-name, #progress-text and #progress-bar, the item #item (data-item-id) with
# #item-title (focused after each rating), #item-question, #item-answer, #item-sources, the radios of the
# scale (name=value, labelled "1 Irrelevant or wrong" ... "5 Fully answers it, correctly"), "Comment
# (optional)", "A better answer (optional)", "Submit rating", "Skip this one", #rating-error, #batch-done;
# rating admins' #admin with #admin-facts, the table #admin-raters (`tr[data-rater]`), "Refresh results",
# "Download records (JSON Lines)", "Close batch" then "Yes, close the batch", #admin-status; #not-a-rater (an admin
# who does not rate); the demo's "Take a sample now" and #sample-status.
# The review of experts' answers (web/assets/expert-answers.js), for rating admins: the button "Review experts'
# answers (N waiting)", the view #review (address #expert-answers) with "Back to the batches", #review-count,
# #review-note (someone else reviewed it), the answer #review-item (data-candidate-id) with its first heading
# #review-question-title (focused for each answer), the text boxes "The customer's question" and "The expert's
# answer", #review-replaced, #review-error, "Accept", "Discard", #review-shortcuts, #review-empty.

def rating_batch(demo: Demo, batch_id: str, items: list[tuple[str, str, list[str]]], *, ratings_per_item: int = 1,
                 assignment_seconds: int = 600) -> Any:
    """A rating batch of (question, answer, sources) written straight into the demo's ratings table, as the
    sampler writes one (lambdas/common/rating_batches.py); returns the RatingBatches it lives in."""
    from lambdas.common.feedback import LabelingItem, Sampling
    from lambdas.common.rating_batches import RatingBatches
    from lambdas.common.rating_files import DEFAULT_PREFIX

    assert demo.aws is not None
    batches = RatingBatches(table_name=demo.aws.names["ratings_table"],
                            ratings_bucket=demo.aws.names["labeling_bucket"], ratings_prefix=DEFAULT_PREFIX)
    labeling = [LabelingItem(source=f"{question}\n{answer}", session_id=f"{batch_id}-session-{number}",
                             turn_id=f"turn-{number}", question=question, answer=answer,
                             sampling=Sampling(strategy="uniform", seed=7), sources=tuple(sources))
                for number, (question, answer, sources) in enumerate(items, start=1)]
    batches.create(batch_id, labeling, ratings_per_item=ratings_per_item, assignment_seconds=assignment_seconds)
    return batches


class RatePage:
    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.rating = page.locator("#rating")
        self.item = page.locator("#item")
        self.item_title = page.locator("#item-title")
        self.question = page.locator("#item-question")
        self.answer = page.locator("#item-answer")
        self.sources = page.locator("#item-sources li")
        self.progress = page.locator("#progress-text")
        self.done = page.locator("#batch-done")
        self.note = page.locator("#rate-note")
        self.error = page.locator("#rate-error")
        self.announcer = page.locator("#rate-announcer")
        self.admin = page.locator("#admin")
        self.admin_facts = page.locator("#admin-facts")
        self.admin_status = page.locator("#admin-status")
        self.open_review = page.get_by_role("button", name=re.compile(r"^Review experts' answers"))
        self.review = page.locator("#review")
        self.review_item = page.locator("#review-item")
        self.review_count = page.locator("#review-count")
        self.review_question = page.get_by_label("The customer's question")
        self.review_answer = page.get_by_label("The expert's answer")
        self.review_replaced = page.locator("#review-replaced")
        self.review_note = page.locator("#review-note")
        self.review_empty = page.locator("#review-empty")

    def open(self, batch_id: str = "") -> RatePage:
        self.page.goto(f"{self.base_url}/rate" + (f"#{quote(batch_id)}" if batch_id else ""))
        return self

    def sign_in(self, name: str, *, admin: bool = False, rater: bool = True) -> RatePage:
        """Signs in with the keyboard alone: the name, the demo's group boxes (Tab, Space), Enter."""
        expect(self.page.locator("#sign-in")).to_be_visible()  # the page's script is ready for the form
        field = self.page.get_by_label("Your name")
        field.focus()
        self.page.keyboard.type(name)
        if admin or not rater:
            self.page.keyboard.press("Tab")
            expect(self.page.get_by_label("A rater")).to_be_focused()
            if not rater:
                self.page.keyboard.press("Space")
            self.page.keyboard.press("Tab")
            expect(self.page.get_by_label("A rating admin")).to_be_focused()
            if admin:
                self.page.keyboard.press("Space")
            expect(self.page.get_by_label("A rater")).to_be_checked(checked=rater)
            expect(self.page.get_by_label("A rating admin")).to_be_checked(checked=admin)
            field.focus()
        self.page.keyboard.press("Enter")
        expect(self.page.locator("#signed-in-name")).to_have_text(name)
        return self

    def review_shows(self, question: str, answer: str) -> str:
        """Waits for the review to show this answer, with the focus on its first heading; its candidate id."""
        expect(self.review_item).to_be_visible()
        expect(self.review_question).to_have_value(question)
        expect(self.review_answer).to_have_value(answer)
        expect(self.page.locator("#review-question-title")).to_be_focused()
        candidate_id = self.review_item.get_attribute("data-candidate-id")
        assert candidate_id
        return candidate_id

    def batch_button(self, batch_id: str) -> Locator:
        return self.page.locator(f"#batch-list .queue-item[data-batch-id='{batch_id}']")

    def current_item(self) -> str:
        """The question on screen, once an item is (its id changes with each item)."""
        expect(self.item).to_be_visible()
        expect(self.item_title).to_be_focused()
        return self.question.inner_text()

    def rate_with_keys(self, value: int) -> None:
        """Rates the item on screen: the number key, then Enter; waits for the item after it (or the end)."""
        before = self.item.get_attribute("data-item-id")
        self.page.keyboard.press(str(value))
        expect(self.page.get_by_role("radio", name=re.compile(f"^{value} "))).to_be_checked()
        self.page.keyboard.press("Enter")
        self.wait_moved_on(before)

    def skip_with_key(self) -> None:
        before = self.item.get_attribute("data-item-id")
        self.page.keyboard.press("s")
        self.wait_moved_on(before)

    def wait_moved_on(self, before: str | None) -> None:
        """Another item with the focus on its heading, or the end of the batch with the focus on what says so."""
        moved_on = self.page.locator(f"#item:not([hidden]):not([data-item-id='{before}']) #item-title:focus, "
                                     "#batch-done:not([hidden]):focus")
        expect(moved_on).to_have_count(1)
