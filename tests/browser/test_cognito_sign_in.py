"""The deployed sign-in (web/assets/cognito-auth.js) in Chromium: authorization code with PKCE against
Cognito's managed login.

web/ is served by a small local server with a cognito config.json and the policy CloudFront sends
(stacks/web_stack.py). Cognito's managed login and the Chat API are simulated with Playwright routes: the
simulated /oauth2/authorize sends the browser back with a code, /oauth2/token answers as Cognito documents
it (ID, access and refresh tokens) with ID tokens whose signature is fake (the page never verifies one; the
API does), /logout sends the browser back to the page it names.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from stacks.web_stack import content_security_policy
from testing.waiting import wait_for
from tests.browser.pages import watch

WEB = Path(__file__).resolve().parents[2] / "web"
REGION = "eu-west-1"
SIGN_IN_HOST = f"tandem-test.auth.{REGION}.amazoncognito.com"
SIGN_IN = f"https://{SIGN_IN_HOST}"
CLIENT_ID = "4example0client0id0abcdefg"
EMAIL = "customer@example.com"
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636's code_verifier


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_token(*, now: int, lifetime_s: int = 3600, groups: list[str] | None = None) -> str:
    """An ID token shaped as Cognito issues them (claims from AWS's "Understanding the identity token"); the
    signature is not a real one."""
    claims = {"sub": str(uuid.uuid4()), "email": EMAIL, "email_verified": True, "aud": CLIENT_ID,
              "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Example", "token_use": "id",
              "auth_time": now, "iat": now, "exp": now + lifetime_s, "cognito:username": str(uuid.uuid4()),
              **({"cognito:groups": groups} if groups else {})}
    header = {"kid": "example", "alg": "RS256"}
    return ".".join([b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()), b64url(b"signature")])


# The site: web/ with a cognito config.json, as CloudFront serves it --------------------------------------------

class Site(ThreadingHTTPServer):
    config: dict[str, Any]


class Handler(SimpleHTTPRequestHandler):
    server: Site

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, directory=str(WEB), **kwargs)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/config.json":
            body = json.dumps(self.server.config).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if path == "/":
            self.path = "/index.html"
        super().do_GET()

    def end_headers(self) -> None:
        # The headers of the distribution's response headers policy, the CSP as WebStack writes it.
        self.send_header("Content-Security-Policy", content_security_policy(region=REGION, sign_in_host=SIGN_IN_HOST))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = Site(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    server.config = {
        "auth": {"kind": "cognito", "domain": SIGN_IN, "clientId": CLIENT_ID, "userPoolId": f"{REGION}_Example",
                 "region": REGION},
        "region": REGION, "chatApiUrl": f"{base}/prod/", "maxMessageChars": 4000, "pollIntervalMs": 1500,
        "model": {"id": "global.anthropic.claude-haiku-4-5-20251001-v1:0", "standIn": False},
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    server.server_close()


# Cognito's managed login and the Chat API, simulated ---------------------------------------------------------

@dataclass
class SimulatedCognito:
    """What the page asked of the managed login, and how the token endpoint answers."""

    authorize: list[dict[str, str]] = field(default_factory=list)
    token: list[dict[str, str]] = field(default_factory=list)
    logout: list[dict[str, str]] = field(default_factory=list)
    revoke: list[dict[str, str]] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # code -> the code_challenge it was issued for
    id_tokens: list[str] = field(default_factory=list)  # issued, in order
    refused_refresh: bool = False
    lifetime_s: int = 3600  # of the ID tokens it issues: an app client's setting, 5 minutes to 1 day
    state_back: str | None = None  # a state to send back instead of the one asked with
    clock_offset_s: int = 0  # how far the page's clock was moved forward (page.clock.fast_forward)

    def handle(self, route: Route) -> None:
        request = route.request
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/oauth2/authorize":
            self.authorize.append(query)
            code = str(uuid.uuid4())
            self.codes[code] = query["code_challenge"]
            back = urlencode({"code": code, "state": self.state_back or query["state"]})
            route.fulfill(status=302, headers={"Location": f"{query['redirect_uri']}?{back}"})
        elif url.path == "/oauth2/token":
            form = {k: v[0] for k, v in parse_qs(request.post_data or "").items()}
            self.token.append(form)
            self.answer_token(route, form)
        elif url.path == "/oauth2/revoke":
            self.revoke.append({k: v[0] for k, v in parse_qs(request.post_data or "").items()})
            route.fulfill(status=200, headers={"Access-Control-Allow-Origin": "*"}, body="")
        elif url.path == "/logout":
            self.logout.append(query)
            route.fulfill(status=302, headers={"Location": query["logout_uri"]})
        else:
            route.fulfill(status=404, body="")

    def answer_token(self, route: Route, form: dict[str, str]) -> None:
        cors = {"Access-Control-Allow-Origin": "*", "Content-Type": "application/json"}
        if form.get("grant_type") == "refresh_token" and self.refused_refresh:
            route.fulfill(status=400, headers=cors, body=json.dumps({"error": "invalid_grant"}))
            return
        if form.get("grant_type") == "authorization_code":
            challenge = self.codes.pop(form.get("code", ""), None)
            # What Cognito checks: the verifier hashes to the challenge the code was issued for.
            if challenge is None or b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest()) != challenge:
                route.fulfill(status=400, headers=cors, body=json.dumps({"error": "invalid_grant"}))
                return
        token = id_token(now=int(time.time()) + self.clock_offset_s, lifetime_s=self.lifetime_s, groups=["experts"])
        self.id_tokens.append(token)
        body = {"id_token": token, "access_token": f"access-{len(self.id_tokens)}", "expires_in": self.lifetime_s,
                "token_type": "Bearer"}
        if form.get("grant_type") == "authorization_code":
            body["refresh_token"] = "refresh-1"
        route.fulfill(status=200, headers=cors, body=json.dumps(body))


@dataclass
class SimulatedChatApi:
    authorizations: list[str | None] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        request = route.request
        self.authorizations.append(request.headers.get("authorization"))
        if request.method == "POST":
            body = {"session_id": str(uuid.uuid4()), "turn_id": str(uuid.uuid4()), "reply": "Restart the router.",
                    "escalated": False, "sources": []}
        else:
            body = {"session_id": "x", "messages": [], "expert_active": False, "closed": False}
        route.fulfill(status=200, headers={"Content-Type": "application/json"}, body=json.dumps(body))


@pytest.fixture
def cognito(page: Page) -> SimulatedCognito:
    simulated = SimulatedCognito()
    page.route(f"{SIGN_IN}/**", simulated.handle)
    return simulated


@pytest.fixture
def chat_api(page: Page, site: str) -> SimulatedChatApi:
    simulated = SimulatedChatApi()
    page.route(f"{site}/prod/**", simulated.handle)
    return simulated


def sign_in(page: Page, site: str) -> None:
    page.goto(f"{site}/")
    button = page.get_by_role("button", name="Sign in")
    expect(button).to_be_visible()
    expect(page.get_by_label("Your name")).to_be_hidden()  # the managed login asks, not the page
    button.click()
    expect(page.locator("#signed-in-name")).to_have_text(EMAIL)


# The journeys -----------------------------------------------------------------------------------------------

def test_sign_in_with_pkce_call_the_api_and_sign_out(page: Page, site: str, cognito: SimulatedCognito,
                                                     chat_api: SimulatedChatApi, shots: Any) -> None:
    problems = watch(page)
    sign_in(page, site)
    shots(page, "signed in")

    (asked,) = cognito.authorize
    assert {k: asked[k] for k in ("response_type", "client_id", "redirect_uri", "scope", "code_challenge_method")} == {
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": f"{site}/", "scope": "openid email profile",
        "code_challenge_method": "S256"}
    (exchange,) = cognito.token
    assert exchange["grant_type"] == "authorization_code" and exchange["client_id"] == CLIENT_ID
    assert exchange["redirect_uri"] == f"{site}/"
    assert VERIFIER.fullmatch(exchange["code_verifier"])
    assert b64url(hashlib.sha256(exchange["code_verifier"].encode()).digest()) == asked["code_challenge"]
    assert len(asked["state"]) >= 16
    assert page.url == f"{site}/"  # the code and state are out of the address bar
    stored = page.evaluate("JSON.stringify(sessionStorage)")
    assert exchange["code_verifier"] not in stored  # used once, then forgotten

    page.get_by_label("Your message").fill("How do I set up my router?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".turn-bot .turn-text")).to_have_text("Restart the router.")
    assert chat_api.authorizations and set(chat_api.authorizations) == {cognito.id_tokens[-1]}

    # What other pages read from the provider: the raw ID token and its groups.
    seen = page.evaluate("""async ([domain, clientId]) => {
        const { CognitoAuth } = await import("/assets/cognito-auth.js");
        const auth = new CognitoAuth({ auth: { kind: "cognito", domain, clientId } });
        return { idToken: auth.idToken(), groups: auth.groups(), headers: auth.headers() };
    }""", [SIGN_IN, CLIENT_ID])
    assert seen == {"idToken": cognito.id_tokens[-1], "groups": ["experts"],
                    "headers": {"Authorization": cognito.id_tokens[-1]}}

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    (logout,) = cognito.logout
    assert logout == {"client_id": CLIENT_ID, "logout_uri": f"{site}/"}
    assert cognito.revoke == [{"token": "refresh-1", "client_id": CLIENT_ID}]
    assert "tandem.cognito.tokens" not in page.evaluate("Object.keys(sessionStorage)")
    shots(page, "signed out")
    assert problems == []


def test_an_answer_for_another_sign_in_is_not_used(page: Page, site: str, cognito: SimulatedCognito) -> None:
    problems = watch(page)
    page.goto(f"{site}/?code=stolen-code&state=forged")
    expect(page.locator("#sign-in-error")).to_contain_text("does not belong to a sign-in started in this tab")
    assert cognito.token == []
    assert page.url == f"{site}/"
    assert problems == []


def test_an_answer_with_another_state_is_not_used(page: Page, site: str, cognito: SimulatedCognito) -> None:
    cognito.state_back = "not-the-one-asked-with"
    page.goto(f"{site}/")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("does not belong to a sign-in started in this tab")
    assert len(cognito.authorize) == 1 and cognito.token == []


def test_a_refused_sign_in_says_why(page: Page, site: str, cognito: SimulatedCognito) -> None:
    page.goto(f"{site}/?error=access_denied&error_description=User+is+disabled.&state=x")
    expect(page.locator("#sign-in-error")).to_have_text("Sign-in did not finish (User is disabled.). Sign in again.")
    assert page.url == f"{site}/"


# The page's clock is Playwright's: moved 56 minutes on, the hour-long ID token has four minutes left.
HOUR_LATER = 56 * 60


def test_tokens_are_renewed_before_they_expire(page: Page, site: str, cognito: SimulatedCognito,
                                               chat_api: SimulatedChatApi) -> None:
    page.clock.install()
    sign_in(page, site)
    assert len(cognito.token) == 1  # not renewed while it has long to live
    cognito.clock_offset_s = HOUR_LATER
    page.clock.fast_forward(HOUR_LATER * 1000)
    # Each page.evaluate lets Playwright answer the page's requests in between (the routes run then).
    wait_for(lambda: "access-2" in page.evaluate("sessionStorage.getItem('tandem.cognito.tokens')"),
             what="the renewed tokens", timeout=15)
    assert cognito.token[1] == {"client_id": CLIENT_ID, "grant_type": "refresh_token", "refresh_token": "refresh-1"}
    page.get_by_label("Your message").fill("Still there?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".turn-bot .turn-text")).to_have_text("Restart the router.")
    assert chat_api.authorizations[-1] == cognito.id_tokens[1]
    assert len(cognito.token) == 2  # the new token is not renewed at once


def test_a_refused_renewal_signs_out_and_says_so(page: Page, site: str, cognito: SimulatedCognito) -> None:
    page.clock.install()
    cognito.refused_refresh = True
    sign_in(page, site)
    page.clock.fast_forward(HOUR_LATER * 1000)
    expect(page.locator("#sign-in-error")).to_have_text(
        "Your sign-in has ended (the sign-in service refused it (invalid_grant)). Sign in again.")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert [form["grant_type"] for form in cognito.token] == ["authorization_code", "refresh_token"]


def test_short_lived_tokens_are_renewed_once_a_third_before_expiry(page: Page, site: str,
                                                                   cognito: SimulatedCognito) -> None:
    cognito.lifetime_s = 300  # the shortest ID token validity Cognito allows
    page.clock.install()
    sign_in(page, site)
    page.clock.fast_forward(150_000)
    page.get_by_role("button", name="Sign out").wait_for()  # a round trip: the page had its chance to ask
    assert len(cognito.token) == 1  # not renewed as soon as it arrived
    cognito.clock_offset_s = 210
    page.clock.fast_forward(60_000)  # 210 s in: a third of its life left
    wait_for(lambda: "access-2" in page.evaluate("sessionStorage.getItem('tandem.cognito.tokens')"),
             what="the renewed tokens", timeout=15)
    page.get_by_role("button", name="Sign out").wait_for()
    assert len(cognito.token) == 2
