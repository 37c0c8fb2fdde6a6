"""Train from the demo's ratings, in Chromium: a rater rates six answers in the raters' console, the
behind-the-scenes page's button runs the pipeline on them (the real dataset Lambda, the real training job on a
tiny randomly initialised T5, the real gate with the stand-in judge), and the page shows the steps, the
simulation label, the gate's decision and its win rate; the gate's own report opens under the same label, with
the customers' text as text. A second start while the run goes is refused.

The batch is written as the sampler writes one (pages.rating_batch: one conversation per answer); the split's
hash keeps conversations 1, 2, 3 and 5 for training and holds out 4 and 6 (one well-rated, one badly rated)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.pages import RatePage, rating_batch, watch

MARKUP_QUESTION = "Is <b>fibre</b> available at my address?"
ITEMS = [  # (question, answer, rating)
    ("How do I restart my router?", "Hold the reset button for ten seconds, then wait for the lights.", 5),
    ("Why is my internet slow?", "I cannot help with that.", 1),
    ("Can I pause my plan?", "Yes, for up to three months from Settings, then Plan.", 4),
    (MARKUP_QUESTION, "Enter your address on the coverage page to see if fibre is available.", 5),
    ("How do I pay my bill?", "Ask someone else.", 2),
    ("Which plans include TV?", "No idea.", 1),
]
RUN_TIMEOUT_MS = 90_000  # a run takes about ten seconds on two CPUs; a busy CI machine gets room


def test_a_rater_trains_from_the_demos_ratings_and_sees_the_gates_simulated_report(demo: Any, page: Any,
                                                                                   shots: Any) -> None:
    problems = watch(page)
    rating_batch(demo, "demo-ratings", [(question, answer, []) for question, answer, _ in ITEMS])
    wanted = {question: value for question, _, value in ITEMS}
    rate = RatePage(page, demo.base_url).open("demo-ratings").sign_in("rater-rae")
    expect(rate.progress).to_have_text("0 of 6 done in this batch, you rated 0.")
    while rate.item.is_visible():
        rate.rate_with_keys(wanted[rate.current_item()])
    expect(rate.done).to_contain_text("Nothing is left for you in this batch")

    page.goto(f"{demo.base_url}/behind-the-scenes#training-section")
    section = page.locator("#training-section")
    expect(section.locator("#training-simulation")).to_contain_text("A simulation.")
    expect(section.locator("#training-simulation")).to_contain_text("tiny randomly initialised model")
    expect(section.locator("#training-settings")).to_contain_text("finetune_gate_min_questions")
    expect(page.locator("#training-status")).to_have_text(re.compile("^No run yet"))
    shots(page, "before the run")

    page.get_by_role("button", name="Train from the demo's ratings").click()
    expect(page.locator("#training-status")).to_have_text(re.compile("^Running demo-"))
    expect(page.get_by_role("button", name="Train from the demo's ratings")).to_be_disabled()
    second = httpx.post(f"{demo.base_url}/local/api/training")
    assert second.status_code == 409 and "already going" in second.json()["error"]["message"]

    outcome = page.locator("#training-outcome")
    expect(outcome).to_be_visible(timeout=RUN_TIMEOUT_MS)
    shots(page, "the gate decided")
    status = httpx.get(f"{demo.base_url}/local/api/training").json()
    assert status["state"] == "finished", status["error"]
    gate = status["gate"]
    # Two held-out questions can never clear the 0.5 lower bound: the gate refuses, and the page says so.
    assert gate["outcome"] == "failed" and gate["counts"]["questions"] == 2
    expect(outcome).to_have_text("Refused: the current model stays")
    rate_value = f"{gate['win_rate']['value'] * 100:.1f}%"
    expect(page.locator("#training-win-rate")).to_contain_text(f"{rate_value} (95% interval")
    expect(page.locator("#training-reasons li").first).to_contain_text("win rate")
    expect(page.locator("#training-steps li")).to_have_text([re.compile(": done"), re.compile(": done"),
                                                             re.compile(": done")])
    expect(page.locator("#training-dataset")).to_contain_text("4 rated answers from 4 conversations")
    expect(page.get_by_role("button", name="Train from the demo's ratings")).to_be_enabled()
    assert httpx.get(f"{demo.base_url}/local/api/training/report?run=demo-unknown").status_code == 404

    report = page.get_by_role("link", name=re.compile("^Open the gate's report"))
    page.goto(report.get_attribute("href") or "")
    expect(page.get_by_role("note")).to_contain_text("A simulation (local demo).")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Evaluation gate: {status['run_id']}")
    expect(page.locator("body")).to_contain_text(MARKUP_QUESTION)  # the customer's text, as text
    expect(page.locator("b")).to_have_count(0)
    shots(page, "the gate's report")
    assert problems == []
