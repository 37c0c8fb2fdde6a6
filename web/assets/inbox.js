// The experts' inbox (web/inbox.html): every customer waiting for an expert, one conversation open beside the
// list, and the expert's actions on it, over the expert API's inbox routes (lambdas/expert_api/handler.py):
//
//   GET  {expertApiUrl}inbox/escalations                        -> {expert, escalations: [...]}
//   GET  {expertApiUrl}inbox/escalations/{sid}/{eid}?after=     -> {escalation, turns}
//   POST {expertApiUrl}inbox/escalations/{sid}/{eid}/accept     -> {escalation}; 409 names who accepted first
//   POST .../reply {text, reply_id} | .../handback {note} | .../close {note}
//
// - Every text from a customer, the bot, an expert or the server goes into the page as text (render.js).
// - `refresh()` is the one function that brings the page up to date (the list, and the open conversation).
//   The live channel's inbox room (web/assets/live.js, docs/live-channel.md) calls it whenever it hears of a
//   change (a new escalation, an accept, a turn of an escalated conversation); a timer calls it too, every
//   POLL_MS while the channel is down and every LIVE_POLL_MS (a safety net) while it is open.
// - The open escalation is in the address's fragment, #<session_id>/<escalation_id>: the expert email's
//   "Open in the inbox" link lands on it, and a reload keeps it.
// - A reply carries a fresh reply_id per message, kept until the message is stored: a retried send after a
//   lost answer is stored once.
// - Signed in through auth.js with the `experts` group; the server decides who is an expert.

import { ApiError, requestJson } from "./api.js";
import { startSignedInPage } from "./auth.js";
import { LiveChannel } from "./live.js";
import { announceIn, el, fill, reconcile, showLocalBadge, showMessage, timeEl } from "./render.js";

const POLL_MS = 3000;
const LIVE_POLL_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;
const REQUEST_TIMEOUT_MS = 15_000;
// A turn's created_at is set before it is written: each read asks for the turns since the newest one shown
// minus this, and turn ids drop what is already shown.
const LOOKBACK_MS = 60_000;
const EXPERTS_GROUP = "experts";
const REASONS = {
  human_requested: "Asked for a person",
  negative_sentiment: "Upset (negative message)",
  negative_streak: "Several negative messages",
  model_error: "The assistant could not answer",
};
const ROLE_LABELS = { customer: "Customer", bot: "Assistant", expert: "Expert", system: "Tandem" };
const OVER = { resolved: "resolved", timed_out: "over: nobody accepted in time", failed: "over (the workflow failed)" };

const $ = (id) => document.getElementById(id);

// The expert API ----------------------------------------------------------------------------------------

class InboxApi {
  constructor(config, auth) {
    this.base = config.expertApiUrl.endsWith("/") ? config.expertApiUrl : `${config.expertApiUrl}/`;
    this.auth = auth;
  }

  request(method, path, body) {
    return requestJson(method, this.base + path,
      { headers: this.auth.headers(), body, timeoutMs: REQUEST_TIMEOUT_MS });
  }

  path(sid, eid, action = "") {
    return `inbox/escalations/${encodeURIComponent(sid)}/${encodeURIComponent(eid)}${action ? `/${action}` : ""}`;
  }

  list() {
    return this.request("GET", "inbox/escalations");
  }

  conversation(sid, eid, after) {
    return this.request("GET", this.path(sid, eid) + (after ? `?after=${encodeURIComponent(after)}` : ""));
  }

  act(sid, eid, action, body = {}) {
    return this.request("POST", this.path(sid, eid, action), body);
  }
}

// Words and times ---------------------------------------------------------------------------------------

function reasonLabel(reason) {
  return Object.prototype.hasOwnProperty.call(REASONS, reason) ? REASONS[reason] : String(reason);
}

function waited(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return "under a minute";
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function readableTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

function acceptedBy(escalation) {
  return `Accepted by ${escalation.accepted_by} at ${readableTime(escalation.accepted_at)}`;
}

function sentimentText(sentiment) {
  if (!sentiment || typeof sentiment !== "object") return null;
  const score = Number(sentiment.score);
  return `${sentiment.label}${Number.isFinite(score) ? ` ${score.toFixed(2)}` : ""}`
    + (sentiment.detector ? ` (${sentiment.detector})` : "");
}

function keyOf(sid, eid) {
  return `${sid}/${eid}`;
}

// The page's state --------------------------------------------------------------------------------------

const view = {
  api: null,
  auth: null,
  selected: null, // {sid, eid}
  escalation: null, // the open escalation, as the server last described it
  turns: new Map(), // turn_id -> turn, of the open conversation
  replyId: null, // the idempotency key of the message being written
  listed: new Set(), // keys of the escalations the list has shown
  arrived: new Set(), // keys that arrived while the page was open, not opened yet
  firstList: true,
  running: false,
  timer: null,
  wait: POLL_MS,
  interval: POLL_MS, // the poll's pace: POLL_MS, or LIVE_POLL_MS while the live channel is open
  live: null,
};

function newReplyId() {
  view.replyId = crypto.randomUUID();
}

function setStatus(message) {
  $("conversation-status").textContent = message;
}

function showError(message) {
  showMessage("inbox-error", message);
}

function announce(message) {
  announceIn($("queue-announcer"), message);
}

// The list of waiting customers -------------------------------------------------------------------------

function createItem(item) {
  const button = el("button", { type: "button", className: "queue-item" });
  button.addEventListener("click", () => select(item.session_id, item.escalation_id, { focus: true }));
  return el("li", {}, button);
}

function updateItem(node, item) {
  const key = keyOf(item.session_id, item.escalation_id);
  const button = node.querySelector("button");
  button.className = `queue-item ${item.status}`;
  button.dataset.sessionId = item.session_id;
  button.dataset.escalationId = item.escalation_id;
  button.dataset.status = item.status;
  const sentiment = sentimentText(item.sentiment);
  const turns = Array.isArray(item.last_turns) ? item.last_turns : [];
  fill(button,
    el("span", { className: "queue-head" },
      el("span", { className: "queue-reason" }, reasonLabel(item.reason),
        view.arrived.has(key) ? el("span", { className: "badge new-item" }, "New") : null),
      el("span", { className: "queue-wait" },
        item.status === "accepted" ? (item.yours ? "Yours" : `Accepted by ${item.accepted_by}`)
          : `Waiting ${waited(item.waiting_seconds)}`)),
    el("span", { className: "queue-meta" }, sentiment ? `Sentiment: ${sentiment}` : "No sentiment reading"),
    el("span", { className: "queue-turns" }, ...turns.map((turn) => el("span", { className: "queue-turn" },
      el("span", { className: "queue-turn-who" }, `${ROLE_LABELS[turn.role] || turn.role}: `), String(turn.text)))),
  );
}

function markSelected() {
  const chosen = view.selected ? keyOf(view.selected.sid, view.selected.eid) : null;
  for (const button of $("queue").querySelectorAll(".queue-item")) {
    const current = keyOf(button.dataset.sessionId, button.dataset.escalationId) === chosen;
    if (current) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

async function refreshList() {
  const data = await view.api.list();
  $("signed-in-email").textContent = String(data.expert || "");
  const items = Array.isArray(data.escalations) ? data.escalations : [];
  const fresh = items.filter((item) => !view.listed.has(keyOf(item.session_id, item.escalation_id)));
  for (const item of fresh) {
    const key = keyOf(item.session_id, item.escalation_id);
    view.listed.add(key);
    if (!view.firstList) view.arrived.add(key);
  }
  reconcile($("queue"), items, {
    key: (item) => keyOf(item.session_id, item.escalation_id), create: createItem,
    update: (node, item) => updateItem(node, item),
  });
  markSelected();
  const waiting = items.filter((item) => item.status === "pending").length;
  $("queue-count").textContent = items.length
    ? `${waiting} waiting, ${items.length - waiting} with an expert. Oldest first; updated by itself.`
    : "Updated by itself.";
  $("queue-empty").hidden = items.length > 0;
  if (!view.firstList && fresh.length) {
    announce(fresh.map((item) => `New in the inbox: ${reasonLabel(item.reason)}`).join(". "));
  }
  view.firstList = false;
}

// The open conversation ---------------------------------------------------------------------------------

function renderTurn(turn) {
  const who = ROLE_LABELS[turn.role] || String(turn.role);
  return el("div", { className: `turn turn-${turn.role}`, dataset: { turnId: turn.turn_id, createdAt: turn.created_at, role: turn.role } },
    el("p", { className: "turn-who" }, `${who} \u00b7 `, timeEl(turn.created_at)),
    el("p", { className: "turn-text" }, String(turn.text)));
}

function addTurns(turns) {
  const log = $("turns");
  for (const turn of turns) {
    if (!turn || typeof turn.turn_id !== "string" || typeof turn.created_at !== "string"
        || typeof turn.text !== "string" || view.turns.has(turn.turn_id)) continue;
    view.turns.set(turn.turn_id, turn);
    const after = [...log.children].find((node) => node.dataset.createdAt > turn.created_at
      || (node.dataset.createdAt === turn.created_at && node.dataset.turnId > turn.turn_id));
    log.insertBefore(renderTurn(turn), after || null);
  }
}

function since() {
  let newest = "";
  for (const turn of view.turns.values()) if (turn.created_at > newest) newest = turn.created_at;
  if (!newest) return "";
  const time = Date.parse(newest.slice(0, 23) + "Z");
  return Number.isNaN(time) ? "" : new Date(time - LOOKBACK_MS).toISOString().replace("Z", "000Z");
}

function renderEscalation(escalation) {
  view.escalation = escalation;
  const explanation = escalation.explanation || {};
  const rows = [
    ["Reason", reasonLabel(escalation.reason)],
    explanation.signal ? ["Why", explanation.signal] : null,
    explanation.excerpt ? ["Words it read", explanation.excerpt] : null,
    ["Sentiment", sentimentText(escalation.sentiment) || "none"],
    ["Requested", timeEl(escalation.requested_at)],
    ["Waited", waited(escalation.waiting_seconds)],
    ["Status", String(escalation.status).replace(/_/g, " ")],
    escalation.accepted_by ? ["Accepted by", `${escalation.accepted_by} at ${readableTime(escalation.accepted_at)}`] : null,
  ];
  fill($("escalation-facts"), ...rows.filter(Boolean).map(([term, value]) =>
    el("div", {}, el("dt", {}, term), el("dd", {}, value))));
  const pending = escalation.status === "pending";
  const mine = escalation.status === "accepted" && escalation.yours === true;
  $("accept-button").hidden = !pending;
  $("reply-form").hidden = !mine;
  $("resolve-form").hidden = !mine;
  const result = $("accept-result");
  if (escalation.status === "accepted" && !escalation.yours) {
    result.textContent = acceptedBy(escalation);
    result.hidden = false;
  } else if (!pending && !mine) {
    result.textContent = `This escalation is ${OVER[escalation.status] || String(escalation.status)}: there is nothing to do here.`;
    result.hidden = false;
  } else {
    result.hidden = true;
  }
}

async function refreshConversation() {
  const chosen = view.selected;
  if (!chosen) return;
  let data;
  try {
    data = await view.api.conversation(chosen.sid, chosen.eid, since());
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      setStatus("There is no such escalation.");
      $("accept-button").hidden = true;
      return;
    }
    throw error;
  }
  if (view.selected !== chosen) return; // another one was opened meanwhile
  renderEscalation(data.escalation || {});
  addTurns(Array.isArray(data.turns) ? data.turns : []);
}

function select(sid, eid, { focus = false } = {}) {
  if (!sid || !eid) return;
  const same = view.selected && view.selected.sid === sid && view.selected.eid === eid;
  if (!same) {
    view.selected = { sid, eid };
    view.escalation = null;
    view.turns = new Map();
    fill($("turns"));
    fill($("escalation-facts"));
    $("accept-result").hidden = true;
    $("accept-button").hidden = true;
    $("reply-form").hidden = true;
    $("resolve-form").hidden = true;
    $("reply-text").value = "";
    $("resolve-note").value = "";
    setStatus("");
    newReplyId();
    history.replaceState(null, "", `#${keyOf(encodeURIComponent(sid), encodeURIComponent(eid))}`);
  }
  const key = keyOf(sid, eid);
  if (view.arrived.delete(key)) {
    const button = [...$("queue").querySelectorAll(".queue-item")].find((b) => keyOf(b.dataset.sessionId, b.dataset.escalationId) === key);
    button?.querySelector(".new-item")?.remove();
  }
  $("conversation").hidden = false;
  markSelected();
  if (focus) $("conversation-title").focus();
  refreshConversation().catch(report);
}

function fromHash() {
  const [sid, eid] = location.hash.replace(/^#/, "").split("/").map((part) => {
    try {
      return decodeURIComponent(part || "");
    } catch (error) {
      return "";
    }
  });
  if (sid && eid) select(sid, eid);
}

// Actions -----------------------------------------------------------------------------------------------

async function act(button, action, body, done) {
  const chosen = view.selected;
  if (!chosen || button.disabled) return null;
  button.disabled = true;
  try {
    const data = await view.api.act(chosen.sid, chosen.eid, action, body);
    done(data);
    refresh();
    return data;
  } catch (error) {
    return failed(error, action);
  } finally {
    button.disabled = false;
  }
}

function failed(error, action) {
  if (error instanceof ApiError && error.status === 409 && error.problem.accepted_by) {
    const result = $("accept-result");
    result.textContent = acceptedBy(error.problem);
    result.hidden = false;
    $("accept-button").hidden = true;
  } else if (error instanceof ApiError && error.status === 401) {
    signedOut("Your sign-in has ended: sign in again.");
  } else if (error instanceof ApiError) {
    const field = action === "reply" ? $("reply-error") : action === "accept" ? $("accept-result") : $("resolve-error");
    field.textContent = error.message;
    field.hidden = false;
  } else {
    const note = action === "reply" ? " It may have been sent: send it again, it is stored once." : "";
    setStatus(`The server could not be reached.${note}`);
  }
  refresh();
  return null;
}

function accept() {
  act($("accept-button"), "accept", undefined, (data) => {
    renderEscalation(data.escalation);
    setStatus("Accepted: the conversation is yours. The customer sees your replies.");
    $("reply-text").focus();
  });
}

function reply(event) {
  event.preventDefault();
  const box = $("reply-text");
  const error = $("reply-error");
  const text = box.value.trim();
  error.hidden = true;
  if (!text) {
    error.textContent = "Write a message first.";
    error.hidden = false;
    box.focus();
    return;
  }
  act($("reply-button"), "reply", { text, reply_id: view.replyId }, (data) => {
    addTurns([data.turn]);
    box.value = "";
    newReplyId();
    setStatus("Sent.");
    box.focus();
  });
}

function resolve(close) {
  $("resolve-error").hidden = true;
  const note = $("resolve-note").value.trim();
  act($(close ? "close-button" : "handback-button"), close ? "close" : "handback", { note }, (data) => {
    renderEscalation(data.escalation);
    setStatus(close ? "Conversation closed." : "Handed back to the assistant.");
    $("conversation-title").focus();
  });
}

// Refreshing --------------------------------------------------------------------------------------------

let refreshing = null; // the run in flight
let refreshAgain = null; // the run asked for while one was in flight

/** Says what went wrong; true when it may pass (the next refresh waits longer). */
function report(error) {
  if (error instanceof ApiError && error.status === 401) {
    signedOut("Your sign-in has ended: sign in again.");
    return false;
  }
  if (error instanceof ApiError && error.status === 403) {
    showError(error.message);
    return false;
  }
  showError(`The inbox cannot be read (${error.message}). Trying again.`);
  return true;
}

/** Brings the list and the open conversation up to date, one run at a time. A call while a run is in flight
 * (a pushed event, an accept) gets one more run after it, which all such calls share: the run in flight may
 * have read before the change the caller knows of. */
export function refresh() {
  if (!view.running) return Promise.resolve();
  if (refreshing) {
    if (!refreshAgain) refreshAgain = refreshing.then(() => { refreshAgain = null; return refresh(); });
    return refreshAgain;
  }
  refreshing = Promise.all([refreshList(), refreshConversation()])
    .then(() => { showError(""); view.wait = view.interval; })
    .catch((error) => {
      if (report(error)) view.wait = Math.min(view.wait * 2, MAX_BACKOFF_MS);
    })
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function poll() {
  clearTimeout(view.timer);
  if (!view.running) return;
  if (!document.hidden) await refresh();
  if (view.running) view.timer = setTimeout(poll, view.wait);
}

// Sign-in -----------------------------------------------------------------------------------------------

function start() {
  $("sign-in").hidden = true;
  $("inbox").hidden = false;
  $("app-status").textContent = "";
  view.running = true;
  view.firstList = true;
  fromHash();
  poll();
  if (view.live) view.live.start();
}

function liveState(state) {
  $("inbox").dataset.live = state;
  view.interval = state === "open" ? LIVE_POLL_MS : POLL_MS;
  view.wait = view.interval;
  // Opened: read what happened while it was down. Closed: back to the normal pace.
  if (view.running) poll();
}

function signedOut(message = "") {
  view.running = false;
  clearTimeout(view.timer);
  if (view.live) view.live.stop();
  $("inbox").hidden = true;
  $("sign-in").hidden = false;
  showMessage("sign-in-error", message);
}

async function main() {
  showLocalBadge();
  const started = await startSignedInPage({ apiSetting: "expertApiUrl", pageName: "inbox", groups: [EXPERTS_GROUP] });
  if (!started) return;
  const { config } = started;
  view.auth = started.auth;
  view.api = new InboxApi(config, view.auth);
  if (config.liveUrl) {
    view.live = new LiveChannel({
      url: config.liveUrl, room: "inbox", token: () => view.auth.idToken(),
      onEvent: () => { refresh(); }, onState: liveState,
    });
  }
  newReplyId();
  $("accept-button").addEventListener("click", accept);
  $("reply-form").addEventListener("submit", reply);
  $("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) reply(event);
  });
  $("handback-button").addEventListener("click", () => resolve(false));
  $("close-button").addEventListener("click", () => resolve(true));
  $("back-to-list").addEventListener("click", () => {
    const current = $("queue").querySelector(".queue-item[aria-current=true]") || $("queue").querySelector(".queue-item");
    (current || $("queue-title")).focus();
  });
  $("sign-out").addEventListener("click", () => view.auth.signOut());
  window.addEventListener("hashchange", fromHash);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && view.running) poll(); });
  view.auth.mount({ form: $("sign-in-form"), input: $("sign-in-name"), error: $("sign-in-error"), note: $("auth-note") },
    (user) => (user ? start() : signedOut()));
  $("app-status").textContent = "";
  if (view.auth.user()) start();
  else signedOut();
}

main();
