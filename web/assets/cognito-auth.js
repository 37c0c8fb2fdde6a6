// Tandem's deployed sign-in: Amazon Cognito managed login, authorization code grant with PKCE (RFC 7636).
// The pool's web client is public (a browser keeps no secret), so the code is bound to this tab by a
// one-time code_verifier that never leaves it until the code is exchanged. auth.js picks this provider when
// config.auth.kind is "cognito"; config.auth has `domain` (https://<prefix>.auth.<region>.amazoncognito.com)
// and `clientId` (stacks/web_stack.py writes both to /config.json).
//
// 1. signIn(): a random code_verifier and state are kept in sessionStorage, and the browser goes to
//    {domain}/oauth2/authorize with code_challenge = base64url(SHA-256(code_verifier)), method S256.
// 2. Cognito sends the browser back to the same page with ?code=&state= (or ?error=). mount() takes them out
//    of the address bar at once (history.replaceState), checks the state against the one kept, and sends the
//    code with the verifier to {domain}/oauth2/token.
// 3. The tokens are kept in sessionStorage: this tab only, gone when it closes. Before the ID token expires
//    the refresh token gets new ones; when that fails the person signs in again.
// 4. signOut(): the tokens are forgotten, the refresh token revoked, and {domain}/logout ends the managed
//    login session and comes back to this page.
//
// The ID token's claims are read for display only (the name, the groups): every API verifies the token.
// Every text shown goes in with textContent.

const PENDING_KEY = "tandem.cognito.pending"; // {state, verifier, redirectUri} of the sign-in under way
const TOKENS_KEY = "tandem.cognito.tokens"; // {idToken, accessToken, refreshToken}
const SCOPES = "openid email profile";
const CALLBACK_PARAMETERS = ["code", "state", "error", "error_description", "error_uri"];
const EXPIRY_MARGIN_MS = 30_000; // a token this close to its expiry is not sent (clocks differ, requests take time)
const REFRESH_BEFORE_MS = 5 * 60_000; // renewed this long before the ID token expires (or a third of its life)
const RETRY_REFRESH_MS = 60_000; // a renewal that could not reach Cognito is tried again while the token lasts
const TOKEN_TIMEOUT_MS = 15_000;
const MAX_TIMER_MS = 2_147_483_647; // setTimeout's limit
const CLIENT_ID = /^[A-Za-z0-9]{1,128}$/;

class SignInError extends Error {}

// PKCE and token helpers --------------------------------------------------------------------------------

function base64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(byteCount) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

async function codeChallenge(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

// A JWT's payload (its claims), not verified: for display only.
export function claimsOf(token) {
  const part = typeof token === "string" ? token.split(".")[1] : "";
  if (!part) return null;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" && !Array.isArray(claims) ? claims : null;
  } catch (error) {
    return null;
  }
}

function expiresAt(claims) {
  return claims && Number.isFinite(claims.exp) ? claims.exp * 1000 : 0;
}

// When to renew: five minutes before the expiry, or a third of a shorter token's life before it (a pool may
// issue ID tokens valid for five minutes only: they must not be renewed as soon as they arrive).
function renewalAt(claims) {
  const expiry = expiresAt(claims);
  const life = claims && Number.isFinite(claims.iat) ? expiry - claims.iat * 1000 : Infinity;
  return expiry - Math.min(REFRESH_BEFORE_MS, life / 3);
}

function readJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch (error) {
    return null;
  }
}

// The address the sign-in returns to: this page's, as the pool client lists it ("/", "/inbox").
function pageUrl() {
  let path = window.location.pathname.replace(/\.html$/, "").replace(/\/+$/, "");
  if (path === "" || path === "/index") path = "/";
  return `${window.location.origin}${path}`;
}

// What Cognito put in the address bar on its way back, taken out of it (a reload must not send the code
// again, and a code has no business in the history or a bookmark).
function takeCallback() {
  const url = new URL(window.location.href);
  if (!url.searchParams.has("code") && !url.searchParams.has("error")) return null;
  const callback = {
    code: url.searchParams.get("code"),
    state: url.searchParams.get("state"),
    error: url.searchParams.get("error"),
    description: url.searchParams.get("error_description"),
  };
  for (const name of CALLBACK_PARAMETERS) url.searchParams.delete(name);
  window.history.replaceState(window.history.state, "", `${url.pathname}${url.search}${url.hash}`);
  return callback;
}

function httpsOrigin(value) {
  try {
    const url = new URL(value);
    if (url.protocol === "https:" && url.pathname === "/" && !url.search) return url.origin;
  } catch (error) {
    // not a URL: said below
  }
  throw new Error("the settings' auth.domain is not the https address of a sign-in domain");
}

// What a sign-in offers once it holds an ID token (`idToken()`): the person's groups and the APIs' header.
export class IdTokenHolder {
  // The person's Cognito groups ("experts", "raters"), as the ID token says: for display only.
  groups() {
    const claims = claimsOf(this.idToken());
    const groups = claims ? claims["cognito:groups"] : null;
    return Array.isArray(groups) ? groups.filter((group) => typeof group === "string") : [];
  }

  headers() {
    const token = this.idToken();
    return token ? { Authorization: token } : {};
  }
}

// The provider -------------------------------------------------------------------------------------------

export class CognitoAuth extends IdTokenHolder {
  constructor(config) {
    super();
    this.kind = "cognito";
    this.domain = httpsOrigin(config.auth.domain);
    if (typeof config.auth.clientId !== "string" || !CLIENT_ID.test(config.auth.clientId)) {
      throw new Error("the settings' auth.clientId is not an app client id");
    }
    this.clientId = config.auth.clientId;
    this.note = typeof config.auth.note === "string" ? config.auth.note : "";
    this.onChange = () => {};
    this.ui = null;
    this.shown = null; // the user the page was last told about
    this.timer = null;
    this.renewing = null;
  }

  tokens() {
    const tokens = readJson(TOKENS_KEY);
    return tokens && typeof tokens.idToken === "string" ? tokens : null;
  }

  // The ID token while it is valid, else null.
  idToken() {
    const tokens = this.tokens();
    if (!tokens) return null;
    return expiresAt(claimsOf(tokens.idToken)) - EXPIRY_MARGIN_MS > Date.now() ? tokens.idToken : null;
  }

  claims() {
    const token = this.idToken();
    return token ? claimsOf(token) : null;
  }

  user() {
    const claims = this.claims();
    if (!claims) return null;
    for (const name of ["email", "cognito:username", "sub"]) {
      if (typeof claims[name] === "string" && claims[name]) return claims[name];
    }
    return null;
  }

  // ui: {form, input, error, note}: the sign-in form of the page. The managed login asks for the name and
  // password, so the form's own field is hidden and its button starts the sign-in.
  mount(ui, onChange) {
    this.ui = ui;
    this.onChange = onChange;
    const described = (ui.input.getAttribute("aria-describedby") || "").split(/\s+/)
      .map((id) => document.getElementById(id)).filter((node) => node && node !== ui.error);
    for (const node of [ui.input, ...ui.input.labels, ...described]) node.hidden = true;
    ui.input.disabled = true;
    ui.note.textContent = this.note;
    ui.note.hidden = !this.note;
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.signIn();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.renewIfDue();
    });
    const callback = takeCallback();
    this.shown = this.user();
    if (callback) this.finishSignIn(callback);
    else if (this.tokens()) this.renewIfDue();
  }

  async signIn() {
    this.showError("");
    const verifier = randomText(32); // 43 characters, as RFC 7636 asks at least
    const state = randomText(16);
    let challenge;
    try {
      challenge = await codeChallenge(verifier);
    } catch (error) {
      this.showError("This browser cannot sign in here: it lacks Web Crypto (use an up-to-date browser over https).");
      return;
    }
    const redirectUri = pageUrl();
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier, redirectUri }));
    const url = new URL("/oauth2/authorize", this.domain);
    url.search = new URLSearchParams({
      response_type: "code", client_id: this.clientId, redirect_uri: redirectUri, scope: SCOPES, state,
      code_challenge: challenge, code_challenge_method: "S256",
    }).toString();
    window.location.assign(url.href);
  }

  async finishSignIn({ code, state, error, description }) {
    const pending = readJson(PENDING_KEY);
    sessionStorage.removeItem(PENDING_KEY); // one answer per sign-in
    if (error) {
      this.showError(`Sign-in did not finish (${description || error}). Sign in again.`);
      return;
    }
    if (!pending || typeof pending.verifier !== "string" || !state || state !== pending.state) {
      this.showError("That sign-in answer does not belong to a sign-in started in this tab, so it was not used. "
        + "Sign in again.");
      return;
    }
    this.setBusy("Signing you in...");
    try {
      const body = await this.tokenRequest({
        grant_type: "authorization_code", code, redirect_uri: pending.redirectUri, code_verifier: pending.verifier,
      });
      this.keep(body, null);
    } catch (failure) {
      this.showError(`Sign-in did not finish: ${failure.message}. Sign in again.`);
      return;
    } finally {
      this.setBusy("");
    }
    this.scheduleRenewal();
    this.announce();
  }

  // Renews the tokens when the ID token has expired or soon will; otherwise plans the renewal.
  async renewIfDue() {
    const tokens = this.tokens();
    if (!tokens) return;
    if (renewalAt(claimsOf(tokens.idToken)) > Date.now()) {
      this.scheduleRenewal();
      return;
    }
    if (!this.renewing) this.renewing = this.renew(tokens).finally(() => { this.renewing = null; });
    await this.renewing;
  }

  async renew(tokens) {
    if (typeof tokens.refreshToken !== "string") {
      this.end("Your sign-in has ended. Sign in again.");
      return;
    }
    if (!this.shown) this.setBusy("Signing you in again...");
    try {
      const body = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: tokens.refreshToken });
      this.keep(body, tokens);
    } catch (failure) {
      // Cognito out of reach while the ID token still holds: try again later, the person stays signed in.
      if (!(failure instanceof SignInError && failure.refused) && this.idToken()) {
        this.plan(RETRY_REFRESH_MS);
        return;
      }
      this.end(`Your sign-in has ended (${failure.message}). Sign in again.`);
      return;
    } finally {
      this.setBusy("");
    }
    this.scheduleRenewal();
    this.announce();
  }

  scheduleRenewal() {
    const tokens = this.tokens();
    if (!tokens) return;
    this.plan(renewalAt(claimsOf(tokens.idToken)) - Date.now());
  }

  plan(delayMs) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.renewIfDue(), Math.min(Math.max(delayMs, 0), MAX_TIMER_MS));
  }

  async tokenRequest(parameters) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), TOKEN_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(`${this.domain}/oauth2/token`, {
        method: "POST", cache: "no-store", credentials: "omit", signal: controller.signal,
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams({ client_id: this.clientId, ...parameters }),
      });
    } catch (error) {
      throw new SignInError(controller.signal.aborted ? "the sign-in service did not answer in time"
        : "the sign-in service could not be reached");
    } finally {
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) {
      const reason = body && typeof body.error === "string" ? body.error : `HTTP ${response.status}`;
      const refused = new SignInError(`the sign-in service refused it (${reason})`);
      refused.refused = response.status >= 400 && response.status < 500;
      throw refused;
    }
    const claims = body ? claimsOf(body.id_token) : null;
    if (!claims || claims.token_use !== "id" || claims.aud !== this.clientId) {
      throw new SignInError("the sign-in service sent no ID token for this app");
    }
    return body;
  }

  // A token response kept; a refresh answers without a refresh token, so the previous one stays.
  keep(body, previous) {
    const tokens = {
      idToken: body.id_token,
      accessToken: typeof body.access_token === "string" ? body.access_token : null,
      refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : previous?.refreshToken ?? null,
    };
    sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  }

  forget() {
    clearTimeout(this.timer);
    sessionStorage.removeItem(TOKENS_KEY);
    sessionStorage.removeItem(PENDING_KEY);
  }

  // Tells the page who is signed in, when that changed.
  announce() {
    const user = this.user();
    if (user === this.shown) return;
    this.shown = user;
    this.onChange(user);
  }

  end(message) {
    this.forget();
    this.announce();
    this.showError(message);
  }

  signOut() {
    const tokens = this.tokens();
    this.forget();
    this.announce();
    if (tokens && typeof tokens.refreshToken === "string") {
      // The refresh token stops working now, not in 30 days; keepalive lets the request outlive the page.
      fetch(`${this.domain}/oauth2/revoke`, {
        method: "POST", keepalive: true, credentials: "omit",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: tokens.refreshToken, client_id: this.clientId }),
      }).catch(() => {});
    }
    const url = new URL("/logout", this.domain);
    url.search = new URLSearchParams({ client_id: this.clientId, logout_uri: pageUrl() }).toString();
    window.location.assign(url.href);
  }

  setBusy(text) {
    if (!this.ui) return;
    const button = this.ui.form.querySelector("button[type=submit]");
    if (button) button.disabled = Boolean(text);
    this.ui.form.setAttribute("aria-busy", text ? "true" : "false");
    this.ui.note.textContent = text || this.note;
    this.ui.note.hidden = !(text || this.note);
  }

  showError(message) {
    if (!this.ui) return;
    this.ui.error.textContent = message;
    this.ui.error.hidden = !message;
  }
}
