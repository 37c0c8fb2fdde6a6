"""The hub formats: Turn, EscalationRecord and Transcript (lambdas/common/transcript.py)."""

from __future__ import annotations

import json

import pytest

from lambdas.common.transcript import (
    SCHEMA_VERSION,
    EscalationRecord,
    Sentiment,
    Source,
    Transcript,
    Turn,
    utc_now,
)


def turn(role: str, text: str, at: str, **kwargs) -> Turn:
    return Turn(role=role, text=text, created_at=at, **kwargs)


def sample() -> Transcript:
    customer = turn("customer", "Olá, my order is late", "2026-11-25T10:00:00.000001Z",
                    sentiment=Sentiment(label="negative", score=0.8123, detector="comprehend"))
    bot = turn("bot", "Sorry to hear that.", "2026-11-25T10:00:01.000000Z", model_id="m1", latency_ms=812,
               sources=(Source(uri="s3://kb/shipping.md", excerpt="Orders ship in 2 days", score=0.61),
                        Source(uri="s3://kb/faq.md")))
    failed = turn("bot", "Sorry, technical problem.", "2026-11-25T10:00:02.000000Z", error="ThrottlingException")
    escalation = EscalationRecord(session_id="s-1", reason="negative_sentiment", turn_id=customer.turn_id,
                                  sentiment=customer.sentiment, requested_at="2026-11-25T10:00:01.500000Z")
    return Transcript(session_id="s-1", started_at="2026-11-25T10:00:00.000000Z",
                      updated_at="2026-11-25T10:00:02.000000Z", turns=[customer, bot, failed],
                      escalations=[escalation], feedback=[{"turn_id": bot.turn_id, "rating": 1}])


def test_round_trip_through_json_keeps_every_field():
    original = sample()

    restored = Transcript.from_dict(json.loads(json.dumps(original.to_dict(), ensure_ascii=False)))

    assert restored == original
    assert restored.to_dict() == original.to_dict()
    assert restored.turns[1].sources[0] == Source(uri="s3://kb/shipping.md", excerpt="Orders ship in 2 days",
                                                  score=0.61)
    assert restored.turns[1].sources[1].score is None
    assert restored.escalations[0].sentiment == Sentiment(label="negative", score=0.8123, detector="comprehend")


def test_to_dict_has_the_documented_shape():
    data = sample().to_dict()

    assert data["schema_version"] == SCHEMA_VERSION == 2
    assert list(data) == ["schema_version", "session_id", "started_at", "updated_at", "turns", "escalations",
                          "feedback"]
    assert data["turns"][0]["sentiment"] == {"label": "negative", "score": 0.8123, "detector": "comprehend",
                                             "reason": ""}
    assert "error" not in data["turns"][0] and "sources" not in data["turns"][0]  # empty fields are left out
    assert data["turns"][2]["error"] == "ThrottlingException"
    assert data["escalations"][0]["status"] == "pending"
    assert "accepted_by" not in data["escalations"][0]


def test_merge_adds_new_turns_in_time_order_and_keeps_existing_ones():
    transcript = sample()
    existing = list(transcript.turns)
    earlier = turn("customer", "a turn from another writer", "2026-11-25T10:00:00.500000Z")
    later = turn("customer", "a later turn", "2026-11-25T10:00:03.000000Z")

    transcript.merge([later, earlier], [], "2026-11-25T10:00:03.000000Z")

    assert transcript.turns == [existing[0], earlier, existing[1], existing[2], later]
    assert transcript.updated_at == "2026-11-25T10:00:03.000000Z"


def test_merge_dedups_by_turn_id_and_never_drops_a_turn():
    transcript = sample()
    existing = list(transcript.turns)
    stale_copy = Turn.from_dict({**existing[1].to_dict(), "text": "an edited copy"})

    transcript.merge([existing[0], stale_copy], [], "2026-11-25T09:00:00.000000Z")  # nothing new, older time
    transcript.merge([], [], "2026-11-25T09:00:00.000000Z")

    assert transcript.turns == existing
    assert transcript.turns[1].text == "Sorry to hear that."  # the stored turn is kept
    assert transcript.updated_at == "2026-11-25T10:00:02.000000Z"  # never moves back


def test_merge_replaces_an_escalation_by_id_with_its_newer_status():
    transcript = sample()
    (pending,) = transcript.escalations
    accepted = EscalationRecord.from_dict({**pending.to_dict(), "status": "accepted", "accepted_by": "expert-7"})
    other = EscalationRecord(session_id="s-1", reason="human_requested", turn_id="t-9",
                             requested_at="2026-11-25T10:00:00.900000Z")

    transcript.merge([], [accepted, other], utc_now())

    assert transcript.escalations == [other, accepted]  # ordered by requested_at
    assert transcript.escalations[1].status == "accepted"


@pytest.mark.parametrize("version", [None, 0, 3, "1", "2", True, 1.5])
def test_unknown_schema_versions_are_rejected(version):
    data = sample().to_dict()
    if version is None:
        del data["schema_version"]
    else:
        data["schema_version"] = version

    with pytest.raises(ValueError, match="schema_version"):
        Transcript.from_dict(data)


@pytest.mark.parametrize("role", ["assistant", "user", "Customer", ""])
def test_invalid_roles_are_rejected(role):
    with pytest.raises(ValueError, match="role"):
        Turn(role=role, text="hi")
    with pytest.raises(ValueError, match="role"):
        Turn.from_dict({"role": role, "text": "hi", "turn_id": "t", "created_at": utc_now()})


def test_a_version_1_transcript_is_read_with_its_agent_turns_as_expert_turns():
    data = sample().to_dict()
    data["schema_version"] = 1
    data["turns"].append({"turn_id": "t-9", "role": "agent", "text": "Expert here.",
                           "created_at": "2026-03-01T10:00:09.000000Z"})

    transcript = Transcript.from_dict(json.loads(json.dumps(data)))

    assert transcript.turns[-1].role == "expert"
    assert [t["role"] for t in transcript.to_dict()["turns"]][-1] == "expert"
    assert transcript.to_dict()["schema_version"] == 2  # written back in the current version


def test_the_former_role_name_is_read_but_never_written():
    stored = {"turn_id": "t-1", "role": "agent", "text": "Expert here.", "created_at": utc_now()}

    assert Turn.from_dict(stored).role == "expert"
    with pytest.raises(ValueError, match="role"):
        Turn(role="agent", text="Expert here.")  # type: ignore[arg-type]


@pytest.mark.parametrize("role", ["customer", "bot", "expert", "system"])
def test_every_documented_role_is_accepted(role):
    assert Turn(role=role, text="hi").role == role


def test_utc_now_sorts_as_text_in_time_order():
    stamps = [utc_now() for _ in range(50)]

    assert stamps == sorted(stamps)
    assert all(s.endswith("Z") and len(s) == len("2026-11-25T10:00:00.000000Z") for s in stamps)


def test_new_turns_get_distinct_ids():
    assert len({Turn(role="customer", text="hi").turn_id for _ in range(100)}) == 100
