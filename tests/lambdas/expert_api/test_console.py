"""The console's live updates: one inline script, allowed by a nonce fresh for each response, only while the
escalation is accepted; it builds turns from text only; the page hands it what it needs (turn ids and
times, its settings) and nothing new of the link; GET messages tells it when the escalation is over. No
other page allows or carries a script. (The script's behaviour in a browser is tested elsewhere.)"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from lambdas.expert_api import handler as expert_handler
from lambdas.expert_api import pages
from tests.lambdas.expert_api.conftest import CUSTOMER_TEXT, expert_event, link
from tests.lambdas.expert_api.helpers import body_json, expect_resolve, link_in, resolve_event, turns

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")

BASE_DIRECTIVES = ["default-src 'none'", "style-src 'unsafe-inline'", "form-action 'self'", "frame-ancestors 'none'",
                   "base-uri 'none'"]


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its script elements."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data

    def by_id(self, element_id: str) -> dict[str, str | None]:
        (attrs,) = [a for _, a in self.tags if a.get("id") == element_id]
        return attrs


def directives(response: dict[str, Any]) -> list[str]:
    return [d.strip() for d in response["headers"]["Content-Security-Policy"].split(";")]


def console(call: Any, esc: Any) -> dict[str, Any]:
    response = call(expert_event("console", esc.escalation_id, query=link_in(esc.console_path)[1]))
    assert response["statusCode"] == 200, response["body"]
    return response


def test_the_console_script_runs_by_a_nonce_fresh_for_each_response(aws, accepted, call):
    first, second = console(call, accepted), console(call, accepted)

    nonces = []
    for response in (first, second):
        policy = directives(response)
        assert policy[:len(BASE_DIRECTIVES)] == BASE_DIRECTIVES  # every directive of the other pages is kept
        (script_src,) = [d for d in policy if d.startswith("script-src ")]
        assert "connect-src 'self'" in policy
        (nonce,) = re.fullmatch(r"script-src 'nonce-([A-Za-z0-9_-]{22,})'", script_src).groups()
        scripts = [attrs for tag, attrs in Elements(response["body"]).tags if tag == "script"]
        assert scripts == [{"nonce": nonce}]  # one script, and it is the one the policy allows
        nonces.append(nonce)
    assert nonces[0] != nonces[1]


def test_the_review_page_allows_and_carries_no_script(aws, escalation, call):
    response = call(expert_event("review", escalation.escalation_id, query=link("review", escalation)))

    assert response["statusCode"] == 200
    assert directives(response) == BASE_DIRECTIVES
    assert "<script" not in response["body"] and "nonce" not in response["body"]


def test_no_script_once_the_escalation_is_no_longer_accepted(aws, accepted, sfn, call):
    live = console(call, accepted)
    expect_resolve(sfn)
    assert call(resolve_event(accepted))["statusCode"] == 200

    over = console(call, accepted)

    assert "<script" in live["body"]
    assert directives(over) == BASE_DIRECTIVES
    assert "<script" not in over["body"] and "nonce" not in over["body"]
    assert f'id="{pages.LIVE_STATUS_ID}"' not in over["body"]
    assert "Refresh the conversation" in over["body"]


def test_no_script_before_the_escalation_is_accepted(aws, escalation, call):
    response = call(expert_event("console", escalation.escalation_id, query=link("work", escalation)))

    assert response["statusCode"] == 200 and "This escalation is pending" in response["body"]
    assert directives(response) == BASE_DIRECTIVES
    assert "<script" not in response["body"]


def test_the_script_builds_turns_from_text_only():
    script = pages._LIVE_SCRIPT

    for markup_sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(",
                        "DOMParser", "createContextualFragment"):
        assert markup_sink not in script
    assert "textContent = turn.text" in script
    # Nothing in it can end the script element early or start a comment.
    assert "</" not in script and "<!--" not in script


def test_each_turn_carries_its_id_and_time_and_customer_text_stays_text(aws, accepted, call):
    page = console(call, accepted)["body"]

    shown = [(a["data-turn-id"], a["data-created-at"]) for tag, a in Elements(page).tags
             if tag == "div" and "data-turn-id" in a]
    assert shown == [(t["turn_id"], t["created_at"]) for t in turns(aws.ddb, accepted.session_id)]
    assert html.escape(CUSTOMER_TEXT, quote=True) in page
    assert CUSTOMER_TEXT not in page and "<script>alert" not in page
    assert len(Elements(page).scripts) == 1


def test_the_page_hands_the_script_its_settings_and_nothing_new_of_the_link(aws, accepted, call):
    page = console(call, accepted)["body"]
    elements = Elements(page)

    conversation = elements.by_id(pages.CONVERSATION_ID)
    assert conversation["aria-live"] == "polite"
    assert conversation["data-poll-interval-ms"] == str(pages.LIVE_POLL_SECONDS * 1000) == "2000"
    assert conversation["data-max-interval-ms"] == "30000"
    assert json.loads(conversation["data-role-labels"] or "") == pages.ROLE_LABELS
    assert conversation["data-messages-url"] == f"/prod/escalations/{accepted.escalation_id}/messages"
    status = elements.by_id(pages.LIVE_STATUS_ID)
    assert (status["role"], status["aria-live"]) == ("status", "polite")
    # The script reads the ids it uses from the page.
    assert f'getElementById("{pages.CONVERSATION_ID}")' in pages._LIVE_SCRIPT
    assert f'getElementById("{pages.LIVE_STATUS_ID}")' in pages._LIVE_SCRIPT
    # The signature is where it was: the two forms' hidden fields and the refresh link.
    sig = link_in(accepted.console_path)[1]["sig"]
    assert page.count(sig) == 3


def test_messages_tells_the_script_when_the_escalation_is_over(aws, accepted, sfn, call):
    query = {**link_in(accepted.console_path)[1], "after": accepted.angry.created_at}
    while_accepted = body_json(call(expert_event("messages", accepted.escalation_id, query=query)))
    expect_resolve(sfn)
    call(resolve_event(accepted))

    after_resolve = body_json(call(expert_event("messages", accepted.escalation_id, query=query)))

    assert while_accepted["status"] == "accepted" and after_resolve["status"] == "resolved"
    # Strictly after: the turn whose created_at is `after` is not sent again.
    assert accepted.angry.turn_id not in [t["turn_id"] for t in while_accepted["turns"]]
    assert [t["text"] for t in while_accepted["turns"]] == ["I'm bringing in a human expert."]
    assert after_resolve["turns"] == while_accepted["turns"]  # the hand-back came after the resolve


def test_the_policy_without_a_script_is_the_pages_policy():
    assert expert_handler.content_security_policy(None) == expert_handler.SECURITY_HEADERS["Content-Security-Policy"]
    assert expert_handler.content_security_policy("abc").endswith("; script-src 'nonce-abc'; connect-src 'self'")


def test_with_a_site_url_the_console_links_to_the_escalation_in_the_inbox(accepted, call, set_environment):
    set_environment({"SITE_URL": "https://tandem.example.com"})
    page = call(expert_event("console", accepted.escalation_id, query=link("work", accepted)))["body"]
    links = [attrs.get("href") for tag, attrs in Elements(page).tags if tag == "a"]
    assert f"https://tandem.example.com/inbox#{accepted.session_id}/{accepted.escalation_id}" in links

    set_environment({"SITE_URL": ""})
    page = call(expert_event("console", accepted.escalation_id, query=link("work", accepted)))["body"]
    assert "/inbox#" not in page and "Open in the inbox" not in page
