"""A throw-away customer in the deployed user pool (stacks/chatbot_stack.py `_user_pool`): created by an
administrator with no invitation mail, given a permanent password, signed in with USER_PASSWORD_AUTH on
the public client. When the pool requires MFA (cdk.json "mfa": "required"), Cognito first asks to set it up
(MFA_SETUP): a software token is associated and answered with a TOTP code computed here (RFC 6238).

The pool signs in by email, so the username is an email address on the reserved `.invalid` domain: no
mail can ever reach anyone. The password, the tokens, the TOTP key and codes are `Hidden`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import struct
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from tools.smoke.clock import Clock
from tools.smoke.report import Hidden, SmokeFailure

USERNAME_PREFIX = "tandem-smoke-"
USERNAME_DOMAIN = "example.invalid"
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
DEVICE_NAME = "tandem-smoke"
# Cognito's symbols (https://docs.aws.amazon.com/cognito/latest/developerguide/managing-users-passwords.html).
_SYMBOLS = "^$*.[]{}()?!@#%&/,><:;|_~=+-"
_MAX_CHALLENGES = 4


class SignInFailed(SmokeFailure):
    part = "sign-in"


@dataclass(frozen=True)
class SmokeUser:
    username: str
    password: Hidden


def new_username() -> str:
    return f"{USERNAME_PREFIX}{secrets.token_hex(6)}@{USERNAME_DOMAIN}"


def new_password(length: int = 32) -> Hidden:
    """Random, with every class a Cognito password policy can require (lower, upper, digit, symbol)."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _SYMBOLS)
    chars = [secrets.choice(c) for c in classes]
    chars += [secrets.choice("".join(classes)) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return Hidden("".join(chars))


def totp(secret: str, at: float, *, step: int = TOTP_STEP_SECONDS, digits: int = TOTP_DIGITS) -> str:
    """The RFC 6238 code (HMAC-SHA1, the RFC 4226 truncation) of a base32 key at a time."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(at // step)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(number % 10 ** digits).zfill(digits)


def _refusal(what: str, error: ClientError) -> SignInFailed:
    return SignInFailed(f"Cognito refused {what}: {error.response['Error'].get('Code', 'ClientError')}: "
                        f"{error.response['Error'].get('Message', '')}".rstrip(": "))


def _setup_choices(value: str) -> list[str]:
    """MFAS_CAN_SETUP, which Cognito sends as a JSON list in a string."""
    try:
        found = json.loads(value)
    except ValueError:
        found = value.split(",")
    return [str(v).strip() for v in (found if isinstance(found, list) else [found]) if str(v).strip()]


class CustomerPool:
    def __init__(self, cognito: Any, *, pool_id: str, client_id: str, clock: Clock):
        self.cognito = cognito
        self.pool_id = pool_id
        self.client_id = client_id
        self.clock = clock

    def create_user(self, username: str) -> SmokeUser:
        """An account with a permanent password and no mail sent (its address is verified: Cognito has
        nothing to send a code to)."""
        password = new_password()
        try:
            self.cognito.admin_create_user(
                UserPoolId=self.pool_id, Username=username, MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": username}, {"Name": "email_verified", "Value": "true"}])
        except ClientError as error:
            raise _refusal(f"to create the user {username} in {self.pool_id}", error) from None
        try:
            self.cognito.admin_set_user_password(UserPoolId=self.pool_id, Username=username,
                                                 Password=password.reveal(), Permanent=True)
        except ClientError as error:
            raise _refusal(f"the password of {username}", error) from None
        return SmokeUser(username=username, password=password)

    def sign_in(self, user: SmokeUser) -> tuple[Hidden, str]:
        """The user's ID token (what POST /chat's authorizer takes), and how the sign-in went."""
        try:
            response = self.cognito.initiate_auth(
                ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": user.username, "PASSWORD": user.password.reveal()})
        except ClientError as error:
            raise _refusal(f"USER_PASSWORD_AUTH on client {self.client_id}", error) from None
        how = "password, no MFA asked"
        secret: Hidden | None = None
        used_step: int | None = None
        name = user.username  # Cognito's own name for the user, once a challenge tells it
        for _ in range(_MAX_CHALLENGES):
            result = response.get("AuthenticationResult")
            if result:
                return Hidden(result["IdToken"]), how
            challenge = response.get("ChallengeName", "")
            name = response.get("ChallengeParameters", {}).get("USER_ID_FOR_SRP", name)
            if challenge == "MFA_SETUP":
                secret, used_step, response = self._set_up_totp(name, response)
                how = "password, then TOTP MFA set up"
            elif challenge == "SOFTWARE_TOKEN_MFA" and secret is not None:
                response = self._answer_totp(name, response, secret, used_step)
                how += " and answered"
            elif challenge == "SOFTWARE_TOKEN_MFA":
                raise SignInFailed("Cognito asked for a TOTP code of a token the smoke test did not set up")
            else:
                raise SignInFailed(f"Cognito asked for {challenge or 'an unnamed challenge'}, which the smoke test "
                                   "cannot answer (it sets up and answers TOTP MFA only)")
        raise SignInFailed(f"Cognito still asked for {response.get('ChallengeName')} after {_MAX_CHALLENGES} answers")

    def _set_up_totp(self, name: str, challenge: dict[str, Any]) -> tuple[Hidden, int, dict[str, Any]]:
        choices = _setup_choices(challenge.get("ChallengeParameters", {}).get("MFAS_CAN_SETUP", "[]"))
        if "SOFTWARE_TOKEN_MFA" not in choices:
            raise SignInFailed(f"the pool requires MFA set up with {', '.join(choices) or 'no factor named'}; the "
                               "smoke test can set up TOTP (software token) MFA only")
        try:
            associated = self.cognito.associate_software_token(Session=challenge["Session"])
            secret = Hidden(associated["SecretCode"])
            now = self.clock.now()
            code = Hidden(totp(secret.reveal(), now))
            verified = self.cognito.verify_software_token(Session=associated["Session"], UserCode=code.reveal(),
                                                          FriendlyDeviceName=DEVICE_NAME)
            if verified.get("Status") != "SUCCESS":
                raise SignInFailed(f"Cognito did not accept the TOTP code (status {verified.get('Status')}): is this "
                                   "machine's clock right?")
            response = self.cognito.respond_to_auth_challenge(
                ClientId=self.client_id, ChallengeName="MFA_SETUP", Session=verified["Session"],
                ChallengeResponses={"USERNAME": name})
        except ClientError as error:
            raise _refusal("the TOTP MFA set-up", error) from None
        return secret, int(now // TOTP_STEP_SECONDS), response

    def _answer_totp(self, name: str, challenge: dict[str, Any], secret: Hidden, used_step: int | None) -> dict:
        # Cognito takes each code once: wait for the next step if this one's code set the token up.
        now = self.clock.now()
        if used_step is not None and int(now // TOTP_STEP_SECONDS) <= used_step:
            self.clock.sleep((used_step + 1) * TOTP_STEP_SECONDS - now + 1)
            now = self.clock.now()
        code = Hidden(totp(secret.reveal(), now))
        try:
            return self.cognito.respond_to_auth_challenge(
                ClientId=self.client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=challenge["Session"],
                ChallengeResponses={"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": code.reveal()})
        except ClientError as error:
            raise _refusal("the TOTP code", error) from None

    def delete_user(self, username: str) -> bool:
        """False when there was no such user (it was never created, or is gone already)."""
        try:
            self.cognito.admin_delete_user(UserPoolId=self.pool_id, Username=username)
        except ClientError as error:
            if error.response["Error"]["Code"] == "UserNotFoundException":
                return False
            raise
        return True
