"""The demo process (local/demo.py, python -m local): one socket serving the web pages, both APIs and the
demo's read-only JSON, the offline answers, the shortened accept wait, and a clean stop."""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import pytest

from local import answer_model
from local.__main__ import main, parse
from local.aws import ACCEPT_WAIT_SUBSTITUTION, reminder_seconds, with_substitution
from local.demo import WEB_SECURITY_HEADERS, Demo, DemoOptions, bind
from local.templates import synthesized
from stacks.config import TandemConfig

ACCEPT_WAIT = 7


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = Demo(DemoOptions(port=0, accept_wait_seconds=ACCEPT_WAIT)).start()
    yield running
    running.stop()


@pytest.fixture
def http(demo: Demo) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=demo.base_url, timeout=30) as client:
        yield client


def test_options_name_what_is_wrong():
    with pytest.raises(ValueError, match="model must be one of offline, bedrock"):
        DemoOptions(model="gpt")
    with pytest.raises(ValueError, match="accept_wait_seconds"):
        DemoOptions(accept_wait_seconds=0)


def test_a_taken_port_is_named_with_the_way_out():
    taken = bind(0)
    port = taken.getsockname()[1]
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}.*PORT=8001"):
            bind(port)
    finally:
        taken.close()


def test_the_command_reports_a_taken_port_and_exits_non_zero(capsys):
    taken = bind(0)
    try:
        assert main(["--port", str(taken.getsockname()[1])]) == 1
    finally:
        taken.close()
    assert "is a demo already running?" in capsys.readouterr().err


def test_the_command_line_becomes_the_options():
    options = parse(["--port", "0", "--model", "bedrock", "--accept-wait", "30"])
    assert (options.port, options.model, options.accept_wait_seconds) == (0, "bedrock", 30)
    assert parse([]) == DemoOptions()


def test_the_pages_are_served_with_a_policy_that_allows_no_inline_script(demo, http):
    for path in ("/", "/inbox", "/rate", "/mailbox", "/behind-the-scenes", "/assets/site.css", "/config.json"):
        response = http.get(path)
        assert response.status_code == 200, path
        for name, value in WEB_SECURITY_HEADERS.items():
            expected = value.replace("{live_origin}", demo.base_url.replace("http://", "ws://"))
            assert response.headers[name] == expected, (path, name)


def user(demo: Demo, name: str = "ana") -> dict[str, str]:
    assert demo.identity is not None
    return {"Authorization": demo.identity.sign_in(name)}


def test_the_apis_answer_with_their_handlers_headers_not_the_pages(demo, http):
    response = http.post("/prod/chat", headers=user(demo), json={"message": ""})
    assert response.status_code == 400
    assert "script-src" not in response.headers.get("Content-Security-Policy", "")
    assert http.get("/prod/nothing-here").json() == {"message": "Missing Authentication Token"}


def test_the_web_app_is_told_how_to_sign_in_and_which_model_answers(http):
    config = http.get("/config.json").json()
    assert config["auth"]["kind"] == "local" and config["auth"]["signInUrl"] == "/local/cognito/sign-in"
    assert config["chatApiUrl"] == "/prod/" and config["expertApiUrl"] == "/experts/"
    assert config["ratingApiUrl"] == "/ratings/"
    assert config["liveUrl"].startswith("ws://127.0.0.1:")
    assert config["model"] == {"id": answer_model.MODEL_ID, "standIn": True, "note": answer_model.STAND_IN_NOTE}
    assert config["maxMessageChars"] > 0 and config["pollIntervalMs"] > 0


def test_a_question_is_answered_offline_and_the_turn_says_which_model(demo, http):
    answer = http.post("/prod/chat", headers=user(demo), json={"message": "How do I set up my router?"}).json()
    assert answer["sources"] and answer["sources"][0]["uri"].startswith("local/knowledge/router-setup.md")
    state = http.get("/local/api/state").json()
    session = next(s for s in state["sessions"] if s["session_id"] == answer["session_id"])
    assert [t["role"] for t in session["turns"]] == ["customer", "bot"]
    assert session["turns"][1]["model_id"] == answer_model.MODEL_ID
    assert session["turns"][0]["sentiment"]["detector"] == "vader"


def test_the_escalation_workflow_waits_the_shortened_time_for_an_accept_and_reminds_at_a_third_of_it(demo):
    sfn = demo.aws.client("stepfunctions")  # type: ignore[union-attr]
    definition = json.loads(sfn.describe_state_machine(
        stateMachineArn=demo.aws.state_machines["human_escalation"])["definition"])  # type: ignore[union-attr]
    configure = definition["States"]["Configure"]["Parameters"]
    assert configure["accept_seconds.$"] == f"States.StringToJson('{ACCEPT_WAIT}')"
    assert configure["reminder_seconds.$"] == f"States.StringToJson('{ACCEPT_WAIT // 3}')"


def test_the_shortened_reminder_interval_follows_the_configuration():
    assert reminder_seconds(TandemConfig(), 30) == 10
    assert reminder_seconds(TandemConfig(), 2) == 0  # too short a wait for a reminder
    assert reminder_seconds(TandemConfig(expert_reminder_minutes=0), 30) == 0  # reminders off stay off


def test_a_substitution_the_definition_lacks_is_named():
    definition = next(d for d in synthesized().of_type("AWS::StepFunctions::StateMachine")
                      if ACCEPT_WAIT_SUBSTITUTION in d.properties.get("DefinitionSubstitutions", {}))
    assert with_substitution(definition, ACCEPT_WAIT_SUBSTITUTION, "5").properties[
        "DefinitionSubstitutions"][ACCEPT_WAIT_SUBSTITUTION] == "5"
    with pytest.raises(KeyError, match="no substitution Nope"):
        with_substitution(definition, "Nope", "5")


def test_a_transcript_that_is_not_there_is_a_404_naming_it(http):
    response = http.get("/local/api/transcript", params={"key": "sessions/none.json"})
    assert response.status_code == 404 and "sessions/none.json" in response.json()["message"]


def test_only_requests_addressed_to_this_machine_are_answered(demo, http):
    port = demo.base_url.rsplit(":", 1)[1]
    rebound = http.get("/local/api/mailbox", headers={"Host": f"evil.example:{port}"})
    assert rebound.status_code == 421 and "mail" not in rebound.text
    assert http.post("/prod/chat", headers={**user(demo), "Host": f"evil.example:{port}"},
                     json={"message": "hi"}).status_code == 421
    redirected = http.get("/mailbox?x=1", headers={"Host": f"localhost:{port}"})
    assert (redirected.status_code, redirected.headers["location"]) == (307, f"http://127.0.0.1:{port}/mailbox?x=1")
    assert http.get("/local/api/mailbox").status_code == 200


def test_the_socket_listens_on_the_loopback_address_only(demo):
    assert demo.base_url.startswith("http://127.0.0.1:")
    assert demo._socket is not None and demo._socket.getsockname()[0] == "127.0.0.1"


def test_the_rating_api_is_served_behind_the_local_sign_in(demo, http):
    assert demo.identity is not None
    anonymous = http.get("/ratings/batches")
    customer = http.get("/ratings/batches", headers=user(demo))
    rater = http.get("/ratings/batches", headers={"Authorization": demo.identity.sign_in("rita", ["raters"])})
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthorized"})  # the gateway's answer
    assert customer.status_code == 403 and customer.json()["error"]["field"] == "authorization"  # the function's
    assert rater.status_code == 200 and rater.json() == {"batches": [], "admin": False, "rater": True}


def test_taking_a_sample_makes_the_answers_given_a_rating_batch_of_one_rating_each(demo, http):
    from lambdas.common.rating_batches import RatingBatches
    from testing.waiting import wait_for

    asked = http.post("/prod/chat", headers=user(demo, "sampled"),
                      json={"message": "What does the orange light mean?"}).json()
    wait_for(lambda: any(asked["session_id"] in t["key"] for t in http.get("/local/api/state").json()["transcripts"]),
             timeout=20, what="the transcript the sampler reads")
    summary = http.post("/local/api/sample").json()
    assert summary["rating_batch"] and summary["rating_items"] >= 1, summary
    assert demo.aws is not None
    batches = RatingBatches(table_name=demo.aws.names["ratings_table"],
                            ratings_bucket=demo.aws.names["labeling_bucket"], ratings_prefix="ratings/")
    batch = batches.batch(summary["rating_batch"])
    assert batch.ratings_per_item == 1
    turns = set()
    while (held := batches.next_item(batch.batch_id, "tester")) is not None:
        turns.add(held.item.session_id)
        batches.skip(batch.batch_id, held.item_id, "tester")
    assert asked["session_id"] in turns
