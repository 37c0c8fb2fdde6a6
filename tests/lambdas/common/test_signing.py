"""Signed expert links: each way a link can be wrong gets its one answer, and the key comes from Secrets
Manager once per execution environment."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from lambdas.common import clients
from lambdas.common.signing import LinkExpired, LinkInvalid, sign, signed_query, signing_key, verify

KEY = b"k" * 32
SESSION = "8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1"
ESCALATION = "0b7e1f3a-5c2d-4e8f-9a61-2d3c4b5a6f70"
EXPIRES = 1_800_000_000
NOW = EXPIRES - 60


def good(**changes: object) -> dict[str, object]:
    """verify()'s arguments for a genuine review link, with `changes` applied."""
    args: dict[str, object] = {"action": "review", "session_id": SESSION, "escalation_id": ESCALATION,
                               "expires": str(EXPIRES), "now": NOW,
                               "signature": sign(KEY, action="review", session_id=SESSION, escalation_id=ESCALATION,
                                                 expires=EXPIRES)}
    args.update(changes)
    return args


def test_a_genuine_link_verifies():
    assert verify(KEY, **good()) is None  # type: ignore[arg-type]


def test_exp_may_be_given_as_a_number():
    assert verify(KEY, **good(expires=EXPIRES)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("changes", [
    {"signature": "0" * 64},
    {"expires": str(EXPIRES + 3600)},  # a longer life
    {"session_id": "11111111-2222-3333-4444-555555555555"},
    {"escalation_id": "11111111-2222-3333-4444-555555555555"},
    {"action": "work"},  # a review link used as a work link
], ids=["signature", "exp", "session", "escalation", "action"])
def test_any_tampering_is_invalid(changes):
    with pytest.raises(LinkInvalid):
        verify(KEY, **good(**changes))  # type: ignore[arg-type]


def test_a_signature_made_with_another_key_is_invalid():
    other = sign(b"o" * 32, action="review", session_id=SESSION, escalation_id=ESCALATION, expires=EXPIRES)

    with pytest.raises(LinkInvalid):
        verify(KEY, **good(signature=other))  # type: ignore[arg-type]


def test_the_work_signature_differs_from_the_review_signature():
    review = sign(KEY, action="review", session_id=SESSION, escalation_id=ESCALATION, expires=EXPIRES)
    work = sign(KEY, action="work", session_id=SESSION, escalation_id=ESCALATION, expires=EXPIRES)

    assert review != work
    assert verify(KEY, **good(action="work", signature=work)) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("exp", ["", "soon", "1.8e9", " 1800000000", "1_800_000_000", "-1", "１８００", "9" * 5000, None])
def test_a_malformed_exp_is_invalid_not_a_crash(exp):
    with pytest.raises(LinkInvalid, match="exp"):
        verify(KEY, **good(expires=exp))  # type: ignore[arg-type]


@pytest.mark.parametrize("signature", ["é" * 64, "", None])
def test_a_malformed_signature_is_invalid_not_a_crash(signature):
    with pytest.raises(LinkInvalid):
        verify(KEY, **good(signature=signature))  # type: ignore[arg-type]


def test_ids_holding_the_separator_cannot_be_signed_or_verified():
    # "a|b" + "c" and "a" + "b|c" would otherwise sign the same message.
    with pytest.raises(ValueError):
        sign(KEY, action="review", session_id="a|b", escalation_id="c", expires=EXPIRES)
    with pytest.raises(LinkInvalid):
        verify(KEY, **good(session_id=f"{SESSION}|x"))  # type: ignore[arg-type]


def test_an_expired_link_is_expired_and_the_last_second_is_still_valid():
    assert verify(KEY, **good(now=EXPIRES)) is None  # type: ignore[arg-type]
    with pytest.raises(LinkExpired):
        verify(KEY, **good(now=EXPIRES + 1))  # type: ignore[arg-type]


def test_a_tampered_expired_link_is_invalid_rather_than_expired():
    with pytest.raises(LinkInvalid):
        verify(KEY, **good(now=EXPIRES + 1, signature="0" * 64))  # type: ignore[arg-type]


def test_an_unknown_action_cannot_be_signed():
    with pytest.raises(ValueError):
        sign(KEY, action="approve", session_id=SESSION, escalation_id=ESCALATION, expires=EXPIRES)  # type: ignore[arg-type]


def test_signed_query_round_trips_through_verify():
    query = {k: v[0] for k, v in parse_qs(signed_query(KEY, action="work", session_id=SESSION,
                                                       escalation_id=ESCALATION, expires=EXPIRES)).items()}

    assert set(query) == {"session_id", "exp", "sig"}
    verify(KEY, action="work", session_id=query["session_id"], escalation_id=ESCALATION, expires=query["exp"],
           signature=query["sig"], now=NOW)


# The key ----------------------------------------------------------------------------------------------------

@pytest.fixture
def secrets(aws):
    client = clients.client("secretsmanager")
    calls: list[str] = []
    client.meta.events.register("before-parameter-build.secrets-manager.GetSecretValue",
                                lambda params, **_: calls.append(params["SecretId"]))
    return aws.secrets, calls


def test_the_key_is_read_from_secrets_manager_once(secrets):
    admin, calls = secrets
    arn = admin.create_secret(Name="tandem-link-signing", SecretString="x" * 40)["ARN"]

    first, second = signing_key(arn), signing_key(arn)

    assert first == second == b"x" * 40
    assert calls == [arn]


def test_a_short_secret_is_refused_and_not_cached(secrets):
    admin, calls = secrets
    arn = admin.create_secret(Name="tandem-link-signing", SecretString="x" * 31)["ARN"]

    for _ in range(2):
        with pytest.raises(ValueError, match="too short"):
            signing_key(arn)
    assert len(calls) == 2
