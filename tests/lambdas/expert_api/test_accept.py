"""POST accept: one expert takes the conversation, the workflow is told with exactly the stored token, and
everything else (a replay, a second expert at the same moment, a workflow that moved on) changes nothing."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY

from lambdas.common import clients
from tests.lambdas.expert_api.conftest import ACCEPT_TOKEN, RESOLVE_TIMEOUT_SECONDS, expert_event, link
from tests.lambdas.expert_api.helpers import (
    body_json,
    escalation_item,
    link_in,
    session_item,
    snapshot,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def accept_event(esc: Any, expert: str = "Ann", **link_kwargs: Any) -> dict[str, Any]:
    return expert_event("accept", esc.escalation_id, form={**link("review", esc, **link_kwargs), "expert": expert})


def expect_accept(sfn: Any, expert: str = "Ann") -> None:
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN,
                                               "output": json.dumps({"accepted_by": expert})})


def test_accept_claims_the_escalation_and_completes_the_workflow_task_with_the_stored_token(
        aws, escalation, sfn, call):
    expect_accept(sfn)

    response = call(accept_event(escalation))

    sfn.assert_no_pending_responses()  # send_task_success was called, with exactly these parameters
    assert response["statusCode"] == 303
    item = escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)
    assert (item["status"], item["accepted_by"]) == ("accepted", "Ann")
    assert session_item(aws.ddb, escalation.session_id)["owner"] == "Ann"


def test_accept_redirects_to_the_console_with_a_fresh_work_link(aws, escalation, sfn, call):
    expect_accept(sfn)

    location = call(accept_event(escalation))["headers"]["Location"]

    path, query = link_in(location)
    assert path == f"/prod/escalations/{escalation.escalation_id}/console"
    assert abs(int(query["exp"]) - (time.time() + RESOLVE_TIMEOUT_SECONDS)) < 60
    console = call(expert_event("console", escalation.escalation_id, query=query))
    assert console["statusCode"] == 200 and 'name="text"' in console["body"]


def test_accept_with_a_json_body_answers_json(aws, escalation, sfn, call):
    expect_accept(sfn)
    event = expert_event("accept", escalation.escalation_id,
                         json_body={**link("review", escalation), "expert": "Ann"},
                         headers={"Accept": "application/json"})

    response = call(event)

    assert response["statusCode"] == 200
    assert body_json(response)["console_url"].startswith(f"/prod/escalations/{escalation.escalation_id}/console?")


def test_a_replayed_accept_is_a_409_and_changes_nothing(aws, escalation, sfn, call):
    expect_accept(sfn)
    event = accept_event(escalation)
    assert call(event)["statusCode"] == 303
    before = snapshot(aws)

    replay = call(event)  # the Stubber has nothing queued: a second send_task_success would fail the test

    assert replay["statusCode"] == 409
    assert "accepted" in replay["body"]
    assert snapshot(aws) == before


def test_a_second_expert_is_refused_and_the_first_keeps_the_conversation(aws, escalation, sfn, call):
    expect_accept(sfn)
    assert call(accept_event(escalation, "Ann"))["statusCode"] == 303

    assert call(accept_event(escalation, "Bob"))["statusCode"] == 409

    assert session_item(aws.ddb, escalation.session_id)["owner"] == "Ann"


class SerializedClient:
    """One request at a time, like the real service (moto does not lock); before the first transaction of
    each thread, both threads wait for each other: both have read `pending` before either claims."""

    def __init__(self, client: Any, barrier: threading.Barrier):
        self._client = client
        self._barrier = barrier
        self._lock = threading.Lock()
        self._waited = threading.local()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "transact_write_items" and not getattr(self._waited, "done", False):
                self._waited.done = True
                self._barrier.wait(timeout=10)
            with self._lock:
                return attr(*args, **kwargs)

        return call


def test_two_experts_accepting_at_the_same_moment_get_one_success_and_one_409(aws, escalation, sfn, call):
    # Exactly one send_task_success is queued: a second one would fail that request with a 503.
    sfn.add_response("send_task_success", {}, {"taskToken": ACCEPT_TOKEN, "output": ANY})
    clients.set_client("dynamodb", SerializedClient(clients.client("dynamodb"), threading.Barrier(2)))

    with ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(call, accept_event(escalation, name)) for name in ("Ann", "Bob")}
        statuses = {name: future.result(timeout=30)["statusCode"] for name, future in futures.items()}

    assert sorted(statuses.values()) == [303, 409]
    sfn.assert_no_pending_responses()
    (winner,) = [name for name, status in statuses.items() if status == 303]
    assert escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)["accepted_by"] == winner
    assert session_item(aws.ddb, escalation.session_id)["owner"] == winner


def history(sfn: Any, escalation: Any, *entered: str, exited: tuple[str, ...] = (), status: str = "RUNNING") -> None:
    """Queues what Step Functions answers about the escalation's execution: its history (the states entered
    and exited, in order, as GetExecutionHistory lists them) and its status."""
    events, stamp = [], datetime(2026, 11, 30, tzinfo=timezone.utc)
    for name in entered:
        events.append({"id": len(events) + 1, "timestamp": stamp, "type": "TaskStateEntered",
                       "stateEnteredEventDetails": {"name": name}})
        if name in exited:
            events.append({"id": len(events) + 1, "timestamp": stamp, "type": "TaskStateExited",
                           "stateExitedEventDetails": {"name": name}})
    sfn.add_response("get_execution_history", {"events": events},
                     {"executionArn": escalation.execution_arn, "maxResults": 1000, "includeExecutionData": False})
    sfn.add_response("describe_execution", {
        "executionArn": escalation.execution_arn, "status": status, "startDate": stamp,
        "stateMachineArn": escalation.execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]},
        {"executionArn": escalation.execution_arn})


def refuse_accept(sfn: Any, code: str, status: int = 400) -> None:
    sfn.add_client_error("send_task_success", service_error_code=code, http_status_code=status,
                         service_message=f"Provided task does not exist anymore: {ACCEPT_TOKEN}",
                         expected_params={"taskToken": ACCEPT_TOKEN, "output": json.dumps({"accepted_by": "Ann"})})


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_accept_after_the_workflow_moved_on_is_a_410_and_undoes_the_claim(aws, escalation, sfn, call, code):
    before = snapshot(aws)
    refuse_accept(sfn, code)
    history(sfn, escalation, "RecordPending", "NotifyExpertsAndWaitForAccept", "MarkTimedOut",
            exited=("RecordPending", "NotifyExpertsAndWaitForAccept"))

    response = call(accept_event(escalation))

    sfn.assert_no_pending_responses()
    assert response["statusCode"] == 410
    assert ACCEPT_TOKEN not in response["body"]
    assert snapshot(aws) == before  # pending again, no owner: the state machine's time-out path takes it from here


@pytest.mark.parametrize("code", ["InvalidToken", "TaskTimedOut", "ServiceUnavailable"])
def test_an_accept_the_workflow_took_before_its_answer_was_lost_stands(aws, escalation, sfn, call, code):
    # SendTaskSuccess reached Step Functions, the answer was lost, and the retried call was refused (or failed).
    refuse_accept(sfn, code, 503 if code == "ServiceUnavailable" else 400)
    history(sfn, escalation, "RecordPending", "NotifyExpertsAndWaitForAccept", "WaitForResolve",
            exited=("RecordPending", "NotifyExpertsAndWaitForAccept"))

    response = call(accept_event(escalation))

    sfn.assert_no_pending_responses()
    assert response["statusCode"] == 303  # on to the console: the expert has the conversation
    item = escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)
    assert (item["status"], item["accepted_by"]) == ("accepted", "Ann")
    assert session_item(aws.ddb, escalation.session_id)["owner"] == "Ann"


def test_accept_when_step_functions_is_unavailable_is_a_503_and_undoes_the_claim(aws, escalation, sfn, call):
    before = snapshot(aws)
    refuse_accept(sfn, "ServiceUnavailable", 503)
    history(sfn, escalation, "RecordPending", "NotifyExpertsAndWaitForAccept", exited=("RecordPending",))

    response = call(accept_event(escalation))

    sfn.assert_no_pending_responses()
    assert response["statusCode"] == 503 and "Nothing was changed" in response["body"]
    assert snapshot(aws) == before  # the accept task still waits: the expert can simply try again


def test_an_accept_that_cannot_be_confirmed_keeps_the_claim_for_the_workflow_to_settle(aws, escalation, sfn, call):
    refuse_accept(sfn, "ServiceUnavailable", 503)
    sfn.add_client_error("get_execution_history", service_error_code="ThrottlingException", http_status_code=400)

    response = call(accept_event(escalation))

    assert response["statusCode"] == 503 and "could not confirm" in response["body"]
    # Kept: if the workflow did take it, undoing would strand the escalation; if it did not, its accept
    # time-out (an unconditional write) releases the session.
    item = escalation_item(aws.ddb, escalation.session_id, escalation.escalation_id)
    assert (item["status"], item["accepted_by"]) == ("accepted", "Ann")


@pytest.mark.parametrize("status", ["timed_out", "failed"])
def test_accept_of_an_escalation_the_workflow_gave_up_is_a_410(aws, escalation, sfn, call, status):
    aws.ddb.update_item(TableName="tandem-sessions-expert",
                        Key={"session_id": {"S": escalation.session_id},
                             "sk": {"S": f"ESCALATION#{escalation.escalation_id}"}},
                        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
                        ExpressionAttributeValues={":s": {"S": status}})
    before = snapshot(aws)

    response = call(accept_event(escalation))

    assert response["statusCode"] == 410
    assert snapshot(aws) == before


def test_accept_with_an_expired_review_link_is_a_410_and_changes_nothing(aws, escalation, sfn, call):
    before = snapshot(aws)

    response = call(accept_event(escalation, expires=int(time.time()) - 1))

    assert response["statusCode"] == 410
    assert snapshot(aws) == before


def test_accept_with_a_work_link_is_refused(aws, escalation, sfn, call):
    event = expert_event("accept", escalation.escalation_id, form={**link("work", escalation), "expert": "Ann"})

    assert call(event)["statusCode"] == 403


def test_an_unexpected_storage_error_is_a_503_without_details(aws, escalation, sfn, call, monkeypatch):
    def broken(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")

    monkeypatch.setattr(clients.client("dynamodb"), "transact_write_items", broken)

    response = call(accept_event(escalation))

    assert response["statusCode"] == 503
    assert "boom" not in response["body"]
