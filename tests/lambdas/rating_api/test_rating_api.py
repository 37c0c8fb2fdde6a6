"""The rating API's real handler over moto (the ratings table, the labeling bucket), called with REST proxy
events shaped like API Gateway's (tests/events/rating_rate.json, the Cognito authorizer's claims as text)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.common.expert_answer_queue import ExpertAnswerQueue
from lambdas.common.expert_answers import ExpertAnswer, record_key
from lambdas.common.feedback import LabelingItem, Sampling
from lambdas.common.rating_batches import RatingBatches

EVENT = Path(__file__).resolve().parents[2] / "events" / "rating_rate.json"
TABLE = "tandem-ratings-api"
BUCKET = "tandem-labeling-api"
BATCH = "tandem-feedback-20261201T050000Z"
SITE = "https://d111111abcdef8.cloudfront.net"
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


@pytest.fixture
def batches(aws, set_environment) -> RatingBatches:
    aws.create("ratings_table", TABLE)
    aws.create("labeling_bucket", BUCKET)
    set_environment({"RATINGS_TABLE": TABLE, "RATINGS_BUCKET": BUCKET, "RATINGS_PREFIX": "ratings/", "SITE_URL": SITE})
    store = RatingBatches(table_name=TABLE, ratings_bucket=BUCKET, ratings_prefix="ratings/")
    items = [LabelingItem(source=f"item {n}", session_id=f"s-{n}", turn_id=f"t-{n}", question=f"How do I do {n}?",
                          answer=f"<b>Do</b> {n}.", sampling=Sampling("random", 1), sources=(f"kb/{n}.md",))
             for n in (1, 2)]
    store.create(BATCH, items, ratings_per_item=2, assignment_seconds=600)
    return store


def event(method: str, path: str, *, sub: str = "rater-ann", groups: Any = "raters", body: Any = None,
          origin: str | None = None) -> dict[str, Any]:
    """tests/events/rating_rate.json for `method path` ("/batches/{batch_id}/next" with the ids filled in)."""
    found = json.loads(EVENT.read_text())
    parts = path.strip("/").split("/")
    names = {1: "candidate_id"} if parts[0] == "expert-answers" else {1: "batch_id", 3: "item_id"}
    parameters = {names[i]: part for i, part in enumerate(parts) if i in names}
    resource = "/" + "/".join("{" + names[i] + "}" if i in names else part for i, part in enumerate(parts))
    context = found["requestContext"]
    found.update(resource=resource, path=path, httpMethod=method, pathParameters=parameters or None)
    context.update(resourcePath=resource, httpMethod=method, path=f"/{context['stage']}{path}")
    claims = context["authorizer"]["claims"]
    claims["sub"] = sub
    if groups is None:
        del claims["cognito:groups"]
    else:
        claims["cognito:groups"] = groups
    found["body"] = json.dumps(body) if isinstance(body, dict) else body
    if origin:
        found["headers"]["Origin"] = origin
    return found


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"]["Content-Type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def next_item(invoke: Any, sub: str = "rater-ann") -> dict[str, Any]:
    status, body = answer(invoke(event("POST", f"/batches/{BATCH}/next", sub=sub)))
    assert status == 200, body
    return body


def test_the_documented_event_rates_the_item_its_rater_holds(batches, invoke):
    next_item(invoke, sub="aaaaaaaa-bbbb-cccc-dddd-example")
    status, body = answer(invoke(json.loads(EVENT.read_text())))
    assert status == 200, body
    assert body["consolidated"] is False and body["mine"] == {"rated": 1, "skipped": 0}


def test_a_rater_sees_one_item_with_its_sources_and_the_batch_progress(batches, invoke):
    body = next_item(invoke)
    assert body["item"]["item_id"] == "000001"
    assert body["item"]["question"] == "How do I do 1?"
    assert body["item"]["answer"] == "<b>Do</b> 1."  # as stored: the page inserts it as text
    assert body["item"]["sources"] == ["kb/1.md"]
    assert body["batch"]["item_count"] == 2 and body["batch"]["remaining"] == 2
    status, listed = answer(invoke(event("GET", "/batches")))
    assert status == 200 and [b["batch_id"] for b in listed["batches"]] == [BATCH]
    assert listed["admin"] is False


def test_two_raters_complete_an_item_and_the_admin_sees_agreement_and_records(batches, invoke):
    for sub, value in (("rater-ann", 4), ("rater-bob", 5)):
        item = next_item(invoke, sub)["item"]
        status, body = answer(invoke(event("POST", f"/batches/{BATCH}/items/{item['item_id']}/rating", sub=sub,
                                           body={"value": value, "better_answer": "Unplug it first."})))
        assert status == 200, body
    assert body["consolidated"] is True and body["batch"]["done_count"] == 1
    status, details = answer(invoke(event("GET", f"/batches/{BATCH}", groups="rating-admins")))
    assert status == 200
    assert details["batch"]["agreement"] == 0.5
    assert details["raters"] == {"rater-ann": {"rated": 1, "skipped": 0}, "rater-bob": {"rated": 1, "skipped": 0}}
    status, exported = answer(invoke(event("GET", f"/batches/{BATCH}/records", groups="rating-admins")))
    [record] = exported["records"]
    assert (record["turn_id"], record["rating"], record["source"]) == ("t-1", 4.5, "console")
    assert {r["better_answer"] for r in record["ratings"]} == {"Unplug it first."}


def test_skip_moves_the_rater_on(batches, invoke):
    first = next_item(invoke)["item"]
    status, body = answer(invoke(event("POST", f"/batches/{BATCH}/items/{first['item_id']}/skip")))
    assert status == 200 and body["mine"] == {"rated": 0, "skipped": 1}
    assert next_item(invoke)["item"]["item_id"] == "000002"


@pytest.mark.parametrize("body, status, field", [
    ({"value": 6}, 400, "value"), ({"value": 0}, 400, "value"), ({"value": "5"}, 400, "value"),
    ({"value": 3.5}, 400, "value"), ({}, 400, "value"), ({"value": 3, "stars": 5}, 400, "stars"),
    ({"value": 3, "comment": "x" * 2001}, 400, "comment"), ("[1]", 400, "body"), ("{", 400, "body"),
])
def test_a_bad_rating_is_refused_naming_the_field_and_nothing_is_written(batches, invoke, body, status, field):
    item = next_item(invoke)["item"]
    found, problem = answer(invoke(event("POST", f"/batches/{BATCH}/items/{item['item_id']}/rating", body=body)))
    assert (found, problem["error"]["field"]) == (status, field), problem
    assert batches.counts(BATCH, "rater-ann") == {"rated": 0, "skipped": 0}


def test_refusals_by_state_are_409_or_404_and_write_nothing(batches, invoke):
    mine = next_item(invoke)["item"]["item_id"]
    rate = f"/batches/{BATCH}/items/{mine}/rating"
    cases = [
        (event("POST", rate, sub="rater-bob", body={"value": 3}), 409, "not_assigned"),
        (event("POST", f"/batches/{BATCH}/items/000099/rating", body={"value": 3}), 404, "not_found"),
        (event("POST", "/batches/no-such-batch/next"), 404, "not_found"),
    ]
    for request, status, code in cases:
        found, problem = answer(invoke(request))
        assert (found, problem["error"]["code"]) == (status, code), problem
    assert answer(invoke(event("POST", rate, body={"value": 3})))[0] == 200
    found, problem = answer(invoke(event("POST", rate, body={"value": 4})))
    assert (found, problem["error"]["code"]) == (409, "already_rated")
    assert answer(invoke(event("POST", f"/batches/{BATCH}/close", groups="rating-admins")))[0] == 200
    found, problem = answer(invoke(event("POST", f"/batches/{BATCH}/next", sub="rater-bob")))
    assert (found, problem["error"]["code"]) == (409, "closed")
    assert batches.counts(BATCH, "rater-bob") == {"rated": 0, "skipped": 0}


@pytest.mark.parametrize("request_, status", [
    (lambda: event("POST", f"/batches/{BATCH}/next", groups=None), 403),
    (lambda: event("POST", f"/batches/{BATCH}/next", groups="experts"), 403),
    (lambda: event("GET", f"/batches/{BATCH}", groups="raters"), 403),  # a rater is no admin
    (lambda: event("GET", f"/batches/{BATCH}/records", groups="raters"), 403),
    (lambda: event("POST", f"/batches/{BATCH}/close", groups="raters"), 403),
    (lambda: event("POST", f"/batches/{BATCH}/next", sub=""), 401),
    (lambda: event("GET", "/expert-answers", groups="raters"), 403),
    (lambda: event("POST", "/expert-answers/esc-1.e1/accept", groups="raters", body={}), 403),
    (lambda: event("POST", "/expert-answers/esc-1.e1/discard", groups="experts", body={}), 403),
])
def test_only_the_right_group_gets_in(batches, invoke, request_, status):
    found, problem = answer(invoke(request_()))
    assert (found, problem["error"]["field"]) == (status, "authorization")


def test_a_base64_body_is_read_and_the_site_origin_is_allowed(batches, invoke):
    item = next_item(invoke)["item"]
    request = event("POST", f"/batches/{BATCH}/items/{item['item_id']}/rating", origin=SITE)
    request["body"], request["isBase64Encoded"] = base64.b64encode(b'{"value": 2}').decode(), True
    response = invoke(request)
    assert answer(response)[0] == 200
    assert response["headers"]["Access-Control-Allow-Origin"] == SITE
    other = invoke(event("GET", "/batches", origin="https://evil.example"))
    assert "Access-Control-Allow-Origin" not in other["headers"]


def test_an_admin_who_does_not_rate_lists_the_batches_and_is_told_so(batches, invoke):
    status, listed = answer(invoke(event("GET", "/batches", groups="rating-admins")))
    assert status == 200 and [b["batch_id"] for b in listed["batches"]] == [BATCH]
    assert (listed["admin"], listed["rater"]) == (True, False)
    found, problem = answer(invoke(event("POST", f"/batches/{BATCH}/next", groups="rating-admins")))
    assert (found, problem["error"]["field"]) == (403, "authorization")  # listing is not rating


# Experts' answers ----------------------------------------------------------------------------------------

def expert_answer(turn_id: str, answer_text: str) -> ExpertAnswer:
    return ExpertAnswer(escalation_id="esc-1", session_id="s-9", turn_id=turn_id, question="Which port is WAN?",
                        answer=answer_text, resolved_at="2026-12-01T10:30:00Z", replaced="The blue one.")


@pytest.fixture
def queued(batches) -> ExpertAnswerQueue:
    queue = ExpertAnswerQueue(table_name=TABLE, ratings_bucket=BUCKET)
    queue.add([expert_answer("e1", "The <b>yellow</b> one."), expert_answer("e3", "Hi, I'm Anna.")])
    return queue


def test_an_admin_reviews_the_experts_answers_and_an_accepted_one_is_a_record(aws, queued, invoke):
    status, listed = answer(invoke(event("GET", "/expert-answers", groups="rating-admins")))
    assert status == 200
    assert [(a["candidate_id"], a["answer"], a["replaced"]) for a in listed["answers"]] == [
        ("esc-1.e1", "The <b>yellow</b> one.", "The blue one."), ("esc-1.e3", "Hi, I'm Anna.", "The blue one.")]
    status, accepted = answer(invoke(event("POST", "/expert-answers/esc-1.e1/accept", groups="rating-admins",
                                           sub="boss", body={"answer": "The yellow one."})))
    assert (status, accepted) == (200, {"accepted": True, "edited": True})
    status, discarded = answer(invoke(event("POST", "/expert-answers/esc-1.e3/discard", groups="rating-admins",
                                            body={})))
    assert (status, discarded) == (200, {"discarded": True})
    assert answer(invoke(event("GET", "/expert-answers", groups="rating-admins")))[1] == {"answers": []}
    body = aws.s3.get_object(Bucket=BUCKET, Key=record_key("esc-1", "e1"))["Body"].read()
    record = json.loads(body)
    assert (record["answer"], record["expert_answer"], record["reviewer"], record["source"]) == (
        "The yellow one.", "The <b>yellow</b> one.", "boss", "expert_answer")


@pytest.mark.parametrize("path, body, status, code, field", [
    ("/expert-answers/esc-1.e1/accept", {"answer": " "}, 400, "invalid", "answer"),
    ("/expert-answers/esc-1.e1/accept", {"question": "x" * 20_001}, 400, "invalid", "question"),
    ("/expert-answers/esc-1.e1/accept", {"rating": 5}, 400, None, "rating"),
    ("/expert-answers/esc-1.nope/accept", {}, 404, "not_found", "candidate_id"),
    ("/expert-answers/esc-1.nope/discard", {}, 404, "not_found", "candidate_id"),
    ("/expert-answers/esc-1.e1/discard", {"why": "x"}, 400, None, "why"),
])
def test_a_bad_review_is_refused_naming_the_field_and_changes_nothing(aws, queued, invoke, path, body, status,
                                                                        code, field):
    found, problem = answer(invoke(event("POST", path, groups="rating-admins", body=body)))
    assert (found, problem["error"]["field"], problem["error"].get("code")) == (status, field, code), problem
    assert [q.candidate.turn_id for q in queued.pending()[0]] == ["e1", "e3"]


def test_a_second_review_of_an_answer_is_a_conflict(queued, invoke):
    assert answer(invoke(event("POST", "/expert-answers/esc-1.e1/accept", groups="rating-admins", sub="ann",
                               body={})))[0] == 200
    found, problem = answer(invoke(event("POST", "/expert-answers/esc-1.e1/discard", groups="rating-admins",
                                         sub="bob", body={})))
    assert (found, problem["error"]["code"]) == (409, "reviewed")
