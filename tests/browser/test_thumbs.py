"""A customer's thumbs on the assistant's answers (web/index.html) against the running demo, and where a thumb
goes next: the stored choice after a reload, the transcript, the next sample and the dataset.

The demo runs the chat and the outbox, not the offline loop (local/aws.py FUNCTIONS: the sampler runs on a
schedule and the dataset step in the fine-tuning pipeline); so the sampler's and the dataset step's own code
runs here against the demo's local AWS, with the settings their stacks would give them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from playwright.sync_api import expect

from lambdas.common import rating_files
from lambdas.common.bucket_writer import BucketWriter
from lambdas.common.rating_files import RatingFiles
from lambdas.common.redaction import PiiMasker
from lambdas.common.thumbs import THUMBS_PREFIX
from lambdas.common.transcript import transcript_key
from lambdas.feedback_sampler.labeling import LabelingJobStarter, ManifestWriter
from lambdas.feedback_sampler.sampler import FeedbackSampler
from lambdas.feedback_sampler.settings import SamplerSettings
from lambdas.feedback_sampler.transcript_reader import TranscriptReader
from lambdas.finetune_dataset import dataset as finetune_dataset
from lambdas.finetune_dataset.settings import DatasetSettings
from testing.waiting import wait_for
from tests.browser.pages import ChatPage, session, watch

COMMENT = "The <b>light</b> still blinks red after that."


def thumbs_of(answer: Any) -> dict[str, Any]:
    return {"up": answer.get_by_role("button", name="Helpful", exact=True),
            "down": answer.get_by_role("button", name="Not helpful", exact=True)}


def stored_transcript(demo: Any, session_id: str) -> dict[str, Any]:
    s3 = demo.aws.client("s3")
    started_at = session(demo, session_id)["started_at"]
    body = s3.get_object(Bucket=demo.aws.names["transcripts_bucket"], Key=transcript_key(session_id, started_at))
    return dict(json.loads(body["Body"].read()))


def test_a_thumbs_down_with_a_comment_is_kept_and_reaches_the_sample_and_the_dataset(demo, page, shots):
    problems = watch(page)
    chat = ChatPage(page, demo.base_url).open().sign_in("thumbs-giver")
    chat.ask("How do I set up my router?")
    chat.ask("What do the lights on the hub mean?")
    first, second = chat.turns("bot").nth(0), chat.turns("bot").nth(1)  # ask() gives `.last`, a moving locator
    session_id = chat.session_id()
    thumbs = thumbs_of(first)
    expect(thumbs["down"]).to_have_attribute("aria-pressed", "false")
    expect(first.get_by_label("Tell us more (optional)")).to_be_hidden()

    # From the keyboard: focus the button and press it.
    thumbs["down"].focus()
    page.keyboard.press("Enter")
    expect(thumbs["down"]).to_have_attribute("aria-pressed", "true")
    expect(thumbs["up"]).to_have_attribute("aria-pressed", "false")
    comment = first.get_by_label("Tell us more (optional)")
    expect(comment).to_be_focused()
    comment.fill(COMMENT)
    first.get_by_role("button", name="Send comment").click()
    expect(first.locator(".thumb-status")).to_have_text("Thanks, your comment was sent.")
    expect(thumbs_of(second)["down"]).to_have_attribute("aria-pressed", "false")
    shots(page, "thumbs down with a comment")

    page.reload()
    answers = chat.turns("bot")
    expect(answers).to_have_count(2)
    again = answers.first
    expect(thumbs_of(again)["down"]).to_have_attribute("aria-pressed", "true")
    expect(thumbs_of(again)["up"]).to_have_attribute("aria-pressed", "false")
    expect(again.get_by_label("Tell us more (optional)")).to_have_value(COMMENT)
    expect(chat.log.locator("b")).to_have_count(0)  # the comment is text, never markup
    expect(thumbs_of(answers.last)["down"]).to_have_attribute("aria-pressed", "false")
    shots(page, "after a reload")

    # The outbox carries the thumb into the transcript.
    turn_id = again.get_attribute("data-turn-id")
    feedback = wait_for(lambda: stored_transcript(demo, session_id)["feedback"], timeout=15,
                        what="the thumb in the transcript")
    assert [(f["turn_id"], f["thumb"], f["comment"]) for f in feedback] == [(turn_id, "down", COMMENT)]

    # The next sample: the sampler's run over the demo's transcripts, thumbs-down answers first.
    s3, labeling = demo.aws.client("s3"), demo.aws.names["labeling_bucket"]
    sampler = FeedbackSampler(
        transcripts=TranscriptReader(demo.aws.names["transcripts_bucket"], lambda: s3),
        ratings=RatingFiles(s3, labeling, rating_files.DEFAULT_PREFIX), masker=PiiMasker(),
        manifests=ManifestWriter(labeling, lambda: s3), jobs=LabelingJobStarter(lambda: None))
    settings = SamplerSettings(
        transcripts_bucket=demo.aws.names["transcripts_bucket"], ratings_bucket=labeling,
        ratings_prefix=rating_files.DEFAULT_PREFIX, labeling_bucket=labeling, window_days=1, budget=1,
        strategy="thumbs_down_first", seed=7, redact_pii=False, language_code=None,
        job_name_prefix="tandem-feedback", job=None)
    summary = sampler.run(settings, now=datetime.now(timezone.utc))
    assert summary["candidates"] == 2 and summary["items"] == 1 and summary["thumbs_down"] == 1
    manifest_key = summary["manifest_uri"].removeprefix(f"s3://{labeling}/")
    (line,) = s3.get_object(Bucket=labeling, Key=manifest_key)["Body"].read().decode().splitlines()
    assert (json.loads(line)["session_id"], json.loads(line)["turn_id"]) == (session_id, turn_id)

    # The dataset: an expert rated the other answer; the thumb is a KTO row of its own source and weight.
    other = answers.last.get_attribute("data-turn-id")
    rating = {"schema_version": 1, "session_id": session_id, "turn_id": other, "question": "Lights?",
              "answer": "They show the hub's state.", "rating": 5, "ratings": [{"worker_id": "w1", "value": 5}],
              "agreement": 1.0, "source": "import"}
    s3.put_object(Bucket=labeling, Key="ratings/import-1.jsonl", Body=json.dumps(rating).encode())
    artifacts = demo.aws.names["finetune_artifacts_bucket"]
    # One rated answer and one thumb: no held-out answers, so the minimum of them (10 of each kind) is off.
    dataset_settings = DatasetSettings(ratings_bucket=labeling, ratings_prefix=rating_files.DEFAULT_PREFIX,
                                       dataset_bucket=artifacts, dataset_prefix="datasets/", min_train_rows=1,
                                       min_eval_rows=0)
    result, built, _ = finetune_dataset.build(
        dataset_settings, "thumbs-1", ratings=RatingFiles(s3, labeling, rating_files.DEFAULT_PREFIX),
        output=BucketWriter(artifacts, lambda: s3), thumbs=RatingFiles(s3, labeling, THUMBS_PREFIX))
    kto = [json.loads(row) for row in s3.get_object(Bucket=artifacts, Key="datasets/thumbs-1/train/kto.jsonl")
           ["Body"].read().decode().splitlines()]
    assert {(row["turn_id"], row["label"], row["source"], row["weight"]) for row in kto} == {
        (other, True, "import", 1.0), (turn_id, False, "thumbs", 0.5)}
    assert built.to_report()["thumbs"]["used"] == 1 and built.records == 1

    # Pressing the pressed thumb again takes it back.
    thumbs_of(again)["down"].click()
    expect(thumbs_of(again)["down"]).to_have_attribute("aria-pressed", "false")
    expect(again.get_by_label("Tell us more (optional)")).to_be_hidden()
    expect(again.locator(".thumb-status")).to_have_text("Your feedback was taken back.")
    wait_for(lambda: stored_transcript(demo, session_id)["feedback"] == [], timeout=15,
             what="the thumb taken back in the transcript")
    assert problems == []
