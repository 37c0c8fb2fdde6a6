"""GET pages: what the review link shows, that it is escaped, that a bad link is refused with the right
status, and that a GET never changes anything (mail scanners open every link)."""

from __future__ import annotations

import html
import re
import time

import pytest

from lambdas.common import signing
from tests.lambdas.expert_api.conftest import CUSTOMER_TEXT, KEY, expert_event, link
from tests.lambdas.expert_api.helpers import body_json, snapshot

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page)}


def test_review_page_shows_the_escalation_and_an_accept_form_and_changes_nothing(aws, escalation, call):
    before = snapshot(aws)
    query = link("review", escalation)

    response = call(expert_event("review", escalation.escalation_id, query=query))

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "text/html; charset=utf-8"
    page = response["body"]
    assert "negative_sentiment" in page and "negative (0.93, comprehend)" in page
    assert "<dt>Why</dt><dd>comprehend negative 0.93 &gt;= 0.75</dd>" in page  # the gate's explanation
    assert "Have you tried restarting the router?" in page
    # The form posts back to the accept route through the stage path, with the link and a required name.
    assert f'action="/prod/escalations/{escalation.escalation_id}/accept"' in page
    assert hidden_fields(page) == query
    assert re.search(r'<input type="text" name="expert" required maxlength="100"', page)
    assert snapshot(aws) == before


def test_customer_text_is_escaped(aws, escalation, call):
    page = call(expert_event("review", escalation.escalation_id, query=link("review", escalation)))["body"]

    assert "<script>" not in page
    assert page.count(html.escape(CUSTOMER_TEXT, quote=True)) == 2  # in the conversation and the gate's excerpt


def test_a_review_page_after_accept_has_no_form(aws, escalation, call):
    escalation.store.accept(escalation.session_id, escalation.escalation_id, "Bob")

    page = call(expert_event("review", escalation.escalation_id, query=link("review", escalation)))["body"]

    assert "This escalation is accepted" in page and "<form" not in page


def tampered(query: dict[str, str], field: str) -> dict[str, str]:
    value = query[field]
    if field == "sig":
        changed = value[:-1] + ("0" if value[-1] != "0" else "1")
    elif field == "exp":
        changed = str(int(value) + 1)
    else:
        changed = "11111111-2222-3333-4444-555555555555"
    return {**query, field: changed}


@pytest.mark.parametrize("field", ["sig", "exp", "session_id"])
def test_a_tampered_link_is_refused_with_403(aws, escalation, call, field):
    before = snapshot(aws)

    response = call(expert_event("review", escalation.escalation_id,
                                 query=tampered(link("review", escalation), field)))

    assert response["statusCode"] == 403
    assert "This link is not valid" in response["body"]
    assert "Conversation" not in response["body"] and "router" not in response["body"]
    assert snapshot(aws) == before


def test_a_link_for_another_escalation_is_refused(aws, escalation, call):
    other = "11111111-2222-3333-4444-555555555555"

    response = call(expert_event("review", other, query=link("review", escalation)))

    assert response["statusCode"] == 403


def test_a_work_link_does_not_open_the_review_page_nor_a_review_link_the_console(aws, escalation, call):
    assert call(expert_event("review", escalation.escalation_id, query=link("work", escalation)))["statusCode"] == 403
    assert call(expert_event("console", escalation.escalation_id, query=link("review", escalation)))["statusCode"] == 403


@pytest.mark.parametrize("missing", ["session_id", "exp", "sig"])
def test_a_link_missing_a_part_is_refused_with_403(aws, escalation, call, missing):
    query = {k: v for k, v in link("review", escalation).items() if k != missing}

    assert call(expert_event("review", escalation.escalation_id, query=query))["statusCode"] == 403


@pytest.mark.parametrize("exp", ["soon", "1e10", " 123", "１２３"])
def test_a_malformed_expiry_is_refused_with_403(aws, escalation, call, exp):
    query = {**link("review", escalation), "exp": exp}

    assert call(expert_event("review", escalation.escalation_id, query=query))["statusCode"] == 403


def test_a_non_ascii_signature_is_a_403_not_a_crash(aws, escalation, call):
    query = {**link("review", escalation), "sig": "é" * 64}

    assert call(expert_event("review", escalation.escalation_id, query=query))["statusCode"] == 403


def test_an_expired_link_answers_410(aws, escalation, call):
    response = call(expert_event("review", escalation.escalation_id,
                                 query=link("review", escalation, expires=int(time.time()) - 5)))

    assert response["statusCode"] == 410
    assert "expired" in response["body"]


def test_an_expired_link_with_a_wrong_signature_is_a_403_first(aws, escalation, call):
    query = tampered(link("review", escalation, expires=int(time.time()) - 5), "sig")

    assert call(expert_event("review", escalation.escalation_id, query=query))["statusCode"] == 403


def test_a_valid_link_to_an_unknown_escalation_answers_404(aws, escalation, call):
    unknown = "99999999-8888-7777-6666-555555555555"
    expires = int(time.time()) + 600
    query = {"session_id": escalation.session_id, "exp": str(expires),
             "sig": signing.sign(KEY, action="review", session_id=escalation.session_id, escalation_id=unknown,
                                 expires=expires)}

    response = call(expert_event("review", unknown, query=query))

    assert response["statusCode"] == 404


def test_errors_answer_json_when_the_client_asks_for_it(aws, escalation, call):
    query = tampered(link("review", escalation), "sig")

    response = call(expert_event("review", escalation.escalation_id, query=query,
                                 headers={"Accept": "application/json"}))

    assert response["statusCode"] == 403
    assert body_json(response)["error"]["field"] == "sig"


def test_console_shows_reply_and_resolve_forms_to_the_accepting_expert(aws, accepted, call):
    before = snapshot(aws)
    query = link("work", accepted)

    response = call(expert_event("console", accepted.escalation_id, query=query))

    page = response["body"]
    assert response["statusCode"] == 200
    assert f'action="/prod/escalations/{accepted.escalation_id}/reply"' in page
    assert f'action="/prod/escalations/{accepted.escalation_id}/resolve"' in page
    assert 'name="close"' in page and 'name="text"' in page and 'maxlength="4000"' in page
    assert "Ann" in page
    assert snapshot(aws) == before


def test_messages_returns_the_turns_after_a_time_as_json(aws, accepted, call):
    after = accepted.angry.created_at
    query = {**link("work", accepted), "after": after}

    response = call(expert_event("messages", accepted.escalation_id, query=query))

    assert response["statusCode"] == 200
    texts = [t["text"] for t in body_json(response)["turns"]]
    assert texts == ["I'm bringing in a human expert."]


def test_messages_rejects_a_malformed_after(aws, accepted, call):
    query = {**link("work", accepted), "after": "yesterday"}

    response = call(expert_event("messages", accepted.escalation_id, query=query))

    assert response["statusCode"] == 400
    assert body_json(response)["error"]["field"] == "after"
