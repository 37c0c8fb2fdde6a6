"""The sampler through its real handler: moto S3 holding the generated corpus, Comprehend and SageMaker
stubbed with the exact requests expected."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from botocore.exceptions import ReadTimeoutError

from lambdas.common import clients
from lambdas.common.rating_batches import RatingBatches
from lambdas.common.redaction import JOINT
from lambdas.common.transcript import Transcript, Turn
from lambdas.feedback_sampler import sampler
from tests.lambdas.feedback_sampler.conftest import (
    LABELING,
    POST_ARN,
    PRE_ARN,
    RATINGS,
    RATINGS_PREFIX,
    ROLE_ARN,
    TEMPLATE_URI,
    TRANSCRIPTS,
    WORKTEAM_ARN,
    job_environment,
    manifest_items,
    manifest_keys,
    manifest_lines,
)
from tests.lambdas.feedback_sampler.helpers import NOW, WINDOW_START, iso, load_event, transcript_key

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")
JOB_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")  # AWS-CONTRACTS.md, CreateLabelingJob


def keys(items) -> list[tuple[str, str]]:
    return [(i.session_id, i.turn_id) for i in items]


def test_budget_is_respected(aws, invoke):
    summary = invoke({"budget": 25})

    assert summary["items"] == 25
    assert len(manifest_items(aws.s3, summary["manifest_uri"])) == 25


def test_a_budget_above_the_candidates_takes_every_candidate_once(aws, invoke, corpus):
    summary = invoke({"budget": 5000})

    picked = keys(manifest_items(aws.s3, summary["manifest_uri"]))
    assert len(picked) == len(set(picked)) == summary["items"] == len(corpus.expected)


def test_only_rateable_bot_turns_of_the_window_are_sampled(aws, invoke, corpus):
    """No system turn, no error apology, no empty answer, nothing created before the window; and every
    candidate, including the in-window turns of sessions that started the day before the window."""
    summary = invoke({"budget": 5000})

    items = manifest_items(aws.s3, summary["manifest_uri"])
    assert set(keys(items)) == corpus.expected
    assert not set(keys(items)) & corpus.never
    assert any("straddling" in i.session_id for i in items)
    for item in items:
        assert "SYSTEM" not in item.answer and "APOLOGY" not in item.answer
        assert iso(WINDOW_START) < corpus.created[(item.session_id, item.turn_id)] <= iso(NOW)


def test_the_question_is_the_customer_turn_answered(aws, invoke, corpus):
    summary = invoke({"budget": 5000})

    for item in manifest_items(aws.s3, summary["manifest_uri"]):
        assert item.question == corpus.questions[(item.session_id, item.turn_id)]
        assert item.source == (f"Question: {item.question}\n\nAnswer: {item.answer}\n\n"
                               f"Tandem item: session {item.session_id}, turn {item.turn_id}")


def test_no_turn_and_no_source_is_twice_in_a_job(aws, invoke, corpus):
    # The same session stored under a second date (the sampler lists both objects), and another session
    # whose customer asked the same words and got the same answer: each turn once, each source its own.
    twice = next(t for t in corpus.transcripts if (t.session_id, t.turns[1].turn_id) in corpus.expected)
    later = iso(NOW - timedelta(days=1))
    aws.s3.put_object(Bucket=TRANSCRIPTS, Key=transcript_key(twice.session_id, later),
                      Body=json.dumps(twice.to_dict()).encode())
    same_words = Transcript.from_dict({**twice.to_dict(), "session_id": f"{twice.session_id}-copy"})
    aws.s3.put_object(Bucket=TRANSCRIPTS, Key=transcript_key(same_words.session_id, same_words.started_at),
                      Body=json.dumps(same_words.to_dict()).encode())

    lines = [json.loads(line) for line in manifest_lines(aws.s3, invoke({"budget": 5000})["manifest_uri"])]

    keys = [(line["session_id"], line["turn_id"]) for line in lines]
    copies = [k for k in keys if k[0] == same_words.session_id]
    assert copies and len(keys) == len(set(keys)) == len(corpus.expected) + len(copies)
    assert len({line["source"] for line in lines}) == len(lines)


def test_the_same_seed_gives_the_same_sample_and_another_seed_another(aws, invoke):
    first = manifest_lines(aws.s3, invoke({"seed": 11, "budget": 30})["manifest_uri"])
    again = manifest_lines(aws.s3, invoke({"seed": 11, "budget": 30})["manifest_uri"])
    other = manifest_lines(aws.s3, invoke({"seed": 12, "budget": 30})["manifest_uri"])

    assert first == again
    assert first != other
    assert json.loads(first[0])["sampling"] == {"strategy": "random", "seed": 11}


def test_escalated_first_puts_escalated_and_negative_conversations_first(aws, invoke, corpus):
    budget = len(corpus.priority) + 10
    summary = invoke({"strategy": "escalated_first", "budget": budget})

    picked = keys(manifest_items(aws.s3, summary["manifest_uri"]))
    head, tail = picked[:len(corpus.priority)], picked[len(corpus.priority):]
    assert set(head) == corpus.priority
    assert len(tail) == 10 and not set(tail) & corpus.priority
    assert summary["strategy"] == "escalated_first"


def test_random_does_not_favour_escalated_conversations(aws, invoke, corpus):
    budget = len(corpus.priority) + 10
    random_pick = keys(manifest_items(aws.s3, invoke({"strategy": "random", "budget": budget})["manifest_uri"]))

    assert set(random_pick[:len(corpus.priority)]) != corpus.priority


def test_escalated_first_is_reproducible_within_each_group(aws, invoke):
    once = manifest_lines(aws.s3, invoke({"strategy": "escalated_first", "budget": 80, "seed": 3})["manifest_uri"])
    twice = manifest_lines(aws.s3, invoke({"strategy": "escalated_first", "budget": 80, "seed": 3})["manifest_uri"])
    other = manifest_lines(aws.s3, invoke({"strategy": "escalated_first", "budget": 80, "seed": 4})["manifest_uri"])

    assert once == twice and once != other


def test_already_rated_turns_are_skipped(aws, invoke, corpus):
    rated = sorted(corpus.expected)[::3]
    lines = [json.dumps({"session_id": s, "turn_id": t, "rating": 4}) for s, t in rated[:40]]
    aws.s3.put_object(Bucket=RATINGS, Key=f"{RATINGS_PREFIX}job-a/ratings.jsonl", Body="\n".join(lines) + "\n")
    more = [json.dumps({"session_id": s, "turn_id": t}) for s, t in rated[40:]] + ["not json", "{\"turn_id\": 1}"]
    aws.s3.put_object(Bucket=RATINGS, Key=f"{RATINGS_PREFIX}import/2026-03-01.jsonl", Body="\n".join(more))
    aws.s3.put_object(Bucket=RATINGS, Key="elsewhere/ratings.jsonl",  # outside the prefix: not a rating
                      Body=json.dumps({"session_id": rated[0][0], "turn_id": "x"}))

    summary = invoke({"budget": 5000})

    picked = set(keys(manifest_items(aws.s3, summary["manifest_uri"])))
    assert picked == corpus.expected - set(rated)
    assert summary["skipped_already_rated"] == len(rated)
    assert summary["bad_rating_lines"] == 2


def test_personal_data_is_masked_before_the_manifest_is_written(aws, invoke, monkeypatch):
    plain = manifest_items(aws.s3, invoke({"budget": 3, "seed": 5})["manifest_uri"])  # what will be sampled
    monkeypatch.setenv("REDACT_PII", "true")
    monkeypatch.setenv("LANGUAGE_CODE", "es")
    texts = [text for item in plain for text in (item.question, item.answer)]
    request = JOINT.join(texts)
    # Comprehend says the first question's order number and the last answer's session id are personal data.
    order = re.search(r"order \d+", texts[0])
    last = request.rindex(plain[-1].session_id)
    entities = [{"Type": "NAME", "Score": 0.99, "BeginOffset": order.start() + 6, "EndOffset": order.end()},
                {"Type": "USERNAME", "Score": 0.9, "BeginOffset": last, "EndOffset": last + len(plain[-1].session_id)}]
    aws.comprehend.add_response("detect_pii_entities", {"Entities": entities},
                                expected_params={"Text": request, "LanguageCode": "es"})

    summary = invoke({"budget": 3, "seed": 5})

    aws.comprehend.assert_no_pending_responses()
    assert summary["redacted"] is True
    body = "\n".join(manifest_lines(aws.s3, summary["manifest_uri"]))
    assert texts[0] not in body and plain[-1].answer not in body
    items = manifest_items(aws.s3, summary["manifest_uri"])
    assert items[0].question == texts[0][:order.start() + 6] + "[NAME]" + texts[0][order.end():]
    assert items[-1].answer == plain[-1].answer.replace(plain[-1].session_id, "[USERNAME]")
    assert "[NAME]" in items[0].source and "[USERNAME]" in items[-1].source
    assert keys(items) == keys(plain)  # masking changed the texts only


def test_a_comprehend_failure_writes_nothing_and_says_why(aws, invoke, monkeypatch):
    monkeypatch.setenv("REDACT_PII", "true")
    monkeypatch.setenv("LANGUAGE_CODE", "en")
    for name, value in job_environment().items():
        monkeypatch.setenv(name, value)  # a job would be started: the Stubber has nothing queued for it
    aws.comprehend.add_client_error("detect_pii_entities", service_error_code="ThrottlingException",
                                    service_message="Rate exceeded", http_status_code=400)

    with pytest.raises(sampler.SamplingFailed, match="PII redaction failed .*ThrottlingException.*no manifest"):
        invoke({"budget": 10})

    assert manifest_keys(aws.s3) == []


def test_a_comprehend_timeout_writes_nothing_either(aws, invoke, monkeypatch):
    monkeypatch.setenv("REDACT_PII", "true")
    monkeypatch.setenv("LANGUAGE_CODE", "en")

    class TimingOut:
        def detect_pii_entities(self, **_):
            raise ReadTimeoutError(endpoint_url="https://comprehend.us-east-1.amazonaws.com")

    clients.set_client("comprehend", TimingOut())

    with pytest.raises(sampler.SamplingFailed, match="ReadTimeoutError"):
        invoke({"budget": 10})
    assert manifest_keys(aws.s3) == []


def expected_job_request(name: str) -> dict:
    """CreateLabelingJob as documented (AWS-CONTRACTS.md), written out by hand."""
    return {
        "LabelingJobName": name,
        "LabelAttributeName": "relevance",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{LABELING}/manifests/{name}.manifest"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{LABELING}/output/"},
        "RoleArn": ROLE_ARN,
        "HumanTaskConfig": {
            "WorkteamArn": WORKTEAM_ARN,
            "UiConfig": {"UiTemplateS3Uri": TEMPLATE_URI},
            "PreHumanTaskLambdaArn": PRE_ARN,
            "TaskTitle": "Rate an assistant answer from 1 to 5",
            "TaskDescription": ("Read the customer's question and the assistant's answer, then rate how relevant "
                                "and helpful the answer is: 1 (not at all) to 5 (fully)."),
            "TaskKeywords": ["text", "rating", "chatbot", "relevance"],
            "NumberOfHumanWorkersPerDataObject": 3,
            "TaskTimeLimitInSeconds": 600,
            "TaskAvailabilityLifetimeInSeconds": 864000,
            "MaxConcurrentTaskCount": 1000,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": POST_ARN},
        },
    }


def test_the_scheduled_event_writes_the_manifest_and_starts_the_documented_job(aws, invoke, monkeypatch):
    for name, value in job_environment().items():
        monkeypatch.setenv(name, value)
    name = "tandem-feedback-20260310-020000"  # the event's time, not the clock's
    job_arn = f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{name}"
    aws.sagemaker.add_response("create_labeling_job", {"LabelingJobArn": job_arn},
                               expected_params=expected_job_request(name))
    monkeypatch.setattr("lambdas.feedback_sampler.handler._now", lambda: pytest.fail("the clock was read"))

    summary = invoke(load_event("feedback_sampler_scheduled.json"))

    aws.sagemaker.assert_no_pending_responses()
    assert JOB_NAME_PATTERN.fullmatch(summary["job_name"])
    assert summary["job_name"] == name and summary["started"] is True and summary["job_arn"] == job_arn
    assert summary["manifest_uri"] == f"s3://{LABELING}/manifests/{name}.manifest"
    assert summary["items"] == 50 and summary["strategy"] == "random" and summary["seed"] == 42
    assert summary["redacted"] is False
    assert manifest_keys(aws.s3) == [f"manifests/{name}.manifest"]


def test_a_redelivered_scheduled_event_starts_no_second_job(aws, invoke, monkeypatch):
    for name, value in job_environment().items():
        monkeypatch.setenv(name, value)
    aws.sagemaker.add_client_error("create_labeling_job", service_error_code="ResourceInUse",
                                   service_message="Job name already exists", http_status_code=400)

    summary = invoke(load_event("feedback_sampler_scheduled.json"))

    assert summary["started"] is False
    assert "already exists" in summary["reason"] and summary["job_name"] in summary["reason"]


def test_an_on_demand_invoke_applies_its_overrides(aws, invoke, corpus):
    event = load_event("feedback_sampler_invoke.json")

    summary = invoke(event)

    assert (summary["strategy"], summary["seed"], summary["items"]) == ("escalated_first", 7, 20)
    assert summary["window"] == {"start": iso(NOW.replace(day=7)), "end": iso(NOW)}
    for item in manifest_items(aws.s3, summary["manifest_uri"]):
        assert corpus.created[(item.session_id, item.turn_id)] > iso(NOW.replace(day=7))
        assert item.sampling.strategy == "escalated_first" and item.sampling.seed == 7


def test_without_a_workteam_only_the_manifest_is_written(aws, invoke):
    summary = invoke({})  # the Stubber has nothing queued: any SageMaker call would fail the test

    assert summary["started"] is False and "job_name" not in summary
    assert "no WORKTEAM_ARN" in summary["reason"] and "no labeling job was started" in summary["reason"]
    assert manifest_keys(aws.s3) == [summary["manifest_uri"].split(f"{LABELING}/")[1]]


def test_without_a_workteam_the_sample_becomes_a_rating_batch_of_the_manifests_items(aws, invoke, set_environment):
    aws.create("ratings_table", "tandem-ratings-sampler")
    set_environment({"RATINGS_TABLE": "tandem-ratings-sampler", "RATINGS_PER_ITEM": "2",
                     "RATING_HOLD_SECONDS": "900"})
    summary = invoke({"budget": 5})  # the SageMaker Stubber has nothing queued: no job is started

    assert summary["rating_batch"] == summary["manifest_uri"].rsplit("/", 1)[1].removesuffix(".manifest")
    assert summary["rating_items"] == summary["items"] == 5 and "rating batch" in summary["reason"]
    batches = RatingBatches(table_name="tandem-ratings-sampler", ratings_bucket=RATINGS, ratings_prefix=RATINGS_PREFIX)
    batch = batches.batch(summary["rating_batch"])
    assert (batch.ratings_per_item, batch.assignment_seconds, batch.item_count) == (2, 900, 5)
    handed = [batches.next_item(batch.batch_id, "rater") for _ in range(5)]
    assert handed[0] is not None and {h.item_id for h in handed if h} == {handed[0].item_id}  # one item held
    assert handed[0].item == manifest_items(aws.s3, summary["manifest_uri"])[0]  # the very line of the manifest
    assert invoke({"budget": 5})["rating_batch"] == batch.batch_id  # the same event again: the same batch
    assert batches.batch(batch.batch_id).item_count == 5


def test_without_a_seed_the_run_reports_the_one_it_used(aws, invoke, monkeypatch):
    monkeypatch.delenv("SEED")

    summary = invoke({})

    assert summary["seed"] == int(NOW.timestamp())
    assert manifest_items(aws.s3, summary["manifest_uri"])[0].sampling.seed == summary["seed"]


def test_a_dry_run_writes_and_starts_nothing(aws, invoke, monkeypatch):
    for name, value in job_environment().items():
        monkeypatch.setenv(name, value)

    summary = invoke({"dry_run": True, "budget": 10})

    assert summary["items"] == 10 and summary["started"] is False and summary["dry_run"] is True
    assert summary["manifest_uri"] is None and "dry run" in summary["reason"]
    assert manifest_keys(aws.s3) == []


def test_an_empty_window_writes_and_starts_nothing(aws, invoke, monkeypatch):
    monkeypatch.setattr("lambdas.feedback_sampler.handler._now", lambda: NOW.replace(year=2027))

    summary = invoke({})

    assert summary["items"] == 0 and summary["started"] is False and "nothing was written" in summary["reason"]
    assert manifest_keys(aws.s3) == []


@pytest.mark.parametrize("event, field_name", [
    ({"budget": 0}, "budget"),
    ({"budget": "10"}, "budget"),
    ({"budget": 100_001}, "budget"),
    ({"window_days": True}, "window_days"),
    ({"window_days": 91}, "window_days"),
    ({"strategy": "longest_first"}, "strategy"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"dry_run": "yes"}, "dry_run"),
    ({"buget": 10}, "buget"),
    (["budget", 10], "event"),
])
def test_a_bad_override_is_answered_with_the_field_named(aws, invoke, event, field_name):
    summary = invoke(event)

    assert summary["started"] is False and summary["field"] == field_name
    assert summary["error"].startswith(f"{field_name}: ")
    assert manifest_keys(aws.s3) == []


def test_manifest_lines_keep_ground_truths_limits(aws, invoke):
    summary = invoke({"budget": 5000})

    for line in manifest_lines(aws.s3, summary["manifest_uri"]):
        data = json.loads(line)
        assert len(line) <= 100_000
        assert not any(name.startswith("$") for name in data)
        assert all(len(json.dumps(v, ensure_ascii=False)) <= 20_000 for v in data.values())



def test_a_session_still_going_after_the_window_keeps_its_turns_inside_it(aws, invoke):
    def at(minutes: int) -> str:
        return iso(NOW + timedelta(minutes=minutes))

    live = Transcript(session_id="live", started_at=at(-30), updated_at=at(5), turns=[
        Turn(role="customer", text="Is the shop open?", turn_id="live-c0", created_at=at(-30)),
        Turn(role="bot", text="Yes, until 8 pm.", turn_id="live-b0", created_at=at(-29), reply_to="live-c0"),
        Turn(role="customer", text="And tomorrow?", turn_id="live-c1", created_at=at(4)),
        Turn(role="bot", text="From 9 am.", turn_id="live-b1", created_at=at(5), reply_to="live-c1")])
    aws.s3.put_object(Bucket=TRANSCRIPTS, Key=transcript_key("live", live.started_at),
                      Body=json.dumps(live.to_dict()).encode())

    picked = set(keys(manifest_items(aws.s3, invoke({"budget": 5000})["manifest_uri"])))

    assert ("live", "live-b0") in picked and ("live", "live-b1") not in picked
