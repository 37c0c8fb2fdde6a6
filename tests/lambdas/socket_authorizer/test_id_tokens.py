"""The ID token checks AWS documents, against tokens a (moto) Cognito user pool really signed."""

from __future__ import annotations

import base64
import json

import pytest

from lambdas.socket_authorizer.id_tokens import IdTokenVerifier, InvalidToken


def test_a_valid_token_gives_the_user_and_groups(pool):
    identity = pool.verifier().verify(pool.id_token("eva", groups=("experts",)))
    assert identity.sub == pool.sub("eva")
    assert identity.email == "eva@example.com"
    assert identity.groups == ("experts",)


def test_a_token_without_groups_has_none(pool):
    assert pool.verifier().verify(pool.id_token("carl")).groups == ()


def test_an_expired_token_is_rejected(pool):
    with pytest.raises(InvalidToken, match="expired"):
        pool.verifier().verify(pool.expired_id_token("carl"))


def test_a_token_within_the_clock_skew_allowance_still_passes(pool):
    pool.verifier().verify(pool.expired_id_token("carl", seconds_ago=5))


def test_a_token_for_another_app_client_is_rejected(pool):
    token = pool.id_token("carl", client_id=pool.other_client_id)
    with pytest.raises(InvalidToken, match="another app client"):
        pool.verifier().verify(token)


def test_a_token_of_another_pool_is_rejected(pool):
    verifier = IdTokenVerifier(issuer=pool.issuer + "x", audiences=[pool.client_id],
                               fetch=lambda url: pool_keys(pool))
    with pytest.raises(InvalidToken, match="another user pool"):
        verifier.verify(pool.id_token("carl"))


def test_an_access_token_is_not_an_id_token(pool):
    # An access token has no `aud` (its client is in client_id), and its token_use is "access".
    access = pool.tokens("carl")["AccessToken"]
    with pytest.raises(InvalidToken):
        pool.verifier().verify(access)


def test_a_tampered_payload_fails_the_signature(pool):
    header, payload, signature = pool.id_token("carl").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["cognito:groups"] = ["experts"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken, match="rejected"):
        pool.verifier().verify(f"{header}.{forged}.{signature}")


def test_an_unsigned_token_is_rejected(pool):
    header = base64.urlsafe_b64encode(b'{"alg":"none","kid":"dummy"}').rstrip(b"=").decode()
    _, payload, _ = pool.id_token("carl").split(".")
    with pytest.raises(InvalidToken, match="RS256"):
        pool.verifier().verify(f"{header}.{payload}.")


@pytest.mark.parametrize("garbage", ["", "not-a-jwt", "a.b.c"])
def test_garbage_is_rejected(pool, garbage):
    with pytest.raises(InvalidToken):
        pool.verifier().verify(garbage)


def test_an_unknown_key_refetches_at_most_once_a_minute(pool):
    fetches: list[str] = []
    now = [1000.0]

    rotated = pool_keys(pool)
    for key in rotated["keys"]:
        key["kid"] = "rotated-" + key["kid"]

    def fetch(url):
        fetches.append(url)
        return rotated  # the pool now signs with other keys than the one the token names

    verifier = IdTokenVerifier(issuer=pool.issuer, audiences=[pool.client_id], fetch=fetch, clock=lambda: now[0])
    token = pool.id_token("carl")
    for _ in range(3):
        with pytest.raises(InvalidToken, match="key the user pool does not have"):
            verifier.verify(token)
    assert fetches == [pool.issuer + "/.well-known/jwks.json"]
    now[0] += 61
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    assert len(fetches) == 2


def test_unreachable_keys_reject_the_token(pool):
    def fetch(url):
        raise OSError("network down")

    verifier = IdTokenVerifier(issuer=pool.issuer, audiences=[pool.client_id], fetch=fetch)
    with pytest.raises(InvalidToken, match="could not be read"):
        verifier.verify(pool.id_token("carl"))


def pool_keys(pool):
    from testing.cognito import fetch_json

    return fetch_json(pool.issuer + "/.well-known/jwks.json")
