// Tandem's customer sign-in: where the chat gets its configuration and who the customer is.
//
// `loadConfig()` reads /config.json (the local demo serves it; deployed, the web stack writes the same file).
// `createAuth(config, options)` picks the sign-in provider config.auth.kind names; `options.groups` names the
// user pool groups the page needs (the experts' inbox: ["experts"], the raters' console: ["raters"]). Every
// provider has one shape:
//
//   provider.user()                the signed-in customer's display name, or null
//   provider.mount(ui, onChange)   shows the provider's sign-in UI; onChange(user) after sign-in or sign-out
//   provider.signOut()             forgets the customer (then onChange(null))
//   provider.headers()             the headers that authenticate an API request: {Authorization: <ID token>}
//   provider.idToken()             the Cognito ID token (the live channel offers it as a subprotocol), or null
//   provider.groups()              the user's Cognito groups (for what the page shows; the APIs decide)
//
// "local" is the demo's stand-in for Cognito (local/identity.py): a name, no password, exchanged for an ID
// token the demo signs (with the groups the page signs in with: `options.groups`, or, when the form offers a
// choice of groups, `ui.groupChoices`, those the person ticks), kept in sessionStorage; each page's
// `options.groups` keeps its own signed-in user, so the customer and the expert of one browser tab stay
// apart. "cognito" is the deployed sign-in (cognito-auth.js: managed login, authorization code with PKCE, the
// ID token in an Authorization header; the groups are the user pool's).
// Nothing here touches markup as HTML: names are set with textContent.

import { CognitoAuth, IdTokenHolder } from "./cognito-auth.js";

const LOCAL_USER_KEY = "tandem.localUser";
const LOCAL_TOKEN_KEY = "tandem.localIdToken";
// What local/identity.py accepts as a name.
const LOCAL_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export class ConfigError extends Error {}

export async function loadConfig() {
  let response;
  try {
    response = await fetch("/config.json", { cache: "no-store", headers: { Accept: "application/json" } });
  } catch (error) {
    throw new ConfigError("The chat could not load its settings (network error). Reload the page to try again.");
  }
  if (!response.ok) {
    throw new ConfigError(`The chat could not load its settings (HTTP ${response.status}). Reload the page to try again.`);
  }
  let config;
  try {
    config = await response.json();
  } catch (error) {
    throw new ConfigError("The chat's settings are not valid JSON.");
  }
  return checkConfig(config);
}

function checkConfig(config) {
  const problems = [];
  if (!config || typeof config !== "object") throw new ConfigError("The chat's settings are missing.");
  if (!config.auth || typeof config.auth.kind !== "string") problems.push("auth.kind");
  if (typeof config.chatApiUrl !== "string" || !config.chatApiUrl) problems.push("chatApiUrl");
  if (!Number.isInteger(config.maxMessageChars) || config.maxMessageChars < 1) problems.push("maxMessageChars");
  if (problems.length) throw new ConfigError(`The chat's settings lack ${problems.join(", ")}.`);
  const poll = Number(config.pollIntervalMs);
  return {
    ...config,
    pollIntervalMs: Number.isFinite(poll) && poll >= 250 ? poll : 1500,
    chatApiUrl: config.chatApiUrl.endsWith("/") ? config.chatApiUrl : `${config.chatApiUrl}/`,
    model: config.model && typeof config.model === "object" ? config.model : {},
  };
}

// Local sign-in (the demo) ------------------------------------------------------------------------------

class LocalAuth extends IdTokenHolder {
  constructor(config, options = {}) {
    super();
    this.kind = "local";
    this.signInUrl = config.auth.signInUrl || "/local/cognito/sign-in";
    this.wanted = Array.isArray(options.groups) ? options.groups.map(String) : [];
    const suffix = this.wanted.length ? `.${this.wanted.join(",")}` : "";
    this.userKey = `${LOCAL_USER_KEY}${suffix}`;
    this.tokenKey = `${LOCAL_TOKEN_KEY}${suffix}`;
    this.note = config.auth.note || "";
    this.onChange = () => {};
  }

  user() {
    const name = sessionStorage.getItem(this.userKey);
    return name && LOCAL_NAME.test(name) && this.idToken() ? name : null;
  }

  idToken() {
    return sessionStorage.getItem(this.tokenKey);
  }

  // The groups to sign in with: the page's own, or, when its form offers a choice (ui.groupChoices: checkboxes
  // whose value is a group, e.g. the raters' console's "a rater" and "a rating admin"), the ones ticked. The
  // groups the page then acts on come from the token.
  chosenGroups() {
    const boxes = Array.isArray(this.ui.groupChoices) ? this.ui.groupChoices.filter(Boolean) : [];
    if (!boxes.length) return this.wanted;
    return boxes.filter((box) => box.checked).map((box) => String(box.value));
  }

  // ui: {form, input, error, note, groupChoices?}: the sign-in form of a page.
  mount(ui, onChange) {
    this.ui = ui;
    this.onChange = onChange;
    ui.note.textContent = this.note;
    ui.note.hidden = !this.note;
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    ui.input.addEventListener("input", () => this.showError(""));
  }

  submit() {
    const name = this.ui.input.value.trim();
    if (!name) {
      this.showError("Type your name to sign in.");
      return;
    }
    if (!LOCAL_NAME.test(name)) {
      this.showError("Use up to 64 letters, digits, dots, dashes or underscores (no spaces).");
      return;
    }
    this.showError("");
    this.exchange(name);
  }

  async exchange(name) {
    let response;
    try {
      response = await fetch(this.signInUrl, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ name, groups: this.chosenGroups() }),
      });
    } catch (error) {
      this.showError("The sign-in could not be reached. Try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok || typeof body.idToken !== "string") {
      this.showError(body?.error?.message ? `Not signed in: ${body.error.message}.` : `Not signed in (HTTP ${response.status}).`);
      return;
    }
    sessionStorage.setItem(this.userKey, name);
    sessionStorage.setItem(this.tokenKey, body.idToken);
    this.onChange(name);
  }

  showError(message) {
    const { input, error } = this.ui;
    error.textContent = message;
    error.hidden = !message;
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  signOut() {
    sessionStorage.removeItem(this.userKey);
    sessionStorage.removeItem(this.tokenKey);
    this.onChange(null);
  }
}

const PROVIDERS = { local: LocalAuth, cognito: CognitoAuth };

/** How a signed-in page (the inbox, the raters' console) starts: its settings, which must name its API
 * (`apiSetting`), and its sign-in for `groups`. When either is missing, the page says why in #app-status and
 * this answers null. */
export async function startSignedInPage({ apiSetting, pageName, groups }) {
  try {
    const config = await loadConfig();
    if (typeof config[apiSetting] !== "string" || !config[apiSetting]) {
      throw new Error(`The ${pageName}'s settings lack ${apiSetting}.`);
    }
    return { config, auth: createAuth(config, { groups }) };
  } catch (error) {
    const status = document.getElementById("app-status");
    status.textContent = error.message;
    status.className = "notice error";
    return null;
  }
}

export function createAuth(config, options = {}) {
  const Provider = PROVIDERS[config.auth.kind];
  if (!Provider) throw new Error(`Unknown sign-in kind "${config.auth.kind}"`);
  return new Provider(config, options);
}
