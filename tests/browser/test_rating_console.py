"""The raters' console in Chromium (web/rate.html on the running demo, over the real rating API): a rater rates a
whole batch with the keyboard alone and the consolidated records appear; two raters of a batch that wants two
ratings per item give records with their agreement, which a rating admin sees on the page and downloads; and the
bad states a rater meets (a batch closed under them, a hold that ran out) are said plainly.

Batches are written straight into the demo's ratings table with lambdas/common/rating_batches.RatingBatches,
as the sampler writes them; raters sign in with the demo's stand-in for Cognito (group `raters`, and
`rating-admins` when the sign-in's box is ticked)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.pages import RatePage, no_sideways_scroll, rating_batch, signed_in, watch

MARKUP_ANSWER = "Hold the <b>reset</b> button for 10 s.<script>alert(1)</script>"


def records_of(batches: Any, batch_id: str) -> dict[str, dict[str, Any]]:
    """The batch's consolidated records, by question."""
    return {record.question: record.to_dict() for record in batches.records(batch_id)}


def test_a_rater_rates_a_whole_batch_with_the_keyboard_and_the_records_appear(demo: Any, page: Any, shots: Any) -> None:
    problems = watch(page)
    batches = rating_batch(demo, "keys-1", [
        ("How do I reset my router?", MARKUP_ANSWER, ["local/knowledge/router-setup.md", "<i>manual</i>"]),
        ("Which plans include TV?", "All plans include TV.", []),
        ("Can I pause my plan?", "Yes, for up to three months.", ["local/knowledge/plans.md"]),
        ("What is the meaning of life?", "Ask an expert.", []),
    ])
    rate = RatePage(page, demo.base_url).open("keys-1").sign_in("rater-kim")
    expect(page.locator("#batch-name")).to_have_text("keys-1")
    expect(rate.progress).to_have_text("0 of 4 done in this batch, you rated 0.")
    expect(page.locator("#shortcuts")).to_contain_text("S skips")
    shots(page, "first item")

    given: dict[str, int] = {}
    skipped = []
    while rate.item.is_visible():
        question = rate.current_item()
        if question == "How do I reset my router?":
            # The answer and its sources are shown as text: the markup is characters, not elements.
            expect(rate.answer).to_have_text(MARKUP_ANSWER)
            expect(rate.sources).to_have_text(["local/knowledge/router-setup.md", "<i>manual</i>"])
            expect(page.locator("#item b, #item script, #item i")).to_have_count(0)
            rate.rate_with_keys(4)
            given[question] = 4
        elif question == "Which plans include TV?":
            expect(page.locator("#item-no-sources")).to_be_visible()
            rate.skip_with_key()
            skipped.append(question)
        elif question == "Can I pause my plan?":
            # A comment with the keyboard: 5, Tab into the comment, Enter is a new line there, Ctrl+Enter submits.
            page.keyboard.press("5")
            page.keyboard.press("Tab")
            expect(page.get_by_label("Comment (optional)")).to_be_focused()
            page.keyboard.type("Right, but say how.")
            page.keyboard.press("Enter")
            page.keyboard.type("Cite the page.")
            page.keyboard.press("s")  # a letter typed in the box, not a skip
            expect(page.get_by_label("Comment (optional)")).to_have_value("Right, but say how.\nCite the page.s")
            page.keyboard.press("Backspace")
            shots(page, "a comment typed")
            before = rate.item.get_attribute("data-item-id")
            page.keyboard.press("Control+Enter")
            rate.wait_moved_on(before)
            given[question] = 5
        else:
            rate.rate_with_keys(1)
            given[question] = 1
        expect(rate.announcer).to_have_text(re.compile(r"^(Rated \d\.|Skipped: it goes to another rater\.)"))

    expect(rate.done).to_contain_text("Nothing is left for you in this batch")
    expect(rate.done).to_be_focused()
    expect(rate.progress).to_have_text("3 of 4 done in this batch, you rated 3 and skipped 1.")
    shots(page, "batch done")

    records = records_of(batches, "keys-1")
    assert set(records) == set(given) and skipped == ["Which plans include TV?"]
    for question, value in given.items():
        record = records[question]
        assert (record["rating"], record["agreement"], record["source"], record["labeling_job"]) == (
            value, 1.0, "console", "keys-1")
        (rating,) = record["ratings"]
        assert rating["value"] == value and rating["worker_id"] == demo.identity.sub("rater-kim")
    assert records["Can I pause my plan?"]["ratings"][0]["comment"] == "Right, but say how.\nCite the page."
    assert records["How do I reset my router?"]["answer"] == MARKUP_ANSWER
    assert problems == []


def test_two_raters_give_consolidated_records_with_agreement_that_the_admin_sees_and_downloads(
        demo: Any, browser: Any, context: Any, page: Any, shots: Any, tmp_path: Any) -> None:
    problems = watch(page)
    batches = rating_batch(demo, "pair-2", [("Do you ship abroad?", "Yes, to the EU.", []),
                                            ("Is there a student discount?", "No.", [])], ratings_per_item=2)
    rating_batch(demo, "pair-2-later", [("Do you sell gift cards?", "Yes.", [])])  # so there is a choice
    wanted = {"ana": {"Do you ship abroad?": 5, "Is there a student discount?": 4},
              "ben": {"Do you ship abroad?": 5, "Is there a student discount?": 2}}

    admin = RatePage(page, demo.base_url).open().sign_in("ana", admin=True)
    button = admin.batch_button("pair-2")  # several batches are open: the rater picks one
    expect(button).to_contain_text("0 of 2 done")
    shots(page, "batch list")
    button.click()
    expect(admin.admin).to_be_visible()
    expect(admin.admin_facts).to_contain_text("Mean agreement")
    expect(admin.admin_facts).to_contain_text("none yet")
    for _ in range(2):
        question = admin.current_item()
        admin.rate_with_keys(wanted["ana"][question])
    expect(admin.done).to_be_visible()
    expect(admin.progress).to_have_text("0 of 2 done in this batch, you rated 2.")  # waiting for the second rater

    other_context = browser.new_context(viewport={"width": 390, "height": 800})  # a phone
    try:
        other = other_context.new_page()
        ben = RatePage(other, demo.base_url).open("pair-2").sign_in("ben")
        expect(ben.admin).to_be_hidden()  # a rater sees no results
        for _ in range(2):
            question = ben.current_item()
            ben.rate_with_keys(wanted["ben"][question])
        expect(ben.progress).to_have_text("2 of 2 done in this batch, you rated 2.")
        assert no_sideways_scroll(other)
        shots(other, "second rater done on a phone")
    finally:
        other_context.close()

    page.get_by_role("button", name="Refresh results").click()
    expect(admin.admin_facts).to_contain_text("Items done2 of 2")
    expect(admin.admin_facts).to_contain_text("Mean agreement75%")  # (1 + 0.5) / 2
    rows = page.locator("#admin-raters tr[data-rater]")
    expect(rows).to_have_count(2)
    expect(page.locator(f"#admin-raters tr[data-rater='{demo.identity.sub('ana')}']")).to_contain_text("(you)")
    shots(page, "batch results")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download records (JSON Lines)").click()
    path = tmp_path / "records.jsonl"
    download.value.save_as(path)
    assert download.value.suggested_filename == "ratings-pair-2.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    expect(admin.admin_status).to_have_text("Downloaded 2 records (one JSON object a line).")
    by_question = {line["question"]: line for line in lines}
    assert by_question == records_of(batches, "pair-2")
    assert by_question["Do you ship abroad?"]["agreement"] == 1.0
    assert by_question["Is there a student discount?"]["agreement"] == 0.5
    assert by_question["Is there a student discount?"]["rating"] == 3.0  # the median of 4 and 2
    assert sorted(r["worker_id"] for r in by_question["Do you ship abroad?"]["ratings"]) == sorted(
        [demo.identity.sub("ana"), demo.identity.sub("ben")])
    assert problems == []


def test_a_rater_is_told_when_the_admin_closes_the_batch(demo: Any, browser: Any, page: Any, shots: Any) -> None:
    rating_batch(demo, "closing-3", [("Where is my invoice?", "Under Billing.", []),
                                     ("How do I change my e-mail?", "In Settings.", [])])
    rater = RatePage(page, demo.base_url).open("closing-3").sign_in("rater-lou")
    rater.current_item()

    admin_context = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        admin_page = admin_context.new_page()
        admin = RatePage(admin_page, demo.base_url).open("closing-3").sign_in("boss", admin=True)
        admin.current_item()
        admin_page.get_by_role("button", name="Close batch").click()
        expect(admin_page.get_by_role("button", name="Yes, close the batch")).to_be_focused()
        admin_page.keyboard.press("Enter")
        expect(admin.admin_status).to_contain_text("The batch is closed")
        expect(admin.admin_facts).to_contain_text("StatusClosed")
        expect(admin_page.get_by_role("button", name="Close batch")).to_be_disabled()
        shots(admin_page, "admin closed the batch")
    finally:
        admin_context.close()

    page.keyboard.press("3")
    page.keyboard.press("Enter")
    expect(rater.done).to_have_text(re.compile("This batch is closed: it takes no more ratings"))
    expect(rater.item).to_be_hidden()
    shots(page, "rater told the batch is closed")


def test_a_rater_whose_hold_ran_out_is_told_and_gets_the_next_item(demo: Any, page: Any, shots: Any) -> None:
    rating_batch(demo, "slow-4", [("Can I keep my number?", "Yes.", []), ("Do you have fibre?", "In cities.", [])],
                 assignment_seconds=2)
    rater = RatePage(page, demo.base_url).open("slow-4").sign_in("rater-sam")
    first = rater.current_item()
    # Another rater, through the API, passes on the other item; once the slow rater's hold has run out, the
    # slow rater's item (which wants one rating) is handed to them.
    fast = signed_in(demo, "rater-fast", ("raters",))
    api = f"{demo.base_url}/ratings/batches/slow-4"
    other = httpx.post(f"{api}/next", headers=fast, json={}, timeout=30).json()["item"]
    assert other["question"] != first
    assert httpx.post(f"{api}/items/{other['item_id']}/skip", headers=fast, json={}, timeout=30).status_code == 200
    time.sleep(3)
    assert httpx.post(f"{api}/next", headers=fast, json={}, timeout=30).json()["item"]["question"] == first

    page.keyboard.press("4")
    page.keyboard.press("Enter")
    expect(rater.note).to_contain_text("Your time for that item ran out")
    expect(rater.question).to_have_text(other["question"])  # the next item, the one the other rater passed on
    expect(rater.item_title).to_be_focused()
    shots(page, "hold ran out")


def test_someone_outside_the_raters_group_is_told_so(demo: Any, page: Any) -> None:
    # The demo's sign-in always grants `raters`; the deployed pool may not. The API's 403, as it answers it.
    refusal = {"error": {"field": "authorization",
                         "message": "You may not do this: only members of the raters group may rate answers."}}
    page.route("**/ratings/batches", lambda route: route.fulfill(status=403, json=refusal))
    RatePage(page, demo.base_url).open().sign_in("not-a-rater")
    expect(page.locator("#rate-error")).to_contain_text("You are not in the raters group")
    expect(page.locator("#rating")).to_be_hidden()
    expect(page.locator("#batches")).to_be_hidden()


def test_in_the_demo_a_rater_takes_a_sample_of_the_answers_given_and_rates_it(demo: Any, context: Any, page: Any,
                                                                             shots: Any) -> None:
    """The demo's "Take a sample now" runs the real feedback sampler over the answers given so far; the answer
    a customer just got is among the items, and rating it makes a record (one rating per answer here)."""
    from lambdas.common.rating_batches import RatingBatches
    from tests.browser.pages import ChatPage, transcript_roles, wait_for

    customer = ChatPage(context.new_page(), demo.base_url).open().sign_in("sampled-customer")
    customer.ask("What does the orange light mean?")
    session_id = customer.session_id()

    # The transcript the sampler reads is written a moment after the answer (the outbox).
    wait_for(lambda: transcript_roles(demo, session_id) or None, timeout=20, what="the customer's transcript")

    rate = RatePage(page, demo.base_url).open().sign_in("demo-rater")
    page.get_by_role("button", name="Take a sample now").click()
    expect(page.locator("#sample-status")).to_contain_text("answers to rate")
    expect(rate.item).to_be_visible()
    shots(page, "sampled batch")
    batch_id = page.locator("#batch-name").inner_text()
    assert demo.aws is not None
    batches = RatingBatches(table_name=demo.aws.names["ratings_table"],
                            ratings_bucket=demo.aws.names["labeling_bucket"], ratings_prefix="ratings/")
    found = False
    while rate.item.is_visible():
        found = found or rate.current_item() == "What does the orange light mean?"
        rate.rate_with_keys(5)
    assert found
    assert any(r["session_id"] == session_id and r["rating"] == 5.0 for r in records_of(batches, batch_id).values())
