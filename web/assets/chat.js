// Tandem's customer chat (web/index.html): the conversation, the message box, and the notices of the
// human hand-off, over the Chat API (lambdas/chatbot/handler.py):
//
//   POST {chatApiUrl}chat                      {message, session_id?} -> the reply (bot answer or hand-off)
//   GET  {chatApiUrl}chat/{id}/messages?after  -> {messages, expert_active, expert?, closed, escalation?}
//        (escalation, while one is open: {status, requested_at, accept_deadline?}, for the waiting banner;
//        an answer the customer judged carries its `feedback`: {thumb, comment, given_at})
//   POST {chatApiUrl}chat/{id}/feedback        {turn_id, thumb: "up" | "down" | null, comment?} -> {feedback}
//
// - Each of the assistant's answers has two toggle buttons (aria-pressed), "Helpful" and "Not helpful", and,
//   once one is pressed, a short comment box. Pressing the other button changes the thumb; pressing the
//   pressed one again takes it back. What the server stored is what the buttons show.
//
// - Every text from the customer, the bot, an expert or the server goes into the page with textContent;
//   nothing here parses markup (no HTML-parsing DOM property or call), and a source is a link only when it is https.
// - A conversation is kept in sessionStorage (its id, and where the hand-off stands), so a reload restores
//   it with GET messages; the sources of the bot's answers are kept there too, as GET messages has none.
// - Polling: one request at a time, every pollIntervalMs while a conversation exists; backs off on errors;
//   paused while the tab is hidden and run at once when it shows again. Sending a message cancels the poll
//   in flight, so a reply is never read from a poll before its POST has answered (a hand-off would pass
//   for an expert's notice). Turns are told apart by turn_id; the customer's own turn, which the POST
//   answer does not identify, by its text.
// - Push (web/assets/live.js): while the live channel is open, a new bot, customer or expert turn is shown as
//   it is pushed, and any other event (the hand-off, an expert joining or leaving, a closed conversation)
//   makes the page read the conversation through the API at once, which says where the hand-off stands as a
//   whole. Polling goes on slowly as a safety net, at its normal pace while the channel is down, and once at
//   once when it opens again (what was said meanwhile). Events pushed while a message is being sent wait for
//   its answer, like a poll does.
// - Where the hand-off stands (`phase`): "bot" (the assistant answers), "waiting" (an expert was called),
//   "expert" (an expert has the conversation), "closed" (the expert closed it: no more messages).

import { ApiError, Cancelled, requestJson } from "./api.js";
import { createAuth, loadConfig } from "./auth.js";
import { LiveChannel } from "./live.js";
import { showDemoParts } from "./render.js";

const ROLE_LABELS = { customer: "You", bot: "Assistant", expert: "Expert", system: "Tandem" };
const CONVERSATION_KEY = "tandem.chat.conversation";
const SOURCES_KEY = "tandem.chat.sources";
const MAX_CACHED_ANSWERS = 100; // the answers whose sources a reload can show again
const MAX_COMMENT_CHARS = 500; // lambdas/common/thumbs.py MAX_COMMENT_CHARS: the API refuses longer comments
const THUMB_TIMEOUT_MS = 10_000;
// A turn's created_at is taken before the turn is written (the customer's turn waits for the answer): each
// poll asks for the turns since the newest one seen minus this, and turn ids drop what was already shown.
const LOOKBACK_MS = 15_000;
const MAX_BACKOFF_MS = 30_000;
const POLL_TIMEOUT_MS = 10_000;
const SEND_TIMEOUT_MS = 35_000; // the API's own limit is 29 s
const FAILURES_BEFORE_STATUS = 2; // failed polls in a row before the page says it is retrying
const LIVE_POLL_MS = 30_000; // the safety-net poll while the live channel is open

// A send that failed without the API's refusal (a timeout, the network, a server error): it may have been stored.
const MAYBE_NOT_SAVED =
  "Your message may not have been saved. Check the conversation, then send it again if it is missing.";

const $ = (id) => document.getElementById(id);

// The Chat API ---------------------------------------------------------------------------------------

class ChatApi {
  constructor(config, auth) {
    this.base = config.chatApiUrl;
    this.auth = auth;
  }

  request(method, path, { body, signal, timeoutMs }) {
    return requestJson(method, this.base + path, { headers: this.auth.headers(), body, signal, timeoutMs });
  }

  send(message, sessionId) {
    const body = sessionId ? { message, session_id: sessionId } : { message };
    return this.request("POST", "chat", { body, timeoutMs: SEND_TIMEOUT_MS });
  }

  thumb(sessionId, turnId, thumb, comment) {
    const body = { turn_id: turnId, thumb };
    if (thumb && comment) body.comment = comment;
    return this.request("POST", `chat/${encodeURIComponent(sessionId)}/feedback`,
      { body, timeoutMs: THUMB_TIMEOUT_MS });
  }

  messages(sessionId, after, signal) {
    const query = after ? `?after=${encodeURIComponent(after)}` : "";
    return this.request("GET", `chat/${encodeURIComponent(sessionId)}/messages${query}`,
      { signal, timeoutMs: POLL_TIMEOUT_MS });
  }
}

// What sessionStorage keeps --------------------------------------------------------------------------

function readJson(key) {
  try {
    return JSON.parse(sessionStorage.getItem(key) || "null");
  } catch (error) {
    return null;
  }
}

function writeJson(key, value) {
  try {
    sessionStorage.setItem(key, JSON.stringify(value));
  } catch (error) {
    // Storage full or refused: the conversation goes on, a reload just cannot restore it.
  }
}

const conversationStore = {
  load(user) {
    const saved = readJson(CONVERSATION_KEY);
    if (!saved || saved.user !== user || typeof saved.sessionId !== "string") return null;
    return saved;
  },
  save(conversation) {
    if (conversation.sessionId) writeJson(CONVERSATION_KEY, conversation);
    else sessionStorage.removeItem(CONVERSATION_KEY);
  },
  clear() {
    sessionStorage.removeItem(CONVERSATION_KEY);
    sessionStorage.removeItem(SOURCES_KEY);
  },
};

const sourcesStore = {
  get(turnId) {
    const all = readJson(SOURCES_KEY) || {};
    return Array.isArray(all[turnId]) ? all[turnId] : [];
  },
  put(turnId, sources) {
    if (!turnId || !sources.length) return;
    const all = readJson(SOURCES_KEY) || {};
    all[turnId] = sources;
    const ids = Object.keys(all);
    for (const old of ids.slice(0, Math.max(0, ids.length - MAX_CACHED_ANSWERS))) delete all[old];
    writeJson(SOURCES_KEY, all);
  },
};

// Sources ------------------------------------------------------------------------------------------

function words(part) {
  let text = part;
  try {
    text = decodeURIComponent(part);
  } catch (error) {
    text = part;
  }
  text = text.replace(/\.(md|markdown|txt|html?|pdf|docx?)$/i, "").replace(/[-_+]+/g, " ").trim();
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}

// "local/knowledge/router-setup.md#connecting-your-hub" -> "Router setup: Connecting your hub"
export function readableSource(uri) {
  const [path, fragment = ""] = String(uri).split("#", 2);
  const file = path.split(/[/\\]/).filter(Boolean).pop() || path;
  const name = words(file) || String(uri);
  const section = words(fragment);
  return section ? `${name}: ${section}` : name;
}

function httpsUrl(uri) {
  try {
    const url = new URL(uri);
    return url.protocol === "https:" ? url.href : null;
  } catch (error) {
    return null;
  }
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function sourcesList(sources) {
  const box = element("div", "sources");
  box.append(element("p", "sources-title", sources.length === 1 ? "Source" : "Sources"));
  const list = element("ul", "source-list");
  for (const source of sources) {
    const uri = typeof source.uri === "string" ? source.uri : "";
    const item = element("li", "source");
    const link = httpsUrl(uri);
    if (link) {
      const anchor = element("a", "source-name", readableSource(uri));
      anchor.href = link;
      anchor.rel = "noopener noreferrer";
      item.append(anchor);
    } else {
      item.append(element("span", "source-name", readableSource(uri)));
    }
    item.append(element("code", "source-uri", uri));
    if (typeof source.excerpt === "string" && source.excerpt.trim()) {
      const details = element("details", "source-excerpt");
      details.append(element("summary", "", "Excerpt"), element("p", "source-excerpt-text", source.excerpt));
      item.append(details);
    }
    list.append(item);
  }
  box.append(list);
  return box;
}

// A customer's thumb on an answer ------------------------------------------------------------------

const THUMB_LABELS = { up: "Helpful", down: "Not helpful" };

// The buttons and the comment box under one answer. send(thumb, comment) stores a thumb (null takes it back)
// and resolves to the stored feedback ({thumb, comment} or null); the control shows what it resolves to.
class ThumbsControl {
  constructor(turnId, send) {
    this.send = send;
    this.busy = false;
    this.node = element("div", "thumbs");
    this.node.setAttribute("role", "group");
    this.node.setAttribute("aria-label", "Was this answer helpful?");
    const row = element("div", "thumbs-row");
    row.append(element("span", "thumbs-question", "Was this helpful?"));
    this.buttons = {};
    for (const thumb of ["up", "down"]) {
      const button = element("button", `secondary thumb thumb-${thumb}`);
      button.type = "button";
      button.dataset.thumb = thumb;
      button.setAttribute("aria-pressed", "false");
      const icon = element("span", "thumb-icon", thumb === "up" ? "\u{1F44D}" : "\u{1F44E}");
      icon.setAttribute("aria-hidden", "true");
      button.append(icon, document.createTextNode(` ${THUMB_LABELS[thumb]}`));
      button.addEventListener("click", () => this.press(thumb));
      this.buttons[thumb] = button;
      row.append(button);
    }
    this.form = element("form", "thumb-comment");
    this.form.noValidate = true;
    this.form.hidden = true;
    const fieldId = `thumb-comment-${turnId}`;
    const label = element("label", "", "Tell us more (optional)");
    label.htmlFor = fieldId;
    this.input = element("textarea", "thumb-comment-input");
    this.input.id = fieldId;
    this.input.rows = 2;
    this.input.maxLength = MAX_COMMENT_CHARS;
    const submit = element("button", "secondary", "Send comment");
    submit.type = "submit";
    this.form.append(label, this.input, submit);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (this.thumb) this.store(this.thumb, "Thanks, your comment was sent.");
    });
    this.status = element("p", "thumb-status");
    this.status.setAttribute("role", "status");
    this.node.append(row, this.form, this.status);
    this.show(null);
  }

  // feedback: {thumb, comment} as the server holds it, or null.
  show(feedback) {
    this.thumb = feedback && THUMB_LABELS[feedback.thumb] ? feedback.thumb : null;
    for (const [thumb, button] of Object.entries(this.buttons)) {
      button.setAttribute("aria-pressed", String(thumb === this.thumb));
    }
    this.node.dataset.thumb = this.thumb || "";
    this.form.hidden = !this.thumb;
    this.input.value = this.thumb && typeof feedback.comment === "string" ? feedback.comment : "";
  }

  press(thumb) {
    if (this.thumb === thumb) this.store(null, "Your feedback was taken back.");
    else this.store(thumb, "Thanks for your feedback.");
  }

  async store(thumb, done) {
    if (this.busy) return;
    this.busy = true;
    this.node.setAttribute("aria-busy", "true");
    try {
      const stored = await this.send(thumb, thumb ? this.input.value.trim() : "");
      this.show(stored);
      this.status.textContent = done;
      if (thumb && !stored?.comment) this.input.focus();
    } catch (error) {
      const message = error instanceof ApiError ? sentence(error.message) : "The server could not be reached.";
      this.status.textContent = `Not saved: ${message}`;
    } finally {
      this.busy = false;
      this.node.removeAttribute("aria-busy");
    }
  }
}

// The conversation view ----------------------------------------------------------------------------

class ConversationView {
  // sendThumb(turnId, thumb, comment): stores a thumb on an answer; resolves to the stored feedback or null.
  constructor(log, empty, sendThumb) {
    this.log = log;
    this.empty = empty;
    this.sendThumb = sendThumb;
  }

  clear() {
    for (const node of [...this.log.children]) if (node !== this.empty) node.remove();
    this.empty.hidden = false;
  }

  byTurnId(turnId) {
    for (const node of this.log.querySelectorAll(".turn[data-turn-id]")) {
      if (node.dataset.turnId === turnId) return node;
    }
    return null;
  }

  // A customer turn shown before the server named it (the POST answer does not), with this text.
  unidentifiedCustomerTurn(text) {
    for (const node of this.log.querySelectorAll(".turn-customer:not([data-turn-id])")) {
      if (!node.classList.contains("turn-pending") && node.dataset.text === text) return node;
    }
    return null;
  }

  identify(node, turn) {
    node.dataset.turnId = turn.turn_id;
    if (turn.created_at) node.dataset.createdAt = turn.created_at;
  }

  // turn: {turn_id?, role, text, created_at?, sources?}; before: the node to insert it in front of.
  addTurn(turn, { before = null, pending = false } = {}) {
    const role = ROLE_LABELS[turn.role] ? turn.role : "system";
    const node = element("div", `turn turn-${role}`);
    if (role === "system") node.classList.add("turn-notice", "notice");
    node.dataset.role = role;
    if (turn.turn_id) node.dataset.turnId = turn.turn_id;
    if (turn.created_at) node.dataset.createdAt = turn.created_at;
    const text = String(turn.text ?? "");
    node.dataset.text = text;
    node.append(element("p", "turn-who", ROLE_LABELS[role]), element("p", "turn-text", text));
    if (role === "bot" && Array.isArray(turn.sources) && turn.sources.length) node.append(sourcesList(turn.sources));
    if (role === "bot" && turn.turn_id) {
      const control = new ThumbsControl(turn.turn_id, (thumb, comment) => this.sendThumb(turn.turn_id, thumb, comment));
      control.show(turn.feedback && typeof turn.feedback === "object" ? turn.feedback : null);
      node.append(control.node);
    }
    if (pending) {
      node.classList.add("turn-pending");
      node.append(element("p", "turn-state", "Sending..."));
    }
    this.insert(node, before);
    return node;
  }

  confirm(node, turnId) {
    node.classList.remove("turn-pending");
    node.querySelector(".turn-state")?.remove();
    if (turnId) node.dataset.turnId = turnId;
  }

  // Where a turn of the conversation read back (created_at) goes among those shown: before the first one
  // the server dated later, else before the page's own turn still being sent (undated), else at the end.
  placeFor(createdAt) {
    for (const node of this.log.querySelectorAll(".turn[data-created-at]")) {
      if (node.dataset.createdAt > createdAt) return node;
    }
    return this.log.querySelector(".turn-pending");
  }

  // Tandem's own notices (not turns): kind names them for tests and styles (data-notice); before: the node
  // to insert it in front of.
  addNotice(kind, text, tone = "ok", before = null) {
    const node = element("div", `turn turn-notice notice ${tone}`);
    node.dataset.notice = kind;
    node.dataset.role = "notice";
    node.append(element("p", "turn-who", "Tandem"), element("p", "turn-text", text));
    this.insert(node, before);
    return node;
  }

  insert(node, before) {
    this.empty.hidden = true;
    if (before && before.parentNode === this.log) this.log.insertBefore(node, before);
    else this.log.append(node);
  }
}

// The message box ----------------------------------------------------------------------------------

class Composer {
  constructor(elements, maxChars, onSubmit) {
    Object.assign(this, elements);
    this.maxChars = maxChars;
    this.announceTimer = null;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      onSubmit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey && !event.metaKey
          && !event.isComposing) {
        event.preventDefault();
        this.form.requestSubmit();
      }
    });
    this.input.addEventListener("input", () => {
      this.updateCounter(true);
      if (this.error.dataset.kind === "local") this.clearError();
    });
    this.updateCounter(false);
  }

  get value() {
    return this.input.value;
  }

  clear() {
    this.input.value = "";
    this.updateCounter(false);
  }

  focus() {
    this.input.focus();
  }

  updateCounter(announce) {
    const length = this.input.value.length;
    const over = length - this.maxChars;
    this.counter.textContent = over > 0
      ? `${length} / ${this.maxChars}: ${over} too many`
      : `${length} / ${this.maxChars}`;
    this.counter.classList.toggle("over", over > 0);
    clearTimeout(this.announceTimer);
    if (!announce) return;
    // Said to screen readers once typing pauses, and only near or over the limit.
    const left = this.maxChars - length;
    if (left > Math.max(20, this.maxChars / 10)) {
      this.counterLive.textContent = "";
      return;
    }
    this.announceTimer = setTimeout(() => {
      this.counterLive.textContent = left >= 0
        ? `${left} characters left of ${this.maxChars}`
        : `${-left} characters too many: the limit is ${this.maxChars}`;
    }, 900);
  }

  // kind: "local" (a check of the page, cleared as the customer types) or "server".
  showError(message, kind) {
    this.error.textContent = message;
    this.error.dataset.kind = kind;
    this.error.hidden = false;
    this.input.setAttribute("aria-invalid", "true");
  }

  clearError() {
    this.error.textContent = "";
    this.error.hidden = true;
    delete this.error.dataset.kind;
    this.input.removeAttribute("aria-invalid");
  }

  setBusy(busy) {
    this.input.readOnly = busy;
    this.send.disabled = busy || this.input.disabled;
    this.form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  setEnabled(enabled) {
    this.input.disabled = !enabled;
    this.send.disabled = !enabled;
  }
}

// Polling ----------------------------------------------------------------------------------------

class Poller {
  // run(signal): one poll; blocked(): true while a poll must not start (a message is being sent).
  constructor({ intervalMs, run, blocked, onFailure, onRecovery }) {
    Object.assign(this, { intervalMs, run, blocked, onFailure, onRecovery });
    this.active = false;
    this.timer = null;
    this.controller = null;
    this.failures = 0;
    this.again = false; // a poll was asked for while one was in flight
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) clearTimeout(this.timer);
      else if (this.active) this.schedule(0);
    });
  }

  start() {
    this.active = true;
    this.failures = 0;
    this.schedule(0);
  }

  stop() {
    this.active = false;
    clearTimeout(this.timer);
    this.cancel();
  }

  cancel() {
    if (this.controller) this.controller.abort();
  }

  schedule(delayMs = this.delay()) {
    clearTimeout(this.timer);
    if (!this.active || document.hidden) return;
    this.timer = setTimeout(() => this.tick(), delayMs);
  }

  delay() {
    if (!this.failures) return this.intervalMs;
    return Math.min(MAX_BACKOFF_MS, this.intervalMs * 2 ** this.failures);
  }

  async tick() {
    // Never two at once; the request in flight (or the send) schedules the next one when it ends. A poll asked
    // for meanwhile (a pushed event) follows it at once: the request in flight may have read before the change.
    if (this.controller) {
      this.again = true;
      return;
    }
    if (!this.active || document.hidden || this.blocked()) return;
    const controller = new AbortController();
    this.controller = controller;
    try {
      await this.run(controller.signal);
      if (this.failures) this.onRecovery();
      this.failures = 0;
    } catch (error) {
      if (!(error instanceof Cancelled)) {
        this.failures += 1;
        this.onFailure(error, this.failures);
      }
    } finally {
      this.controller = null;
    }
    const again = this.again && !this.failures;
    this.again = false;
    this.schedule(again ? 0 : this.delay());
  }
}

// The app --------------------------------------------------------------------------------------------

function describeField(field) {
  if (!field || field === "message") return "Your message";
  if (field === "body") return "The request";
  return field.replace(/_/g, " ");
}

function sentence(text) {
  const trimmed = text.trim();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

// created_at minus `ms`, in the form the API takes ("2026-11-25T01:20:00.123Z").
function before(createdAt, ms) {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(createdAt);
  if (!match) return null;
  const millis = Date.parse(`${match[1]}${(match[2] || ".000").slice(0, 4).padEnd(4, "0")}Z`);
  return Number.isNaN(millis) ? null : new Date(millis - ms).toISOString();
}

// The waiting banner ----------------------------------------------------------------------------------

const WAIT_TICK_MS = 60_000; // the banner says minutes: it is rewritten once a minute
const WAITING = "Waiting for an expert";

// An API time ("2026-11-25T01:20:00.123456Z", or without fractions) in milliseconds, or null.
function apiTime(text) {
  const match = typeof text === "string" && /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?Z$/.exec(text);
  if (!match) return null;
  const millis = Date.parse(`${match[1]}${(match[2] || ".000").slice(0, 4).padEnd(4, "0")}Z`);
  return Number.isNaN(millis) ? null : millis;
}

function minutes(ms, round) {
  const count = round(Math.max(0, ms) / 60_000);
  return count < 1 ? "less than a minute" : `${count} min`;
}

// wait: {since, deadline} in milliseconds (deadline null until the workflow waits for an accept), or null.
// The page's clock may differ from the server's by seconds: the text says whole minutes, roughly.
function waitingText(wait, now) {
  if (!wait) return `${WAITING}: a human expert has been called and will reply here.`;
  const sofar = `${WAITING}: ${minutes(now - wait.since, Math.floor)} so far`;
  if (wait.deadline === null) return `${sofar}. A human expert has been called and will reply here.`;
  const within = minutes(wait.deadline - wait.since, Math.round);
  const left = wait.deadline - now;
  const more = left >= 60_000 ? `about ${minutes(left, Math.round)} more`
    : left > 0 ? "less than a minute more" : "any moment now";
  return `${sofar} \u2014 an expert usually joins within ${within} (${more}).`;
}

class ChatApp {
  constructor(config, auth) {
    this.config = config;
    this.auth = auth;
    this.api = new ChatApi(config, auth);
    this.ui = {
      signIn: $("sign-in"), chat: $("chat"), signedInName: $("signed-in-name"), banner: $("chat-banner"),
      pollStatus: $("poll-status"), closed: $("chat-closed"), startNew: $("start-new"), signOut: $("sign-out"),
    };
    this.view = new ConversationView($("chat-log"), $("chat-empty"), (turnId, thumb, comment) =>
      this.api.thumb(this.conversation.sessionId, turnId, thumb, comment).then((body) => body.feedback || null));
    this.composer = new Composer({
      form: $("message-form"), input: $("message-input"), counter: $("message-counter"),
      counterLive: $("message-counter-live"), error: $("message-error"), send: $("send-button"),
    }, config.maxMessageChars, () => this.send());
    this.poller = new Poller({
      intervalMs: config.pollIntervalMs,
      run: (signal) => this.poll(signal),
      blocked: () => this.sending,
      onFailure: (error, count) => this.pollFailed(error, count),
      onRecovery: () => this.setPollStatus(""),
    });
    this.live = config.liveUrl ? new LiveChannel({
      url: config.liveUrl, token: () => (typeof auth.idToken === "function" ? auth.idToken() : null),
      onEvent: (event) => this.liveEvent(event), onState: (state) => this.liveState(state),
    }) : null;
    this.heldEvents = []; // pushed while a message was being sent
    this.user = null;
    this.wait = null; // the open escalation's times, from GET messages (waitingText)
    this.waitTimer = null;
    this.sending = false;
    this.generation = 0; // counts conversations shown: a send's answer is dropped once it has moved on
    this.reset();
    this.ui.startNew.addEventListener("click", () => this.startNew());
    this.ui.signOut.addEventListener("click", () => this.auth.signOut());
  }

  // A conversation not started yet (no session).
  reset() {
    this.generation += 1;
    this.conversation = { user: this.user, sessionId: null, phase: "bot", expert: null, handoffTurnId: null };
    this.newest = null; // the newest created_at the server gave
    this.wait = null;
    this.loaded = false; // the session's turns were read once (after a reload, the first poll reads them all)
    this.poller.stop();
    this.view.clear();
    this.setBanner("");
    this.setPollStatus("");
    this.ui.closed.hidden = true;
    this.composer.setEnabled(true);
    this.composer.clearError();
    this.updateSessionAttribute();
  }

  save() {
    conversationStore.save(this.conversation);
    this.updateSessionAttribute();
  }

  updateSessionAttribute() {
    const id = this.conversation.sessionId;
    if (id) this.ui.chat.dataset.sessionId = id;
    else delete this.ui.chat.dataset.sessionId;
    this.ui.chat.dataset.phase = this.conversation.phase;
  }

  // Signing in and out ------------------------------------------------------------------------------

  showSignIn() {
    this.ui.chat.hidden = true;
    this.ui.signIn.hidden = false;
  }

  signedIn(user, { focus }) {
    this.user = user;
    this.ui.signedInName.textContent = user;
    this.ui.signIn.hidden = true;
    this.ui.chat.hidden = false;
    this.reset();
    if (this.live) this.live.start();
    const saved = conversationStore.load(user);
    if (saved) {
      this.conversation = { ...this.conversation, ...saved };
      this.updateSessionAttribute();
      if (this.conversation.phase === "waiting") this.setBanner("waiting");
      if (this.conversation.phase === "expert") this.setBanner("expert");
      if (this.conversation.phase === "closed") this.showClosed();
      this.poller.start(); // reads the conversation back (once only, when it is closed)
    } else {
      conversationStore.clear();
    }
    if (focus) this.composer.focus();
  }

  signedOut(message = "") {
    if (this.live) this.live.stop();
    this.reset();
    this.user = null;
    conversationStore.clear();
    this.ui.signedInName.textContent = "";
    this.showSignIn();
    const error = $("sign-in-error");
    error.textContent = message;
    error.hidden = !message;
    $("sign-in-name").focus();
  }

  // Sending ---------------------------------------------------------------------------------------

  async send() {
    if (this.sending || this.conversation.phase === "closed") return;
    const text = this.composer.value.trim();
    if (!text) {
      this.composer.showError("Type a message before sending.", "local");
      this.composer.focus();
      return;
    }
    // Too long: the counter says so as it is typed, and the API's own answer names the limit; the API is the
    // judge of it, so the message is sent and its refusal shown.
    this.composer.clearError();
    this.sending = true;
    this.poller.cancel();
    this.composer.setBusy(true);
    const wasNearEnd = this.nearEnd();
    const pending = this.view.addTurn({ role: "customer", text }, { pending: true });
    this.scroll(wasNearEnd);
    const sessionId = this.conversation.sessionId;
    const { generation, user } = this;
    // Signed out, signed in again or a new conversation started while it was sent: its answer is not for
    // what is shown now.
    const current = () => generation === this.generation && user === this.user;
    try {
      const body = await this.api.send(text, sessionId);
      if (current()) {
        this.sent(body, pending);
        this.composer.clear();
      }
    } catch (error) {
      if (current()) {
        pending.remove();
        if (!this.view.log.querySelector(".turn")) this.view.empty.hidden = false;
        this.sendFailed(error);
      }
    } finally {
      this.sending = false;
      this.composer.setBusy(false);
      const held = this.heldEvents.splice(0);
      if (current()) held.forEach((event) => this.liveEvent(event));
      if (current() && this.conversation.phase !== "closed" && this.user) {
        this.composer.focus();
        if (this.conversation.sessionId) {
          if (!this.poller.active) this.poller.start();
          else this.poller.schedule();
        }
      }
    }
  }

  sent(body, pending) {
    if (!this.conversation.sessionId) {
      this.conversation.sessionId = body.session_id;
      this.loaded = true; // a new session: nothing said before this turn
      this.save();
    }
    const wasNearEnd = this.nearEnd();
    // Expert and system turns the customer had not been shown: they came before this turn.
    this.absorb(Array.isArray(body.messages) ? body.messages : [], {
      expert_active: Boolean(body.expert_active), expert: body.expert, closed: false,
    }, { live: true, before: pending });
    if (typeof body.reply === "string") {
      this.view.confirm(pending, typeof body.customer_turn?.turn_id === "string" ? body.customer_turn.turn_id : null);
      const sources = Array.isArray(body.sources) ? body.sources : [];
      const role = body.escalated ? "system" : "bot";
      if (!this.view.byTurnId(body.turn_id)) this.view.addTurn({ turn_id: body.turn_id, role, text: body.reply, sources });
      if (role === "bot") sourcesStore.put(body.turn_id, sources);
      if (body.escalated && !body.expert_active && this.conversation.phase !== "expert") this.enterWaiting(body.turn_id);
    } else {
      this.view.confirm(pending, body.turn_id); // an expert has the conversation: the bot stays silent
    }
    this.save();
    this.scroll(wasNearEnd);
  }

  sendFailed(error) {
    if (error instanceof ApiError) {
      if (error.status === 409) {
        this.enterClosed({ focus: true });
        this.composer.showError("Not sent: this conversation was closed by the expert. Start a new one.", "server");
        return;
      }
      if (error.status === 401 || error.status === 403) {
        this.signedOut("Your sign-in has ended. Sign in again; your message was not sent.");
        return;
      }
      if ((error.status === 404 || error.status === 400) && error.field === "session_id") {
        this.reset();
        conversationStore.clear();
        this.composer.showError("Not sent: that conversation is no longer available. Send again to start a new one.",
          "server");
        return;
      }
      if (error.status >= 400 && error.status < 500) {
        this.composer.showError(`Not sent: ${describeField(error.field)} ${sentence(error.message)}`, "server");
        return;
      }
      this.composer.showError(`${MAYBE_NOT_SAVED} (${sentence(error.message)})`, "server");
      return;
    }
    this.composer.showError(`${MAYBE_NOT_SAVED} (${sentence(error.message || "The network failed")})`, "server");
  }

  // Polling ---------------------------------------------------------------------------------------

  async poll(signal) {
    const sessionId = this.conversation.sessionId;
    if (!sessionId) return;
    const after = this.loaded && this.newest ? before(this.newest, LOOKBACK_MS) : null;
    let body;
    try {
      body = await this.api.messages(sessionId, after, signal);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        this.signedOut("Your sign-in has ended. Sign in again to go on with the conversation.");
        throw new Cancelled("signed out");
      }
      if (error instanceof ApiError && error.status === 404) {
        this.reset();
        conversationStore.clear();
        this.view.addNotice("conversation-gone", "That conversation is no longer available. Ask anything to start a new one.",
          "warn");
        throw new Cancelled("no such session");
      }
      throw error;
    }
    if (sessionId !== this.conversation.sessionId || signal.aborted) return;
    const wasNearEnd = this.nearEnd();
    this.absorb(Array.isArray(body.messages) ? body.messages : [], body, { live: this.loaded });
    this.loaded = true;
    this.save();
    this.scroll(wasNearEnd);
  }

  // Push ------------------------------------------------------------------------------------------

  liveState(state) {
    this.ui.chat.dataset.live = state;
    this.poller.intervalMs = state === "open" ? LIVE_POLL_MS : this.config.pollIntervalMs;
    // Opened: read what was said while it was down. Closed: back to polling at the normal pace.
    if (this.conversation.sessionId && this.conversation.phase !== "closed") {
      if (this.poller.active) this.poller.schedule(0);
      else this.poller.start();
    }
  }

  liveEvent(event) {
    if (this.sending) {
      this.heldEvents.push(event);
      return;
    }
    const { sessionId, phase } = this.conversation;
    if (!sessionId || event.session_id !== sessionId || phase === "closed") return;
    const turn = event.type === "turn" ? event.turn : null;
    const plain = turn && (turn.role === "bot" || turn.role === "customer" || (turn.role === "expert" && phase === "expert"));
    if (plain) {
      const wasNearEnd = this.nearEnd();
      this.absorb([turn], { expert_active: phase === "expert", expert: this.conversation.expert, closed: false },
        { live: true });
      this.save();
      this.scroll(wasNearEnd);
      return;
    }
    // Where the hand-off stands changed: the API says it whole.
    if (this.poller.active) this.poller.schedule(0);
    else this.poller.start();
  }

  pollFailed(error, count) {
    if (count >= FAILURES_BEFORE_STATUS) {
      this.setPollStatus("Cannot reach the chat right now; trying again. Your conversation is kept.");
    }
  }

  // Turns and where the hand-off stands -------------------------------------------------------------

  // messages: turns from the server; flags: {expert_active, expert, closed}. live: they are news (a poll or
  // a POST answer); otherwise the conversation is being read back after a reload.
  absorb(messages, flags, { live, before: beforeNode = null }) {
    const phase = this.conversation.phase;
    const joined = live && flags.expert_active && phase !== "expert" && phase !== "closed";
    let newSystemTurn = false;
    let afterHandoff = false;
    let firstAdded = null;
    const fresh = [];
    for (const turn of messages) {
      if (!turn || typeof turn.turn_id !== "string") continue;
      if (typeof turn.created_at === "string" && (!this.newest || turn.created_at > this.newest)) {
        this.newest = turn.created_at;
      }
      if (turn.turn_id === this.conversation.handoffTurnId) afterHandoff = true;
      else if (afterHandoff && turn.role === "system") newSystemTurn = true;
      const known = this.view.byTurnId(turn.turn_id);
      if (known) {
        if (turn.created_at && !known.dataset.createdAt) known.dataset.createdAt = turn.created_at;
        continue;
      }
      if (turn.role === "customer") {
        const shown = this.view.unidentifiedCustomerTurn(String(turn.text ?? ""));
        if (shown) {
          this.view.identify(shown, turn);
          continue;
        }
      }
      fresh.push(turn);
    }
    // Read back (after a reload), the turns go where their created_at puts them: a message sent before the
    // read-back answered is newer than all of them. News go at the end (or before the turn being sent).
    for (const turn of fresh) {
      const pushed = Array.isArray(turn.sources) ? turn.sources : [];
      const sources = turn.role === "bot" ? (pushed.length ? pushed : sourcesStore.get(turn.turn_id)) : [];
      if (turn.role === "bot" && pushed.length) sourcesStore.put(turn.turn_id, pushed);
      const place = !live && typeof turn.created_at === "string" ? this.view.placeFor(turn.created_at) : beforeNode;
      const node = this.view.addTurn({ ...turn, sources }, { before: place });
      firstAdded = firstAdded || node;
      if (live && turn.role === "system") newSystemTurn = true;
    }
    // The expert joined before what this update brought.
    if (joined) this.enterExpert(flags.expert, { before: firstAdded || beforeNode });
    const now = this.conversation.phase;
    if (flags.closed) {
      if (now !== "closed" || !live) this.enterClosed({ focus: live && now !== "closed" });
    } else if (now === "expert" && !flags.expert_active) {
      // The server's own turn (its hand-back) says it when it came with this update.
      this.leaveExpert({ notice: live && !newSystemTurn });
    } else if (!live && flags.expert_active && now !== "expert") {
      this.enterExpert(flags.expert);
    } else if (now === "waiting" && !flags.expert_active && newSystemTurn) {
      // Tandem spoke after the hand-off and nobody has the conversation: no expert is coming (busy).
      this.conversation.phase = "bot";
      this.conversation.handoffTurnId = null;
      this.setBanner("");
    }
    this.noteWait(flags.escalation);
    this.updateSessionAttribute();
  }

  // escalation: GET messages' `escalation` (absent from a POST answer: then nothing changes).
  noteWait(escalation) {
    if (!escalation || typeof escalation !== "object") return;
    const since = apiTime(escalation.requested_at);
    this.wait = escalation.status === "pending" && since !== null
      ? { since, deadline: apiTime(escalation.accept_deadline) }
      : null;
    if (this.conversation.phase === "waiting") this.setBanner("waiting");
  }

  enterWaiting(handoffTurnId) {
    this.conversation.phase = "waiting";
    this.conversation.handoffTurnId = handoffTurnId;
    this.setBanner("waiting");
    this.save();
  }

  enterExpert(name, { before: beforeNode = null } = {}) {
    const expert = typeof name === "string" && name ? name : "a member of our team";
    this.conversation.phase = "expert";
    this.conversation.expert = expert;
    this.conversation.handoffTurnId = null;
    this.view.addNotice("expert-joined", `An expert (${expert}) joined the conversation.`, "ok", beforeNode);
    this.setBanner("expert");
    this.save();
  }

  leaveExpert({ notice }) {
    this.conversation.phase = "bot";
    this.conversation.expert = null;
    this.setBanner("");
    if (notice) this.view.addNotice("assistant-back", "The assistant is back: ask it anything.");
    this.save();
  }

  enterClosed({ focus }) {
    this.conversation.phase = "closed";
    this.conversation.expert = null;
    this.conversation.handoffTurnId = null;
    this.poller.stop();
    this.showClosed();
    this.save();
    if (focus) this.ui.startNew.focus();
  }

  showClosed() {
    this.setBanner("");
    this.setPollStatus("");
    this.composer.setEnabled(false);
    this.ui.closed.hidden = false;
  }

  startNew() {
    conversationStore.clear();
    this.reset();
    this.composer.focus();
  }

  setBanner(kind) {
    const { banner } = this.ui;
    const texts = {
      waiting: waitingText(this.wait, Date.now()),
      expert: `You are talking with an expert (${this.conversation.expert || "a member of our team"}).`,
    };
    banner.textContent = texts[kind] || "";
    banner.dataset.kind = kind || "";
    banner.classList.toggle("ok", kind === "expert");
    banner.classList.toggle("warn", kind !== "expert");
    banner.hidden = !texts[kind];
    // While waiting, the minutes move on by themselves.
    if (kind === "waiting" && !this.waitTimer) {
      this.waitTimer = setInterval(() => {
        if (this.conversation.phase === "waiting") this.setBanner("waiting");
      }, WAIT_TICK_MS);
    } else if (kind !== "waiting" && this.waitTimer) {
      clearInterval(this.waitTimer);
      this.waitTimer = null;
    }
  }

  setPollStatus(text) {
    this.ui.pollStatus.textContent = text;
    this.ui.pollStatus.hidden = !text;
  }

  nearEnd() {
    const doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 160;
  }

  scroll(wasNearEnd) {
    if (wasNearEnd) this.composer.form.scrollIntoView({ block: "nearest" });
  }
}

// Start ----------------------------------------------------------------------------------------------

function showStatus(text, tone) {
  const status = $("app-status");
  status.textContent = text;
  status.className = `notice ${tone || ""}`.trim();
  status.hidden = !text;
}

function showModel(config) {
  const note = $("model-note");
  const model = config.model || {};
  const parts = [];
  if (model.standIn) parts.push(element("span", "badge", "Stand-in model"), document.createTextNode(" "));
  parts.push(element("strong", "", "Answers:"), document.createTextNode(" "));
  parts.push(element("span", "model-name", model.standIn ? "demo stand-in model (offline)" : model.id || "Amazon Bedrock"));
  if (model.note) parts.push(document.createTextNode(" "), element("span", "model-note-text", model.note));
  note.replaceChildren(...parts);
  if (model.id) note.dataset.modelId = model.id;
  note.hidden = false;
}

async function main() {
  let config;
  try {
    config = await loadConfig();
  } catch (error) {
    showStatus(error.message, "error");
    return;
  }
  showDemoParts(config.local === true);
  showModel(config);
  let auth;
  try {
    auth = createAuth(config);
  } catch (error) {
    showStatus(`Sign-in is not available: ${error.message}.`, "error");
    return;
  }
  const app = new ChatApp(config, auth);
  auth.mount({ form: $("sign-in-form"), input: $("sign-in-name"), error: $("sign-in-error"), note: $("auth-note") },
    (user) => (user ? app.signedIn(user, { focus: true }) : app.signedOut()));
  showStatus("");
  const user = auth.user();
  if (user) app.signedIn(user, { focus: false });
  else app.showSignIn();
}

main();
