"""Masking personal data before a resolved conversation becomes a knowledge-base document: the pure masking,
the cutting of long texts for Comprehend and the mapping of its offsets back, and the export through the
real handler (Comprehend stubbed, exact requests)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ReadTimeoutError

from lambdas.common import clients
from lambdas.common.redaction import (
    JOINT,
    MAX_REQUEST_BYTES,
    Entity,
    RedactionFailed,
    detect_pii,
    redact,
    redact_texts,
    split_utf8,
)
from lambdas.common.transcript import Turn
from lambdas.expert_api import handler as expert_handler
from tests.lambdas.expert_api.conftest import CUSTOMER_TEXT, KNOWLEDGE_BUCKET, KNOWLEDGE_PREFIX, pii_found
from tests.lambdas.expert_api.helpers import escalation_item, expect_resolve, objects, reply_event, resolve_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")


def entity(kind: str, text: str, part: str, after: int = 0) -> dict[str, object]:
    """Comprehend's shape for the first occurrence of `part` in `text` from `after` (offsets in characters)."""
    begin = text.index(part, after)
    return {"Type": kind, "Score": 0.97, "BeginOffset": begin, "EndOffset": begin + len(part)}


# redact: pure ----------------------------------------------------------------------------------------------

def test_one_entity_is_replaced_by_its_type():
    text = "Write to ann.lee@example.com please"

    assert redact(text, [entity("EMAIL", text, "ann.lee@example.com")]) == "Write to [EMAIL] please"


def test_several_entities_in_any_order_are_each_replaced():
    text = "I'm Ann Lee, call 020 7946 0958 or write to ann@example.com."
    found = [entity("EMAIL", text, "ann@example.com"), entity("NAME", text, "Ann Lee"),
             entity("PHONE", text, "020 7946 0958")]

    assert redact(text, found) == "I'm [NAME], call [PHONE] or write to [EMAIL]."


def test_overlapping_entities_become_one_mask_naming_both_types():
    text = "Send it to Ann Lee, 12 High Street, Leeds today"
    name = entity("NAME", text, "Ann Lee, 12")  # ends inside the address
    address = entity("ADDRESS", text, "12 High Street, Leeds")

    assert redact(text, [address, name]) == "Send it to [NAME|ADDRESS] today"


def test_an_entity_inside_another_is_masked_with_it():
    text = "Account ann@example.com closed"
    outer = entity("EMAIL", text, "ann@example.com")
    inner = entity("NAME", text, "ann")

    assert redact(text, [inner, outer]) == "Account [NAME|EMAIL] closed"
    assert redact(text, [outer, dict(outer)]) == "Account [EMAIL] closed"  # the same span twice: one mask


def test_adjacent_entities_keep_a_mask_each():
    text = "AnnLee0209460958"
    name = {"Type": "NAME", "BeginOffset": 0, "EndOffset": 6}
    phone = {"Type": "PHONE", "BeginOffset": 6, "EndOffset": 16}

    assert redact(text, [phone, name]) == "[NAME][PHONE]"


def test_entities_at_the_start_and_at_the_end():
    text = "Ann wrote from ann@example.com"

    assert redact(text, [entity("NAME", text, "Ann"), entity("EMAIL", text, "ann@example.com")]) == (
        "[NAME] wrote from [EMAIL]")
    assert redact("ann@example.com", [{"Type": "EMAIL", "BeginOffset": 0, "EndOffset": 15}]) == "[EMAIL]"


def test_offsets_count_characters_and_multibyte_text_around_them_is_kept_exactly():
    text = "Grüße 👋🏽 from José Müller — mail jösé@exämple.com ✓\r\n\tthanks  "
    found = [entity("NAME", text, "José Müller"), entity("EMAIL", text, "jösé@exämple.com")]
    assert (found[0]["BeginOffset"], len(text[:14].encode("utf-8"))) == (14, 22)  # characters, not bytes

    masked = redact(text, found)

    assert masked == "Grüße 👋🏽 from [NAME] — mail [EMAIL] ✓\r\n\tthanks  "
    assert masked.encode("utf-8") == (text.replace("José Müller", "[NAME]")
                                      .replace("jösé@exämple.com", "[EMAIL]").encode("utf-8"))


def test_no_entities_leaves_the_text_as_it_is():
    text = "Nothing personal here.\n  Really."

    assert redact(text, []) == text
    assert redact(text, [{"Type": "NAME", "BeginOffset": 3, "EndOffset": 3}]) == text  # an empty span


def test_a_type_that_is_not_a_plain_name_is_masked_as_pii():
    text = "ann@example.com"

    assert redact(text, [{"Type": "EMAIL]<b>", "BeginOffset": 0, "EndOffset": 15}]) == "[PII]"
    assert redact(text, [{"BeginOffset": 0, "EndOffset": 15}]) == "[PII]"


@pytest.mark.parametrize("begin, end", [(-1, 3), (0, 16), (5, 4), (None, 3), (0, None), ("0", 3)])
def test_offsets_that_do_not_fit_the_text_are_refused(begin, end):
    bad = {"Type": "EMAIL", "BeginOffset": begin, "EndOffset": end}
    with pytest.raises(ValueError, match="do not fit"):
        redact("ann@example.com", [bad])
    with pytest.raises(ValueError, match="do not fit"):  # among good ones too
        redact("ann@example.com", [{"Type": "NAME", "BeginOffset": 0, "EndOffset": 3}, bad])


# split_utf8: pure ------------------------------------------------------------------------------------------

def check_pieces(text: str, pieces: list[tuple[int, str]], max_bytes: int) -> None:
    assert "".join(piece for _, piece in pieces) == text
    for offset, piece in pieces:
        assert text[offset:offset + len(piece)] == piece
        assert 0 < len(piece.encode("utf-8")) <= max_bytes


def test_a_text_within_the_limit_is_one_piece():
    assert split_utf8("héllo wörld", 13) == [(0, "héllo wörld")]  # 13 bytes


def test_pieces_never_cut_a_character():
    text = "é€😀" * 40  # 2-, 3- and 4-byte characters, no spaces

    for max_bytes in range(4, 20):
        pieces = split_utf8(text, max_bytes)
        check_pieces(text, pieces, max_bytes)
        # Each piece is as long as fits: adding the next character would exceed the limit.
        for (offset, piece), _ in zip(pieces, pieces[1:], strict=False):  # each piece with the next
            assert len(text[offset:offset + len(piece) + 1].encode("utf-8")) > max_bytes


def test_pieces_end_at_a_line_break_then_at_a_space_when_one_is_near():
    text = "aaaa bbbb\ncccc dddd eeee"

    assert split_utf8(text, 12) == [(0, "aaaa bbbb\n"), (10, "cccc dddd "), (20, "eeee")]


def test_a_break_too_early_in_the_piece_is_not_taken():
    text = "a bcdefghijklmnop"  # the only space is in the first half of the room

    assert split_utf8(text, 8) == [(0, "a bcdefg"), (8, "hijklmno"), (16, "p")]


def test_the_limit_must_hold_any_character():
    with pytest.raises(ValueError):
        split_utf8("abc", 3)


# Comprehend: requests and offsets --------------------------------------------------------------------------

def test_the_limit_is_comprehends():
    assert MAX_REQUEST_BYTES == 100_000


def test_short_texts_share_one_request_and_offsets_map_back_to_each(comprehend):
    texts = ["Hi, I'm José Müller 👋", "Call me on 020 7946 0958", "Thanks"]
    request = JOINT.join(texts)
    comprehend.add_response("detect_pii_entities", {"Entities": [
        entity("NAME", request, "José Müller"), entity("PHONE", request, "020 7946 0958")]},
        {"Text": request, "LanguageCode": "en"})

    found = detect_pii(texts, "en")

    comprehend.assert_no_pending_responses()
    assert found == [[Entity("NAME", 8, 19)], [Entity("PHONE", 11, 24)], []]


def test_an_entity_across_the_joint_is_masked_on_both_sides(comprehend):
    texts = ["My name is Ann", "Lee, from Leeds"]
    request = JOINT.join(texts)
    comprehend.add_response("detect_pii_entities", {"Entities": [entity("NAME", request, "Ann\n\nLee")]},
                            {"Text": request, "LanguageCode": "es"})

    assert redact_texts(texts, "es") == ["My name is [NAME]", "[NAME], from Leeds"]


def test_blank_texts_are_not_sent(comprehend):
    texts = ["", "  \n", "mail ann@example.com"]
    comprehend.add_response("detect_pii_entities", {"Entities": [entity("EMAIL", texts[2], "ann@example.com")]},
                            {"Text": "mail ann@example.com", "LanguageCode": "en"})

    assert redact_texts(texts, "en") == ["", "  \n", "mail [EMAIL]"]
    comprehend.assert_no_pending_responses()


def test_nothing_to_check_makes_no_request(comprehend):
    assert redact_texts(["", " "], "en") == ["", " "]  # the Stubber has nothing queued: a call would fail


def line(content: str) -> str:
    """One line of exactly 100 UTF-8 bytes (51 characters when it is all filler)."""
    if not content:
        return "é" * 49 + "a\n"
    return content + "." * (99 - len(content.encode("utf-8"))) + "\n"


def test_a_text_over_the_limit_is_cut_at_a_line_and_offsets_map_back(comprehend):
    lines = [line("") for _ in range(1500)]
    lines[10] = line("mail ann@example.com")
    lines[1200] = line("or call bob@example.org")
    text = "".join(lines)
    assert len(text.encode("utf-8")) == 150_000
    # The first 1000 lines are exactly 100 000 bytes: the first request ends at a line break.
    first, second = "".join(lines[:1000]), "".join(lines[1000:])
    comprehend.add_response("detect_pii_entities", {"Entities": [entity("EMAIL", first, "ann@example.com")]},
                            {"Text": first, "LanguageCode": "en"})
    comprehend.add_response("detect_pii_entities", {"Entities": [entity("EMAIL", second, "bob@example.org")]},
                            {"Text": second, "LanguageCode": "en"})

    (masked,) = redact_texts([text], "en")

    comprehend.assert_no_pending_responses()
    assert masked == text.replace("ann@example.com", "[EMAIL]").replace("bob@example.org", "[EMAIL]")
    # The second request's offsets are characters into the second piece, not bytes and not into the text.
    assert entity("EMAIL", second, "bob@example.org")["BeginOffset"] != text.index("bob@example.org")


def test_the_next_text_starts_a_new_request_when_it_does_not_fit(comprehend):
    big = "a" * (MAX_REQUEST_BYTES - 3)
    comprehend.add_response("detect_pii_entities", {"Entities": []}, {"Text": big, "LanguageCode": "en"})
    comprehend.add_response("detect_pii_entities", {"Entities": [{"Type": "NAME", "BeginOffset": 0, "EndOffset": 3}]},
                            {"Text": "Ann", "LanguageCode": "en"})

    assert redact_texts([big, "Ann"], "en") == [big, "[NAME]"]
    comprehend.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["TextSizeLimitExceededException", "UnsupportedLanguageException",
                                  "InternalServerException", "ThrottlingException"])
def test_a_comprehend_error_fails_with_its_code_only(comprehend, code):
    comprehend.add_client_error("detect_pii_entities", service_error_code=code, http_status_code=400,
                                service_message="could not process: ann@example.com")

    with pytest.raises(RedactionFailed) as failed:
        redact_texts(["mail ann@example.com"], "en")

    assert failed.value.code == code
    assert "ann@example.com" not in str(failed.value) and failed.value.__cause__ is None


def test_a_connection_failure_fails_with_its_name(aws):
    def time_out(**_: object) -> None:
        raise ReadTimeoutError(endpoint_url="https://comprehend.us-east-1.amazonaws.com")

    clients.set_client("comprehend", SimpleNamespace(detect_pii_entities=time_out))

    with pytest.raises(RedactionFailed, match="^ReadTimeoutError$"):
        redact_texts(["mail ann@example.com"], "en")


@pytest.mark.parametrize("begin, end", [(0, 99), (-2, 4), (5, 2)])
def test_offsets_outside_the_request_fail_instead_of_masking_the_wrong_characters(comprehend, begin, end):
    comprehend.add_response("detect_pii_entities",
                            {"Entities": [{"Type": "EMAIL", "Score": 0.9, "BeginOffset": begin, "EndOffset": end}]},
                            {"Text": "mail ann@example.com", "LanguageCode": "en"})

    with pytest.raises(RedactionFailed, match="EntityOffsetsOutOfRange"):
        redact_texts(["mail ann@example.com"], "en")


# The export, through the handler -----------------------------------------------------------------------------

EMAIL = "ann.lee@example.com"
PHONE = "020 7946 0958"


def customer_says(esc: SimpleNamespace, text: str) -> None:
    """A customer message stored while the expert owns the session (the chatbot's part)."""
    session = esc.sessions.load(esc.session_id, None, recent_items=20)
    esc.sessions.record(session, [Turn(role="customer", text=text)])


def knowledge(aws: SimpleNamespace) -> dict[str, bytes]:
    return {k: v for k, v in objects(aws.s3).items() if k.startswith(f"{KNOWLEDGE_BUCKET}/")}


def test_the_exported_document_holds_types_instead_of_personal_data(aws, accepted, sfn, comprehend, call):
    customer_says(accepted, f"It's Ann Lee, mail me at {EMAIL}")
    assert call(reply_event(accepted, f"Thanks Ann, I'll call {PHONE}."))["statusCode"] == 303
    note = f"Customer Ann Lee ({EMAIL}) had a DNS issue."
    request = f"{CUSTOMER_TEXT}\n\nIt's Ann Lee, mail me at {EMAIL}\n\nThanks Ann, I'll call {PHONE}.\n\n{note}"
    reply_at, note_at = request.index("Thanks Ann"), request.index(note)
    comprehend.add_response("detect_pii_entities", {"Entities": [
        entity("NAME", request, "Ann Lee"), entity("EMAIL", request, EMAIL),
        entity("NAME", request, "Ann", reply_at), entity("PHONE", request, PHONE),
        entity("NAME", request, "Ann Lee", note_at), entity("EMAIL", request, EMAIL, note_at),
    ]}, {"Text": request, "LanguageCode": "en"})
    expect_resolve(sfn)

    response = call(resolve_event(accepted, note=note))

    assert response["statusCode"] == 200
    comprehend.assert_no_pending_responses()
    sfn.assert_no_pending_responses()
    stored = knowledge(aws)
    key = f"{KNOWLEDGE_BUCKET}/{KNOWLEDGE_PREFIX}{accepted.escalation_id}.txt"
    text = stored[key].decode("utf-8")
    assert text.splitlines()[2:] == [
        f"Customer: {CUSTOMER_TEXT}",
        "Customer: It's [NAME], mail me at [EMAIL]",
        "Expert: Thanks [NAME], I'll call [PHONE].",
        "",
        "Expert's note: Customer [NAME] ([EMAIL]) had a DNS issue.",
    ]
    everything = b"".join(stored.values()).decode("utf-8")
    assert EMAIL not in everything and PHONE not in everything and "Ann" not in everything
    # The escalation itself keeps the note as the expert wrote it: only the export is masked.
    assert escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)["note"] == note


@pytest.mark.parametrize("failure", ["client_error", "timeout"])
def test_when_comprehend_fails_nothing_is_exported_and_the_resolve_still_succeeds(
        aws, accepted, sfn, comprehend, call, capsys, log_output, failure):
    customer_says(accepted, f"mail me at {EMAIL}")
    if failure == "client_error":
        comprehend.add_client_error("detect_pii_entities", service_error_code="InternalServerException",
                                    http_status_code=500, service_message=f"failed on: {EMAIL}")
        code = "InternalServerException"
    else:
        def time_out(**_: object) -> None:
            raise ReadTimeoutError(endpoint_url=f"https://comprehend.us-east-1.amazonaws.com/?{EMAIL}")

        clients.set_client("comprehend", SimpleNamespace(detect_pii_entities=time_out))
        code = "ReadTimeoutError"
    expect_resolve(sfn)

    response = call(resolve_event(accepted, note="Fixed."))

    assert response["statusCode"] == 200 and "back with the assistant" in response["body"]
    sfn.assert_no_pending_responses()  # the workflow is still told
    assert escalation_item(aws.ddb, accepted.session_id, accepted.escalation_id)["status"] == "resolved"
    assert knowledge(aws) == {}  # neither the document nor its metadata
    out = capsys.readouterr().out
    assert '"KnowledgeExportSkipped"' in out
    logs = log_output.getvalue()
    skipped = [json.loads(entry) for entry in logs.splitlines() if "knowledge export skipped" in entry]
    assert len(skipped) == 1 and skipped[0]["error"] == code
    assert EMAIL not in logs and EMAIL not in out


def test_without_redaction_the_text_is_exported_as_written_and_comprehend_is_not_called(
        aws, accepted, sfn, comprehend, call, monkeypatch, capsys):
    monkeypatch.setenv("REDACT_PII", "false")
    monkeypatch.delenv("LANGUAGE_CODE")
    expert_handler.dependencies.reset()  # the next request reads the environment again
    customer_says(accepted, f"mail me at {EMAIL}")
    expect_resolve(sfn)

    response = call(resolve_event(accepted, note=f"Wrote to {EMAIL}."))

    assert response["statusCode"] == 200
    comprehend.assert_no_pending_responses()  # nothing was queued: any call would have failed the export
    text = knowledge(aws)[f"{KNOWLEDGE_BUCKET}/{KNOWLEDGE_PREFIX}{accepted.escalation_id}.txt"].decode()
    assert f"Customer: mail me at {EMAIL}" in text and f"Expert's note: Wrote to {EMAIL}." in text
    assert '"KnowledgeExportSkipped"' not in capsys.readouterr().out


def test_the_export_waits_on_comprehend_only_after_the_workflow_is_told(aws, accepted, sfn, comprehend, call):
    calls: list[str] = []
    for client in (sfn.client, comprehend.client):
        client.meta.events.register("before-parameter-build", lambda model, **_: calls.append(model.name))
    expect_resolve(sfn)
    pii_found(comprehend, f"{CUSTOMER_TEXT}\n\nFixed.")

    assert call(resolve_event(accepted, note="Fixed."))["statusCode"] == 200

    assert calls == ["SendTaskSuccess", "DetectPiiEntities"]
