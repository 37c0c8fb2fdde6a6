"""Bad input (400, naming the field, nothing changed), the security headers on every answer, unknown
routes, and the rule that a task token never appears in a response or a log line."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from lambdas.expert_api import handler as expert_handler
from lambdas.expert_api.settings import ExpertApiSettings, SettingsError
from tests.lambdas.expert_api.conftest import ACCEPT_TOKEN, RESOLVE_TOKEN, expert_event, link
from tests.lambdas.expert_api.helpers import body_json, snapshot

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def json_error(response: dict[str, Any]) -> dict[str, Any]:
    return body_json(response)["error"]


ACCEPT_CASES = {
    "no name": ({"expert": ""}, "expert"),
    "blank name": ({"expert": "   "}, "expert"),
    "name too long": ({"expert": "A" * 101}, "expert"),
    "name on two lines": ({"expert": "Ann\nBob"}, "expert"),
}


@pytest.mark.parametrize("case", ACCEPT_CASES)
def test_bad_accept_fields_are_a_400_naming_the_field_and_change_nothing(aws, escalation, call, case):
    fields, field = ACCEPT_CASES[case]
    before = snapshot(aws)
    event = expert_event("accept", escalation.escalation_id, form={**link("review", escalation), **fields},
                         headers={"Accept": "application/json"})

    response = call(event)

    assert response["statusCode"] == 400
    assert json_error(response)["field"] == field
    assert snapshot(aws) == before


def test_a_name_of_100_characters_is_accepted(aws, escalation, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN,
                                               "output": json.dumps({"accepted_by": "A" * 100})})
    event = expert_event("accept", escalation.escalation_id, form={**link("review", escalation), "expert": "A" * 100})

    assert call(event)["statusCode"] == 303


def test_a_400_page_names_the_field_for_a_browser(aws, escalation, call):
    event = expert_event("accept", escalation.escalation_id, form={**link("review", escalation), "expert": ""})

    response = call(event)

    assert response["statusCode"] == 400
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert "expert" in response["body"] and "enter your name" in response["body"]


BODY_CASES = {
    "bad JSON": ({"Content-Type": "application/json"}, "{not json", "body"),
    "JSON array": ({"Content-Type": "application/json"}, "[1, 2]", "body"),
    "JSON number as name": ({"Content-Type": "application/json"}, None, "expert"),
    "multipart": ({"Content-Type": "multipart/form-data; boundary=x"}, "--x--", "body"),
    "form without =": ({}, "session_id", "body"),
    "repeated field": ({}, None, "expert"),
}


@pytest.mark.parametrize("case", BODY_CASES)
def test_malformed_bodies_are_a_400_naming_the_problem(aws, escalation, call, case):
    headers, raw, field = BODY_CASES[case]
    valid = {**link("review", escalation), "expert": "Ann"}
    if case == "JSON number as name":
        raw = json.dumps({**valid, "expert": 42})
    if case == "repeated field":
        raw = urlencode(valid) + "&expert=Bob"
    before = snapshot(aws)
    event = expert_event("accept", escalation.escalation_id, raw_body=raw,
                         headers={"Accept": "application/json", **headers})

    response = call(event)

    assert response["statusCode"] == 400
    assert json_error(response)["field"] == field
    assert snapshot(aws) == before


@pytest.mark.parametrize("field", ["session_id", "expert", "sig"])
def test_a_lone_surrogate_in_any_json_field_is_a_400_naming_it_that_changes_nothing(aws, escalation, call, field):
    # JSON may escape half of a surrogate pair ("\\ud800"); no UTF-8 store, signature or page can hold it.
    fields = {**link("review", escalation), "expert": "Ann"}
    raw = json.dumps(fields).replace(json.dumps(fields[field]), '"%s\\ud800"' % fields[field][:8])
    before = snapshot(aws)

    response = call(expert_event("accept", escalation.escalation_id, raw_body=raw,
                                 headers={"Content-Type": "application/json", "Accept": "application/json"}))

    assert response["statusCode"] == 400 and json_error(response)["field"] == field
    json.dumps(response)  # the Lambda runtime can serialize the answer
    response["body"].encode("utf-8")  # and API Gateway can send it
    assert snapshot(aws) == before


@pytest.mark.parametrize("escalation_id", ["../../etc", "a" * 200, "x\ud800"])
def test_an_escalation_id_that_is_not_one_is_a_404(aws, escalation, call, escalation_id):
    event = expert_event("review", escalation.escalation_id, query=link("review", escalation))
    # API Gateway sends the path percent-encoded, as the client sent it, and the path parameter decoded.
    path = f"/escalations/{quote(escalation_id, safe='', errors='surrogatepass')}"
    event.update(path=path, pathParameters={"escalation_id": escalation_id})
    event["requestContext"]["path"] = f"/prod{path}"

    response = call(event)

    assert response["statusCode"] == 404
    response["body"].encode("utf-8")


def test_a_base64_encoded_form_is_read(aws, escalation, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})
    event = expert_event("accept", escalation.escalation_id)
    event["body"] = base64.b64encode(urlencode({**link("review", escalation), "expert": "Ann"}).encode()).decode()
    event["isBase64Encoded"] = True

    assert call(event)["statusCode"] == 303


@pytest.mark.parametrize("accept, content_type", [("text/html,application/xhtml+xml", "text/html; charset=utf-8"),
                                                  ("application/json", "application/json")])
def test_a_body_that_cannot_be_decoded_is_a_400_in_the_format_the_client_accepts(aws, escalation, call, accept,
                                                                                 content_type):
    before = snapshot(aws)
    event = expert_event("accept", escalation.escalation_id, raw_body="!!! not base64 !!!", headers={"Accept": accept})
    event["isBase64Encoded"] = True

    response = call(event)

    assert (response["statusCode"], response["headers"]["Content-Type"]) == (400, content_type)
    assert "is not valid base64-encoded UTF-8" in response["body"]
    assert snapshot(aws) == before


WORK_CASES = {
    "empty reply": ("reply", {"text": ""}, "text"),
    "blank reply": ("reply", {"text": " \r\n "}, "text"),
    "reply too long": ("reply", {"text": "x" * 4001}, "text"),
    "reply with a control character": ("reply", {"text": "hi\x00"}, "text"),
    "note too long": ("resolve", {"note": "x" * 4001}, "note"),
    "close neither true nor false": ("resolve", {"close": "maybe"}, "close"),
}


@pytest.mark.parametrize("case", WORK_CASES)
def test_bad_reply_and_resolve_fields_are_a_400_naming_the_field(aws, accepted, call, case):
    route, fields, field = WORK_CASES[case]
    before = snapshot(aws)
    event = expert_event(route, accepted.escalation_id, form={**link("work", accepted), **fields},
                         headers={"Accept": "application/json"})

    response = call(event)

    assert response["statusCode"] == 400
    assert json_error(response)["field"] == field
    assert snapshot(aws) == before


def test_a_reply_of_exactly_max_reply_chars_with_crlf_line_breaks_is_accepted(aws, accepted, call):
    text = "x" * 3998 + "\r\ny"  # 4000 characters once the line break is one

    assert call(expert_event("reply", accepted.escalation_id,
                             form={**link("work", accepted), "text": text}))["statusCode"] == 303


def test_max_reply_chars_comes_from_the_environment(aws, accepted, call, monkeypatch):
    monkeypatch.setenv("MAX_REPLY_CHARS", "10")
    expert_handler.dependencies.reset()
    event = expert_event("reply", accepted.escalation_id, form={**link("work", accepted), "text": "x" * 11},
                         headers={"Accept": "application/json"})

    assert "at most 10" in json_error(call(event))["message"]


def test_the_state_is_checked_before_the_fields(aws, accepted, sfn, call):
    # A second accept with an empty name: the escalation is taken (409), whatever the form says.
    form = {**link("review", accepted), "expert": ""}

    assert call(expert_event("accept", accepted.escalation_id, form=form))["statusCode"] == 409


def test_a_bad_signature_is_checked_before_the_fields(aws, escalation, call):
    form = {**link("review", escalation), "sig": "0" * 64, "expert": ""}

    assert call(expert_event("accept", escalation.escalation_id, form=form))["statusCode"] == 403


# Headers and routes ----------------------------------------------------------------------------------------

SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def test_every_answer_carries_the_security_headers(aws, escalation, sfn, call):
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})
    review = link("review", escalation)
    unknown = expert_event("review", escalation.escalation_id, query=review)
    unknown.update(resource="/nothing/here", path="/nothing/here", pathParameters=None)
    unknown["requestContext"].update(resourcePath="/nothing/here", path="/prod/nothing/here")
    wrong_method = expert_event("review", escalation.escalation_id, query=review)
    wrong_method["httpMethod"] = wrong_method["requestContext"]["httpMethod"] = "DELETE"
    responses = [
        call(expert_event("review", escalation.escalation_id, query=review)),  # 200
        call(expert_event("accept", escalation.escalation_id, form={**review, "expert": "Ann"})),  # 303
        call(expert_event("accept", escalation.escalation_id, form={**review, "expert": "Ann"})),  # 409
        call(expert_event("review", escalation.escalation_id, query={**review, "sig": "x"})),  # 403
        call(expert_event("accept", escalation.escalation_id, raw_body="{bad",
                          headers={"Content-Type": "application/json"})),  # 400 JSON
        call(unknown),  # 404
        call(wrong_method),  # 405
    ]

    assert [r["statusCode"] for r in responses] == [200, 303, 409, 403, 400, 404, 405]
    for response in responses:
        assert {k: response["headers"].get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    assert responses[-1]["headers"]["Allow"] == "GET"


# Tokens ----------------------------------------------------------------------------------------------------------

def test_no_task_token_appears_in_any_response_or_log(aws, escalation, sfn, call, capsys, caplog, log_output):
    caplog.set_level(logging.DEBUG)
    review, work = link("review", escalation), link("work", escalation)
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})
    responses = [
        call(expert_event("review", escalation.escalation_id, query=review)),
        call(expert_event("accept", escalation.escalation_id, form={**review, "expert": "Ann"})),
        call(expert_event("accept", escalation.escalation_id, form={**review, "expert": "Ann"},
                          headers={"Accept": "application/json"})),
    ]
    escalation.store.store_token(escalation.session_id, escalation.escalation_id, "resolve", RESOLVE_TOKEN)
    responses += [
        call(expert_event("console", escalation.escalation_id, query=work)),
        call(expert_event("messages", escalation.escalation_id, query=work)),
        call(expert_event("reply", escalation.escalation_id, form={**work, "text": "Hi"})),
    ]
    # The workflow refuses the resolve token with a message quoting it: it must not be passed on.
    sfn.add_client_error("send_task_success", service_error_code="InvalidToken", http_status_code=400,
                         service_message=f"Invalid Token: '{RESOLVE_TOKEN}'")
    responses += [
        call(expert_event("resolve", escalation.escalation_id, form={**work, "note": "done"})),
        call(expert_event("resolve", escalation.escalation_id, form={**work, "note": "done"})),
    ]

    assert [r["statusCode"] for r in responses] == [200, 303, 409, 200, 200, 303, 200, 409]
    captured = capsys.readouterr()
    logs = log_output.getvalue()
    assert "escalation accepted" in logs and "escalation resolved" in logs and "InvalidToken" in logs
    everything = json.dumps(responses) + captured.out + captured.err + caplog.text + logs
    for token in (ACCEPT_TOKEN, RESOLVE_TOKEN, "TOKEN/secret"):
        assert token not in everything
    # Nor do the link signatures or the texts the expert typed reach the log.
    assert review["sig"] not in logs and work["sig"] not in logs and "Ann" not in logs


# Settings ------------------------------------------------------------------------------------------------------

REQUIRED_ENV = {"SESSIONS_TABLE": "t", "SIGNING_SECRET_ARN": "arn", "KNOWLEDGE_BUCKET": "tandem-knowledge",
                "KNOWLEDGE_PREFIX": "escalations/", "HANDBACK_MESSAGE": "back", "RESOLVE_TIMEOUT_SECONDS": "3600",
                "SESSION_TTL_DAYS": "90", "REDACT_PII": "true", "LANGUAGE_CODE": "en"}


def test_settings_read_the_environment_with_a_default_reply_limit():
    settings = ExpertApiSettings.from_env(REQUIRED_ENV)

    assert (settings.resolve_timeout_seconds, settings.max_reply_chars, settings.knowledge_prefix) == (
        3600, 4000, "escalations/")
    assert (settings.redact_pii, settings.language_code) == (True, "en")


@pytest.mark.parametrize("name", sorted(set(REQUIRED_ENV) - {"KNOWLEDGE_PREFIX"}))
def test_a_missing_setting_is_named(name):
    with pytest.raises(SettingsError, match=name):
        ExpertApiSettings.from_env({k: v for k, v in REQUIRED_ENV.items() if k != name})


@pytest.mark.parametrize("value", ["0", "-5", "soon", ""])
def test_a_bad_number_setting_is_named(value):
    with pytest.raises(SettingsError, match="RESOLVE_TIMEOUT_SECONDS"):
        ExpertApiSettings.from_env({**REQUIRED_ENV, "RESOLVE_TIMEOUT_SECONDS": value})


@pytest.mark.parametrize("value", ["True", "TRUE", "yes", "1", "on", " true", "false ", ""])
def test_redact_pii_is_strictly_true_or_false(value):
    with pytest.raises(SettingsError, match="REDACT_PII must be true or false"):
        ExpertApiSettings.from_env({**REQUIRED_ENV, "REDACT_PII": value})


@pytest.mark.parametrize("language", [None, "", "  "])
def test_redacting_needs_a_language(language):
    env = {k: v for k, v in REQUIRED_ENV.items() if k != "LANGUAGE_CODE"}
    if language is not None:
        env["LANGUAGE_CODE"] = language

    with pytest.raises(SettingsError, match="LANGUAGE_CODE is required when REDACT_PII is true"):
        ExpertApiSettings.from_env(env)


def test_without_redaction_no_language_is_needed():
    env = {k: v for k, v in REQUIRED_ENV.items() if k != "LANGUAGE_CODE"}

    settings = ExpertApiSettings.from_env({**env, "REDACT_PII": "false"})

    assert (settings.redact_pii, settings.language_code) == (False, None)
