"""Experts' answers as training examples, in Chromium on the running demo: a customer's conversation escalates, an
expert answers twice and resolves it, a rating admin takes a sample now in the raters' console (web/rate.html),
reviews the two answers the sampler queued (the second tab's view, web/assets/expert-answers.js) with the keyboard,
accepts the first as edited and discards the second; the accepted answer is a record in the local AWS, the queue
is empty after a reload. Also: what a reviewer is told when a text is refused or someone else reviewed the
answer first, and what a rating admin who is not a rater is shown (no rating controls).

The experts' side goes through the escalation mail's review link (tests/browser/pages.py ExpertPages), as in
test_escalation_journey.py; queued answers for the refusal test are written straight into the demo's ratings
table with lambdas/common/expert_answers.py ExpertAnswerQueue, as the sampler adds them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
from botocore.exceptions import ClientError
from playwright.sync_api import expect

from lambdas.common.expert_answer_queue import ExpertAnswerQueue
from lambdas.common.expert_answers import EXPERT_ANSWERS_PREFIX, ExpertAnswer, record_key
from lambdas.common.transcript import transcript_key
from tests.browser.pages import (
    ChatPage,
    ExpertPages,
    RatePage,
    no_sideways_scroll,
    rating_batch,
    review_link,
    session,
    signed_in,
    wait_for,
    watch,
)

ANGRY = "This is useless, my <b>hub</b> is dead again and I am furious about it!"
FIRST_REPLY = "Hi, I'm Nia from support. Unplug the hub for ten seconds, then plug it back in."
FOLLOW_UP = "Done. Now the light is orange, what does that mean?"
SECOND_REPLY = "Orange means the hub has no internet yet: wait two minutes, it turns white."
EDIT = " If it stays red after that, call us."


def stored_transcript(demo: Any, session_id: str) -> dict[str, Any]:
    started_at = session(demo, session_id)["started_at"]  # type: ignore[index]
    body = demo.aws.client("s3").get_object(Bucket=demo.aws.names["transcripts_bucket"],
                                            Key=transcript_key(session_id, started_at))
    return dict(json.loads(body["Body"].read()))


def resolved_transcript(demo: Any, session_id: str) -> dict[str, Any]:
    """The session's S3 transcript once it holds the resolved escalation (the outbox writes it a moment after)."""

    def resolved() -> dict[str, Any] | None:
        try:
            transcript = stored_transcript(demo, session_id)
        except ClientError:  # not written yet (NoSuchKey)
            return None
        escalations = transcript.get("escalations", [])
        return transcript if escalations and escalations[-1]["status"] == "resolved" else None

    return wait_for(resolved, timeout=20, what="the transcript with the resolved escalation")


def queue_api(demo: Any, name: str) -> tuple[str, dict[str, str]]:
    return f"{demo.base_url}/ratings/expert-answers", signed_in(demo, name, ("rating-admins",))


def test_an_admin_reviews_an_experts_answers_accepts_one_as_edited_and_discards_the_other(
        demo: Any, context: Any, page: Any, shots: Any) -> None:
    problems = watch(page)
    chat = ChatPage(context.new_page(), demo.base_url).open().sign_in("gold-customer")
    chat.send(ANGRY)
    expect(chat.banner).to_contain_text("Waiting for an expert")
    session_id = chat.session_id()

    expert = ExpertPages(context.new_page())
    expert.accept(review_link(demo, session_id), "Nia")
    expert.reply(FIRST_REPLY)
    expect(chat.turns("expert").locator(".turn-text")).to_have_text([FIRST_REPLY])
    chat.send(FOLLOW_UP)
    expect(chat.turns("customer").locator(".turn-text")).to_have_text([ANGRY, FOLLOW_UP])
    expert.reply(SECOND_REPLY)
    expect(chat.turns("expert").locator(".turn-text")).to_have_text([FIRST_REPLY, SECOND_REPLY])
    expert.resolve(close=False, note="Hub back online.")
    transcript = resolved_transcript(demo, session_id)
    escalation_id = transcript["escalations"][-1]["escalation_id"]
    first_turn, second_turn = [t["turn_id"] for t in transcript["turns"] if t["role"] == "expert"]
    withheld = next(t for t in transcript["turns"] if t["role"] == "system" and t.get("withheld"))["withheld"]["text"]

    # The rating admin (who rates too) takes a sample: the two answers are queued, and the console says so.
    rate = RatePage(page, demo.base_url).open().sign_in("gold-admin", admin=True)
    expect(rate.open_review).to_have_text("Review experts' answers (0 waiting)")
    page.get_by_role("button", name="Take a sample now").click()
    expect(page.locator("#sample-status")).to_contain_text("2 experts' answers queued for review")
    expect(page.locator("#sample-status")).to_be_visible()
    expect(rate.open_review).to_have_text("Review experts' answers (2 waiting)")
    shots(page, "sample taken")

    rate.open_review.focus()
    page.keyboard.press("Enter")
    expect(rate.review).to_be_visible()
    assert page.url.endswith("/rate#expert-answers")
    expect(rate.review_count).to_have_text("2 answers waiting for review, the oldest first.")
    expect(page.locator("#review-shortcuts")).to_contain_text("A or Enter accepts, D discards, E edits")
    # One escalation's answers come in the order they were given: the first question's answer first.
    replaced = {ANGRY: withheld, FOLLOW_UP: "None: the bot gave no answer to this question."}
    answers = {ANGRY: (FIRST_REPLY, first_turn), FOLLOW_UP: (SECOND_REPLY, second_turn)}
    accepted, discarded = ANGRY, FOLLOW_UP
    assert rate.review_shows(accepted, answers[accepted][0]) == f"{escalation_id}.{answers[accepted][1]}"
    expect(rate.review_replaced).to_have_text(replaced[accepted])
    expect(rate.review.locator("b, script")).to_have_count(0)  # the customer's markup is characters
    assert no_sideways_scroll(page)
    shots(page, "first answer")

    # E goes into the expert's answer (the letter is not typed there); Ctrl+Enter accepts the edit.
    page.keyboard.press("e")
    expect(rate.review_answer).to_be_focused()
    page.keyboard.type(EDIT)
    expect(rate.review_answer).to_have_value(answers[accepted][0] + EDIT)
    shots(page, "answer edited")
    page.keyboard.press("Control+Enter")
    rate.review_shows(discarded, answers[discarded][0])
    expect(rate.announcer).to_have_text("Accepted as edited. Next answer.")
    expect(rate.review_count).to_have_text("1 answer waiting for review, the oldest first.")
    expect(rate.review_replaced).to_have_text(replaced[discarded])
    shots(page, "second answer")

    page.keyboard.press("d")
    expect(rate.review_empty).to_be_visible()
    expect(rate.review_empty).to_be_focused()
    expect(rate.review_item).to_be_hidden()
    expect(rate.announcer).to_have_text("Discarded. Nothing else is waiting.")
    shots(page, "queue empty")

    # The accepted answer is a record where training reads it, as edited, beside the expert's own words; the
    # discarded one is not.
    s3, bucket = demo.aws.client("s3"), demo.aws.names["labeling_bucket"]
    key = record_key(escalation_id, answers[accepted][1])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{EXPERT_ANSWERS_PREFIX}{escalation_id}/").get("Contents", [])
    assert [entry["Key"] for entry in listed] == [key]
    (line,) = s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()
    record = json.loads(line)
    assert (record["question"], record["answer"], record["expert_answer"]) == (
        accepted, answers[accepted][0] + EDIT, answers[accepted][0])
    assert record["replaced"] == withheld
    assert (record["source"], record["session_id"]) == ("expert_answer", session_id)
    assert record["reviewer"] == demo.identity.sub("gold-admin")

    page.reload()  # the review's address opens the review again, and the queue stays empty
    expect(rate.review_empty).to_be_visible()
    expect(rate.review_count).to_have_text("")
    url, admin = queue_api(demo, "another-admin")
    assert httpx.get(url, headers=admin, timeout=30).json() == {"answers": []}
    page.get_by_role("button", name="Back to the batches").click()
    expect(rate.review).to_be_hidden()
    expect(rate.open_review).to_have_text("Review experts' answers (0 waiting)")
    assert problems == []


def queued(demo: Any, *answers: ExpertAnswer) -> None:
    """Adds answers to the demo's review queue, as the sampler adds them."""
    queue = ExpertAnswerQueue(table_name=demo.aws.names["ratings_table"])
    assert queue.add(answers) == (len(answers), 0)


def answer(number: int, question: str, text: str, replaced: str = "") -> ExpertAnswer:
    return ExpertAnswer(escalation_id=f"esc-refusals-{number}", session_id=f"session-refusals-{number}",
                        turn_id=f"turn-{number}", question=question, answer=text,
                        resolved_at=f"2020-01-0{number}T10:00:00.000Z", replaced=replaced)


def test_a_reviewer_is_told_which_text_was_refused_and_when_someone_else_reviewed_it_first(
        demo: Any, page: Any, shots: Any) -> None:
    queued(demo, answer(1, "Can I keep my number?", "Yes, tell us at sign-up.", "<i>Maybe</i>."),
           answer(2, "Do you have fibre?", "In most cities."),
           answer(3, "Is there a student discount?", "No, sorry."))
    page.set_viewport_size({"width": 390, "height": 800})  # a phone
    rate = RatePage(page, demo.base_url).open("expert-answers").sign_in("refusal-admin", admin=True, rater=False)
    rate.review_shows("Can I keep my number?", "Yes, tell us at sign-up.")
    assert no_sideways_scroll(page)
    expect(rate.review_count).to_have_text("3 answers waiting for review, the oldest first.")
    expect(rate.review_replaced).to_have_text("<i>Maybe</i>.")

    # An emptied answer: the API refuses it (400, field `answer`) and the page names the box, which gets the focus.
    rate.review_answer.fill("   ")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#review-error")).to_have_text("The expert's answer: must not be empty")
    expect(rate.review_answer).to_be_focused()
    rate.review_question.fill("")
    rate.review_answer.fill("Yes, tell us at sign-up.")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#review-error")).to_have_text("The customer's question: must not be empty")
    expect(rate.review_question).to_be_focused()
    shots(page, "question refused")
    page.keyboard.type("Can I keep my phone number?")
    page.keyboard.press("Escape")
    expect(page.locator("#review-question-title")).to_be_focused()
    page.keyboard.press("Enter")  # accepts, outside the text boxes
    rate.review_shows("Do you have fibre?", "In most cities.")
    expect(rate.announcer).to_have_text("Accepted as edited. Next answer.")

    # Another admin discards the answer on screen first: this reviewer is told, and gets the next one.
    url, other = queue_api(demo, "faster-admin")
    assert httpx.post(f"{url}/esc-refusals-2.turn-2/discard", headers=other, json={}, timeout=30).status_code == 200
    page.keyboard.press("a")
    expect(rate.review_note).to_have_text(
        "Someone else reviewed that answer already, so your review was not kept. Here is the next one.")
    rate.review_shows("Is there a student discount?", "No, sorry.")
    shots(page, "someone else reviewed it")
    page.get_by_role("button", name="Discard").click()
    expect(rate.review_empty).to_be_visible()
    expect(rate.review_note).to_be_hidden()

    bucket = demo.aws.names["labeling_bucket"]
    body = demo.aws.client("s3").get_object(Bucket=bucket, Key=record_key("esc-refusals-1", "turn-1"))["Body"].read()
    record = json.loads(body)
    assert (record["question"], record["answer"]) == ("Can I keep my phone number?", "Yes, tell us at sign-up.")
    assert "expert_answer" not in record  # the answer was not changed: only the question was sent
    assert httpx.get(url, headers=other, timeout=30).json() == {"answers": []}


def test_a_rating_admin_who_is_not_a_rater_follows_the_batches_and_is_offered_nothing_to_rate(
        demo: Any, page: Any, shots: Any) -> None:
    problems = watch(page)
    rating_batch(demo, "follow-1", [("Where is my invoice?", "Under Billing.", []),
                                    ("How do I change my e-mail?", "In Settings.", [])])
    rating_batch(demo, "follow-2", [("Do you sell gift cards?", "Yes.", [])])
    asked: list[str] = []
    page.on("request", lambda request: asked.append(f"{request.method} {request.url}"))
    rate = RatePage(page, demo.base_url).open().sign_in("follower", admin=True, rater=False)

    button = rate.batch_button("follow-1")
    expect(button).to_contain_text("0 of 2 done")
    expect(button).not_to_contain_text("you rated")
    expect(rate.open_review).to_be_visible()
    button.click()
    expect(rate.admin).to_be_visible()
    expect(rate.admin_facts).to_contain_text("Items done0 of 2")
    expect(rate.progress).to_have_text("0 of 2 done in this batch.")
    expect(page.locator("#not-a-rater")).to_be_visible()
    expect(page.locator("#admin-title")).to_be_focused()
    page.keyboard.press("3")
    page.keyboard.press("s")
    expect(rate.item).to_be_hidden()
    expect(page.get_by_role("radio")).to_have_count(0)
    expect(page.get_by_role("button", name="Submit rating")).to_be_hidden()
    expect(page.get_by_role("button", name="Skip this one")).to_be_hidden()
    expect(rate.error).to_be_hidden()
    shots(page, "admin who does not rate")
    assert not [line for line in asked if re.search(r"/next$|/rating$|/skip$", line)]  # nothing was held
    assert problems == []
