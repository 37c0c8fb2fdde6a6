// Tandem's customer sign-in: where the chat gets its configuration and who the customer is.
//
// `loadConfig()` reads /config.json (the local demo serves it; deployed, the web stack writes the same file).
// `createAuth(config, options)` picks the sign-in provider config.auth.kind names; `options.groups` names the
// user pool groups the page needs (the experts' inbox: ["experts"]). Every provider has one shape:
//
//   provider.user()                the signed-in customer's display name, or null
//   provider.mount(ui, onChange)   shows the provider's sign-in UI; onChange(user) after sign-in or sign-out
//   provider.signOut()             forgets the customer (then onChange(null))
//   provider.headers()             the headers that authenticate a Chat API request
//
// "local" is the demo's stand-in for Cognito (local/gateway.py LocalSignIn): a name, no password, kept in
// sessionStorage, sent in the configured header; the groups a page signs in with go in config.auth.groupsHeader
// (deployed, they are the ID token's own claim), and each set of groups keeps its own signed-in name, so the
// customer and the expert of one browser tab stay apart. "cognito" is the deployed sign-in, not in this build yet.
// Nothing here touches markup as HTML: names are set with textContent.

const LOCAL_USER_KEY = "tandem.localUser";
// What local/gateway.py LocalSignIn accepts as a name.
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

class LocalAuth {
  constructor(config, options = {}) {
    this.kind = "local";
    this.header = config.auth.header || "X-Tandem-Local-User";
    this.groupsHeader = config.auth.groupsHeader || "X-Tandem-Local-Groups";
    this.groups = Array.isArray(options.groups) ? options.groups.map(String) : [];
    this.key = this.groups.length ? `${LOCAL_USER_KEY}.${this.groups.join(",")}` : LOCAL_USER_KEY;
    this.note = config.auth.note || "";
    this.onChange = () => {};
  }

  user() {
    const name = sessionStorage.getItem(this.key);
    return name && LOCAL_NAME.test(name) ? name : null;
  }

  headers() {
    const name = this.user();
    if (!name) return {};
    return this.groups.length ? { [this.header]: name, [this.groupsHeader]: this.groups.join(",") }
      : { [this.header]: name };
  }

  // ui: {form, input, error, note}: the sign-in form of index.html.
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
    sessionStorage.setItem(this.key, name);
    this.showError("");
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
    sessionStorage.removeItem(this.key);
    this.onChange(null);
  }
}

// Amazon Cognito (deployed) ---------------------------------------------------------------------------
// The deployed sign-in goes here: the hosted UI's redirect, the tokens, and an Authorization header with
// the ID token (the Chat API's Cognito authorizer reads it). Not part of this build.

class CognitoAuth {
  constructor() {
    this.kind = "cognito";
    throw new Error("Cognito sign-in is not configured in this build");
  }
}

const PROVIDERS = { local: LocalAuth, cognito: CognitoAuth };

export function createAuth(config, options = {}) {
  const Provider = PROVIDERS[config.auth.kind];
  if (!Provider) throw new Error(`Unknown sign-in kind "${config.auth.kind}"`);
  return new Provider(config, options);
}
