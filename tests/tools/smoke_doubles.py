"""A deployed Tandem as tools/smoke sees it, in one test process (tests/tools/test_smoke.py).

moto serves DynamoDB (the sessions table from the synthesized template, with its stream), S3 (the versioned
transcripts bucket), Step Functions and SNS. moto's Cognito and CloudFormation need packages this project does
not install, so those two, and Bedrock's control plane, are botocore Stubbers answering in the documented
shapes:

- `Stacks`: DescribeStacks answered with the synthesized templates' own outputs (keys and export names), so
  the smoke test reads the outputs the stacks really declare;
- `StubbedPool`: the customer user pool: the calls of a sign-in, with or without the MFA set-up Cognito asks
  for when the pool requires MFA; it keeps every secret it handed out or was sent (`secrets`);
- `ChatThroughHandler`: API Gateway in front of the real chatbot handler (tests/events/chat_request.json):
  the Cognito authorizer puts the claims of a token the pool issued into the event, and answers 401 to any
  other token;
- `FakeClock`: time moves only on sleep; each sleep first lets the outbox (the real stream consumer behind a
  StreamPoller) deliver what the table's stream holds, as the deployed outbox would meanwhile.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from botocore.stub import ANY
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from lambdas.chatbot import handler as chatbot_handler
from local.lambda_context import lambda_context
from local.templates import synthesized
from testing.moto_aws import MotoAws
from tools.smoke.chat import CHAT_PATH, ChatResponse
from tools.smoke.report import Hidden

EVENTS = Path(__file__).resolve().parents[1] / "events"
REGION = "us-east-1"
POOL_ID = "us-east-1_SmOkE7test"
CLIENT_ID = "5smoke4client3id2public1"
CHAT_URL = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod/chat"
START = 1_795_000_000.0  # the wall clock when a test starts
TOTP_KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # base32, as AssociateSoftwareToken returns it


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(claims: dict[str, Any]) -> str:
    """A token shaped as Cognito's ID tokens are (header.claims.signature); the signature is random."""
    header = {"kid": "smoke-test-key", "alg": "RS256"}
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(claims).encode()), b64(secrets.token_bytes(64))))


def token_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def oracle_totp(key: str, at: float) -> str:
    """The code an independent RFC 6238 implementation (cryptography's) gives: what Cognito expects."""
    return TOTP(base64.b32decode(key), 6, SHA1(), 30, enforce_key_length=False).generate(int(at)).decode()


# Time ----------------------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self, start: float = START, on_sleep: Callable[[], None] | None = None):
        self.start = start
        self.elapsed = 0.0
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def now(self) -> float:
        return self.start + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        if self.on_sleep is not None:
            self.on_sleep()
        self.slept.append(seconds)
        self.elapsed += seconds


# CloudFormation ------------------------------------------------------------------------------------------

def stack_description(stack: str, values: dict[str, str], status: str = "UPDATE_COMPLETE") -> dict[str, Any]:
    """DescribeStacks' entry for a stack: every output its synthesized template declares, valued from
    `values` (by output key or export name; "unused-<key>" otherwise)."""
    declared = synthesized().templates[stack].get("Outputs", {})
    names = set(declared) | {o["Export"]["Name"] for o in declared.values() if "Export" in o}
    assert set(values) <= names, f"{stack} declares no output {sorted(set(values) - names)}"
    outputs = []
    for key, output in declared.items():
        export = output.get("Export", {}).get("Name")
        entry = {"OutputKey": key, "OutputValue": values.get(key) or values.get(export or "") or f"unused-{key}"}
        if export:
            entry["ExportName"] = export
        outputs.append(entry)
    return {"StackName": stack, "StackStatus": status, "Outputs": outputs,
            "CreationTime": datetime(2026, 11, 1, tzinfo=timezone.utc)}


class Stacks:
    def __init__(self, aws: MotoAws):
        self.stubber = aws.stub("cloudformation")
        self.client = self.stubber.client

    def will_describe(self, deployed: dict[str, dict[str, str]], *, missing: tuple[str, ...] = (),
                      status: dict[str, str] | None = None) -> None:
        for stack in ("TandemChatbot", "TandemEscalation", "TandemData"):  # the order the smoke test reads them
            if stack in missing:
                self.stubber.add_client_error(
                    "describe_stacks", service_error_code="ValidationError", http_status_code=400,
                    service_message=f"Stack with id {stack} does not exist", expected_params={"StackName": stack})
            else:
                self.stubber.add_response(
                    "describe_stacks", {"Stacks": [stack_description(stack, deployed[stack],
                                                                     (status or {}).get(stack, "UPDATE_COMPLETE"))]},
                    {"StackName": stack})


# Cognito -------------------------------------------------------------------------------------------------

class StubbedPool:
    """The customer user pool (POOL_ID, public client CLIENT_ID) behind a Stubber; records every call."""

    def __init__(self, aws: MotoAws):
        self.stubber = aws.stub("cognito-idp")
        self.client = self.stubber.client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.secrets: list[str] = []
        self.sub = "0e5b3c1d-7777-4a5b-9c2d-0123456789ab"
        service = self.client.meta.service_model.service_id.hyphenize()
        self.client.meta.events.register(f"provide-client-params.{service}", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, dict(params)))
        for name, value in (*params.items(), *(params.get("AuthParameters") or {}).items(),
                            *(params.get("ChallengeResponses") or {}).items()):
            if name in ("Password", "PASSWORD", "UserCode", "Session", "SOFTWARE_TOKEN_MFA_CODE"):
                self.secrets.append(value)

    def usernames(self, operation: str) -> list[str]:
        return [p.get("Username") or p.get("AuthParameters", {}).get("USERNAME")
                for name, p in self.calls if name == operation]

    def _tokens(self) -> dict[str, Any]:
        claims = {"sub": self.sub, "token_use": "id", "aud": CLIENT_ID, "email_verified": True,
                  "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"}
        result = {"IdToken": id_token(claims), "AccessToken": id_token({**claims, "token_use": "access"}),
                  "RefreshToken": b64(secrets.token_bytes(96)), "ExpiresIn": 3600, "TokenType": "Bearer"}
        self.secrets += [result["IdToken"], result["AccessToken"], result["RefreshToken"]]
        self.id_token = result["IdToken"]
        return result

    def _session(self) -> str:
        session = b64(secrets.token_bytes(48))
        self.secrets.append(session)
        return session

    def will_create_user(self) -> None:
        self.stubber.add_response("admin_create_user", {"User": {
            "Username": self.sub, "Enabled": True, "UserStatus": "FORCE_CHANGE_PASSWORD",
            "Attributes": [{"Name": "sub", "Value": self.sub}]}}, {
            "UserPoolId": POOL_ID, "Username": ANY, "MessageAction": "SUPPRESS", "UserAttributes": ANY})
        self.stubber.add_response("admin_set_user_password", {}, {
            "UserPoolId": POOL_ID, "Username": ANY, "Password": ANY, "Permanent": True})

    def will_sign_in(self, *, mfa_required: bool = False, clock: FakeClock | None = None,
                     mfa_after_setup: bool = False) -> None:
        """Creation and USER_PASSWORD_AUTH; with `mfa_required`, the MFA set-up Cognito asks for first, checked
        against codes of the oracle at the clock's time (and a SOFTWARE_TOKEN_MFA challenge after it, answered
        in the next 30-second step, with `mfa_after_setup`)."""
        self.will_create_user()
        auth = {"ClientId": CLIENT_ID, "AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": ANY}
        if not mfa_required:
            self.stubber.add_response("initiate_auth", {"AuthenticationResult": self._tokens()}, auth)
            return
        assert clock is not None
        first, second, third = self._session(), self._session(), self._session()
        self.secrets.append(TOTP_KEY)
        self.stubber.add_response("initiate_auth", {
            "ChallengeName": "MFA_SETUP", "Session": first,
            "ChallengeParameters": {"MFAS_CAN_SETUP": '["SOFTWARE_TOKEN_MFA"]', "USER_ID_FOR_SRP": self.sub}}, auth)
        self.stubber.add_response("associate_software_token", {"SecretCode": TOTP_KEY, "Session": second},
                                  {"Session": first})
        setup_code = oracle_totp(TOTP_KEY, clock.now())
        self.secrets.append(setup_code)
        self.stubber.add_response("verify_software_token", {"Status": "SUCCESS", "Session": third}, {
            "Session": second, "UserCode": setup_code, "FriendlyDeviceName": ANY})
        setup_answer = {"ClientId": CLIENT_ID, "ChallengeName": "MFA_SETUP", "Session": third,
                        "ChallengeResponses": {"USERNAME": self.sub}}
        if not mfa_after_setup:
            self.stubber.add_response("respond_to_auth_challenge", {"AuthenticationResult": self._tokens()},
                                      setup_answer)
            return
        fourth = self._session()
        self.stubber.add_response("respond_to_auth_challenge", {
            "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": fourth, "ChallengeParameters": {}}, setup_answer)
        next_code = oracle_totp(TOTP_KEY, (clock.now() // 30 + 1) * 30)  # each code is taken once
        self.secrets.append(next_code)
        self.stubber.add_response("respond_to_auth_challenge", {"AuthenticationResult": self._tokens()}, {
            "ClientId": CLIENT_ID, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": fourth,
            "ChallengeResponses": {"USERNAME": self.sub, "SOFTWARE_TOKEN_MFA_CODE": next_code}})

    def will_delete_user(self) -> None:
        self.stubber.add_response("admin_delete_user", {}, {"UserPoolId": POOL_ID, "Username": ANY})


# The chat API --------------------------------------------------------------------------------------------

class ChatThroughHandler:
    """POST /chat as API Gateway delivers it to the chatbot: the authorizer, then the proxy event."""

    def __init__(self, pool: StubbedPool, chat_url: str = CHAT_URL,
                 after: Callable[[dict[str, Any]], None] | None = None):
        assert chat_url == CHAT_URL, chat_url  # the smoke test calls the URL the stack output gave
        self.pool = pool
        self.after = after  # sees each answer before the smoke test does
        self.context = lambda_context("tandem-chatbot")
        self.requests: list[dict[str, Any]] = []

    def post(self, path: str, token: Hidden, body: dict[str, Any]) -> ChatResponse:
        assert path == CHAT_PATH
        self.requests.append(body)
        if token.reveal() != getattr(self.pool, "id_token", None):  # the Cognito authorizer
            return ChatResponse(status=401, body={"message": "Unauthorized"}, text='{"message":"Unauthorized"}')
        claims = token_claims(token.reveal())
        event = json.loads((EVENTS / "chat_request.json").read_text())
        event["headers"]["Authorization"] = token.reveal()
        event["requestContext"]["authorizer"]["claims"].update(sub=claims["sub"], **{"cognito:username": claims["sub"]})
        event["body"] = json.dumps(body)
        result = chatbot_handler.handler(event, self.context)
        text = result["body"]
        if self.after is not None:
            self.after(json.loads(text))
        return ChatResponse(status=result["statusCode"], body=json.loads(text), text=text)
