"""The behind-the-scenes page (/behind-the-scenes) of the running demo, in Chromium: after a customer's
question and a request for a person (through the real chat API), it shows the session with its turns and
what the gate read, the escalation with the gate's explanation, the running workflow and the state it waits
in, the transcript in S3 (and its JSON on "View"), the mailbox and what the demo changes. A refresh keeps
what the reader opened or closed; pausing stops the refreshes; at 360px only the tables scroll sideways."""

from __future__ import annotations

import json
import re

import httpx
from playwright.sync_api import expect

from lambdas.common.transcript import transcript_key
from tests.browser import pages
from tests.browser.pages import api_chat, wait_for, watch

QUESTION = "How do I reset my password? <b>x</b>"
ESCALATE = "This is useless, I want to talk to a real person now!"
WAITING_FOR_AN_ACCEPT = "NotifyExpertsAndWaitForAccept"  # statemachines/human_escalation.asl.json
WAIT = 20.0


def test_each_part_shows_what_it_did(demo, page, shots):
    problems = watch(page)
    page.goto(f"{demo.base_url}/behind-the-scenes")
    expect(page.get_by_role("heading", name="Behind the scenes", level=1)).to_be_visible()
    expect(page.locator("#last-updated-time")).to_be_attached()
    expect(page.locator("#sessions-empty")).to_be_visible()
    expect(page.locator("#executions-empty")).to_be_visible()
    expect(page.locator("#transcripts-empty")).to_be_visible()
    expect(page.locator("#local-badge")).to_be_visible()
    shots(page, "nothing yet")

    session_id = api_chat(demo, "mia", QUESTION)["session_id"]
    reply = api_chat(demo, "mia", ESCALATE, session_id)
    assert reply["escalated"] is True, reply
    escalation_id = reply["escalation"]["escalation_id"]
    # What the parts stored, to hold the page against (the sessions table through the demo's read-only API).
    stored = wait_for(lambda: (s := pages.session(demo, session_id)) and len(s["turns"]) == 4 and s, timeout=WAIT,
                      what="four turns")
    question, answer, angry, _ = stored["turns"]
    (escalation,) = stored["escalations"]
    assert escalation["explanation"]["signal"]

    # Sessions: the turns in order, as text, with the gate's reading and the answer's model.
    session = page.locator(f"#session-{session_id}")
    expect(session.locator(".turn-text")).to_have_text([t["text"] for t in stored["turns"]])
    expect(session.locator(".turn-text").first).to_have_text(QUESTION)
    expect(session.locator("b")).to_have_count(0)
    expect(session.locator(f"#turn-{angry['turn_id']} .sentiment-label")).to_have_text(angry["sentiment"]["label"])
    expect(session.locator(f"#turn-{angry['turn_id']}")).to_contain_text(f"detector: {angry['sentiment']['detector']}")
    expect(session.locator(f"#turn-{question['turn_id']} .turn-role")).to_have_text("Customer")
    expect(session.locator(f"#turn-{answer['turn_id']}")).to_contain_text(answer["model_id"])
    expect(session.locator(f"#turn-{answer['turn_id']}")).to_contain_text(f"{answer['latency_ms']} ms")
    # The escalation: its status, reason and why the gate raised it.
    raised = session.locator(f"#escalation-{escalation_id}")
    expect(raised.locator(".status")).to_have_text("pending")
    expect(raised.locator(".escalation-reason")).to_have_text("human_requested")
    expect(raised.locator(".explanation-signal")).to_have_text(escalation["explanation"]["signal"])
    expect(raised).to_contain_text(escalation["explanation"]["rule"])
    expect(raised).to_contain_text(escalation["explanation"]["excerpt"])
    expect(session.locator("summary")).to_contain_text("Waiting for an expert")
    shots(page, "the session")

    # The workflow, waiting for an expert to accept.
    execution = page.locator(f"#execution-{escalation_id}")
    expect(execution).to_contain_text("human_escalation")
    expect(execution.locator(".status")).to_have_text("RUNNING")
    expect(execution.locator(".current-state")).to_have_text(WAITING_FOR_AN_ACCEPT)

    # The transcript the stream consumer wrote, and its JSON.
    key = transcript_key(session_id, stored["started_at"])
    row = page.locator("#transcripts-body tr").filter(has_text=key)
    expect(row).to_have_count(1)
    row.get_by_role("button", name=re.compile("^View")).click()
    shown = page.locator("#transcript-json")
    expect(shown).to_contain_text(f'"session_id": "{session_id}"')
    document = json.loads(shown.text_content() or "")
    assert document["session_id"] == session_id
    assert document["turns"][0]["text"] == QUESTION
    expect(page.locator("#transcript-title")).to_have_text(f"Transcript {key}")
    shots(page, "the transcript")

    # The mailbox and what the demo changes.
    expect(page.locator("#mailbox-subjects li")).to_have_count(1)
    expect(page.locator("#mailbox-subjects")).to_contain_text("Tandem: a customer needs an expert (human_requested)")
    expect(page.locator("#mailbox-count")).to_have_text("(1 mail)")
    expect(page.locator("#mailbox-section").get_by_role("link", name="Open the mailbox")).to_have_attribute(
        "href", "/mailbox")
    demo_state = pages.state(demo)["demo"]
    changes = page.locator("#demo-changes")
    for name, value in demo_state["config_changes"].items():
        expect(changes).to_contain_text(f"{name}{json.dumps(value)}")
    expect(changes).to_contain_text(f"{demo_state['accept_wait_seconds']} seconds")
    expect(changes).to_contain_text(f"{demo_state['model']}:")
    expect(page.locator("#stand-ins")).to_have_text(
        "Stand-ins: moto for AWS · local sign-in for Cognito · the mailbox for email · an offline model for Bedrock "
        "(unless MODEL=bedrock).")
    shots(page, "mailbox and demo")
    assert problems == []


def test_a_refresh_keeps_what_the_reader_closed_and_a_pause_stops_refreshing(demo, page, shots):
    session_id = api_chat(demo, "lee", "How do I reset my password?")["session_id"]
    page.goto(f"{demo.base_url}/behind-the-scenes")
    session = page.locator(f"#session-{session_id}")
    expect(session).to_have_attribute("open", "")
    session.locator("summary").click()  # the reader closes it, and it has the focus
    expect(session).not_to_have_attribute("open", "")
    session.evaluate("element => { element.dataset.reader = 'closed this one'; }")

    api_chat(demo, "lee", "And how do I change my Wi-Fi password?", session_id)

    expect(session.locator(".turn-text")).to_have_count(4)  # refreshed with the new turns...
    expect(session).to_contain_text("And how do I change my Wi-Fi password?")
    expect(session).not_to_have_attribute("open", "")  # ...and still closed: the same element, redrawn inside
    expect(session).to_have_attribute("data-reader", "closed this one")
    assert page.evaluate("document.activeElement.parentElement.id") == f"session-{session_id}"
    shots(page, "closed session refreshed")

    page.get_by_role("button", name="Pause updates").click()
    expect(page.get_by_role("button", name="Resume updates")).to_be_visible()
    expect(page.locator("#last-updated")).to_contain_text("Updates paused")
    paused_at = page.locator("#last-updated-time").get_attribute("datetime")
    api_chat(demo, "lee", "A third question while the page is paused", session_id)
    wait_for(lambda: len((pages.session(demo, session_id) or {"turns": []})["turns"]) == 6, timeout=WAIT,
             what="the third question stored")
    page.wait_for_timeout(5000)  # more than two refresh intervals: a refresh would have happened by now

    expect(session).not_to_contain_text("A third question while the page is paused")
    assert page.locator("#last-updated-time").get_attribute("datetime") == paused_at
    shots(page, "paused")

    page.get_by_role("button", name="Resume updates").click()

    expect(session).to_contain_text("A third question while the page is paused")
    expect(page.locator("#last-updated-time")).not_to_have_attribute("datetime", paused_at or "")
    expect(page.get_by_role("button", name="Pause updates")).to_be_visible()


def test_at_phone_width_only_the_tables_scroll_sideways(demo, page, shots):
    if not pages.state(demo)["executions"]:
        api_chat(demo, "kai", ESCALATE)
    wait_for(lambda: (s := pages.state(demo))["executions"] and s["transcripts"], timeout=WAIT,
             what="an execution and a transcript")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(f"{demo.base_url}/behind-the-scenes")
    expect(page.locator("#executions-body tr").first).to_be_visible()
    page.locator("#transcripts-body tr").first.get_by_role("button", name=re.compile("^View")).click()
    expect(page.locator("#transcript-json")).to_contain_text('"schema_version"')

    widths = page.evaluate("""() => ({
        page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
        table: (box => [box.scrollWidth, box.clientWidth])(document.querySelector('#executions').parentElement),
    })""")

    assert widths["page"][0] <= widths["page"][1], widths
    assert widths["table"][0] > widths["table"][1], widths  # the table is wider, and scrolls in its own box
    shots(page, "phone width")


def test_view_says_so_when_the_transcript_is_gone_and_the_next_refresh_drops_it(demo, page, shots):
    session_id = api_chat(demo, "ola", "Where can I see my invoices?")["session_id"]
    stored = wait_for(lambda: pages.session(demo, session_id), timeout=WAIT, what="the session")
    key = transcript_key(session_id, stored["started_at"])
    transcript_url = f"{demo.base_url}/local/api/transcript"
    # Written with both turns: nothing the stream consumer still has to deliver writes it again.
    wait_for(lambda: (found := httpx.get(transcript_url, params={"key": key})).status_code == 200
             and len(found.json()["turns"]) == 2, timeout=WAIT, what="the transcript with both turns")
    page.goto(f"{demo.base_url}/behind-the-scenes")
    row = page.locator("#transcripts-body tr").filter(has_text=key)
    expect(row).to_have_count(1)
    page.get_by_role("button", name="Pause updates").click()
    demo.aws.client("s3").delete_object(Bucket=demo.aws.names["transcripts_bucket"], Key=key)

    row.get_by_role("button", name=re.compile("^View")).click()

    expect(page.locator("#transcript-error")).to_contain_text("Could not read this transcript: no transcript with")
    expect(page.locator("#transcript-json")).to_be_hidden()
    shots(page, "transcript gone")
    page.get_by_role("button", name="Resume updates").click()
    expect(row).to_have_count(0)
    page.get_by_role("button", name="Close").click()
    expect(page.locator("#transcript-viewer")).to_be_hidden()
