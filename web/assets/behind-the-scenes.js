// Behind the scenes: what each part of Tandem did, from the demo's /local/api/state every 2 seconds.
//
// Each part is keyed by the ids in the data (a session, a turn, an execution, a transcript key, a mail) and
// only what changed is redrawn, in place: an open or closed <details>, the focus and the reader's scroll
// position stay as they were across refreshes. Every value is set as text (render.js).

import { changed, count, el, facts, fill, getJson, reconcile, showLocalBadge, timeEl } from "./render.js";

const POLL_MS = 2000;
const ROLES = { customer: "Customer", bot: "Assistant (bot)", expert: "Expert", system: "Tandem (system)" };
const SENTIMENTS = new Set(["negative", "neutral", "positive"]);
const STATUSES = new Set(["pending", "accepted", "resolved", "timed_out", "cancelled", "failed",
  "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"]);
// Why the gate escalated, as the experts' email words it (lambdas/escalation_worker/expert_email.py).
const REASONS = {
  human_requested: "the customer asked for a person",
  negative_sentiment: "the customer's message read as strongly negative",
  negative_streak: "several negative customer messages in a row",
  model_error: "the assistant could not answer",
};
// Why the demo sets each configuration key (local/demo.py DEMO_CONFIG).
const CONFIG_REASONS = {
  sentiment_detector: "the gate reads sentiment offline; Amazon Comprehend is not reachable without an account",
  knowledge_export_redact_pii: "masking personal data needs Comprehend's DetectPiiEntities, which moto only imitates",
};

const byId = (id) => document.getElementById(id);
const toggle = byId("refresh-toggle");
const updated = byId("last-updated");
const problem = byId("state-error");
const viewer = {
  section: byId("transcript-viewer"), title: byId("transcript-title"), status: byId("transcript-status"),
  error: byId("transcript-error"), json: byId("transcript-json"), close: byId("transcript-close"),
};

let paused = false;
let timer = null;
let inFlight = false;
let lastUpdated = null;

// Small pieces ------------------------------------------------------------------------------------------

const code = (text) => el("code", {}, String(text));

function statusEl(status) {
  const known = STATUSES.has(status) ? status.toLowerCase() : "other";
  return el("span", { className: `status status-${known}` }, String(status));
}

function sentimentEl(sentiment) {
  const label = String(sentiment.label);
  const score = Number(sentiment.score);
  return el("span", { className: "sentiment" },
    el("span", { className: `sentiment-label sentiment-${SENTIMENTS.has(label) ? label : "other"}` }, label),
    Number.isFinite(score) ? `, score ${score.toFixed(2)}` : "",
    sentiment.detector ? ` (detector: ${sentiment.detector})` : "",
    sentiment.reason ? ` \u2014 ${sentiment.reason}` : "");
}

// Sessions ------------------------------------------------------------------------------------------

function turnEl(turn) {
  const role = String(turn.role);
  const rows = [
    turn.sentiment ? ["Gate's reading", sentimentEl(turn.sentiment)] : null,
    turn.model_id ? ["Model", turn.model_id] : null,
    turn.latency_ms !== undefined && turn.latency_ms !== null ? ["Latency", `${turn.latency_ms} ms`] : null,
    Array.isArray(turn.sources) ? ["Sources", String(turn.sources.length)] : null,
    turn.error ? ["Error", el("span", { className: "error-text" }, turn.error)] : null,
  ];
  return el("li", { className: `turn turn-${ROLES[role] ? role : "other"}`, id: `turn-${turn.turn_id}` },
    el("div", { className: "turn-head" }, el("span", { className: "turn-role" }, ROLES[role] || role), " ",
      timeEl(turn.created_at)),
    el("p", { className: "turn-text" }, String(turn.text ?? "")),
    rows.some(Boolean) ? facts(rows, { className: "facts turn-facts" }) : null);
}

function explanationEl(explanation) {
  if (!explanation) return el("span", { className: "muted" }, "none recorded");
  return facts([
    ["Rule", explanation.rule ?? "\u2014"],
    ["Signal", el("span", { className: "explanation-signal" }, explanation.signal ?? "\u2014")],
    ["Excerpt", explanation.excerpt ? `\u201c${explanation.excerpt}\u201d` : "\u2014"],
  ], { className: "facts nested" });
}

function escalationEl(escalation) {
  const reason = String(escalation.reason);
  return el("li", { className: "escalation", id: `escalation-${escalation.escalation_id}` },
    el("div", { className: "escalation-head" }, statusEl(escalation.status), " ",
      el("span", { className: "escalation-reason" }, reason), " \u00b7 raised ", timeEl(escalation.requested_at)),
    facts([
      ["Reason", REASONS[reason] ? `${reason}: ${REASONS[reason]}` : reason],
      ["Gate's explanation", explanationEl(escalation.explanation)],
      escalation.sentiment ? ["Gate's reading", sentimentEl(escalation.sentiment)] : null,
      ["Accepted", escalation.accepted_by
        ? [`by ${escalation.accepted_by} at `, timeEl(escalation.accepted_at)] : "not yet"],
      ["Resolved", escalation.resolved_at ? timeEl(escalation.resolved_at) : "not yet"],
      escalation.note ? ["Note", escalation.note] : null,
      ["Ended", escalation.ended_at ? timeEl(escalation.ended_at) : "no"],
      ["Escalation id", code(escalation.escalation_id)],
    ]));
}

function sessionState(session) {
  if (session.closed_at) return ["closed", "Closed by the expert"];
  if (session.owner) return ["expert", `With expert ${session.owner}`];
  if (session.open_escalation_id) return ["escalated", "Waiting for an expert"];
  return ["bot", "With the bot"];
}

function createSession() {
  const details = el("details", { className: "session" }, el("summary"), el("div", { className: "session-body" }));
  details.open = true; // a new session is shown open; after that, open or closed is the reader's choice
  return details;
}

function updateSession(details, session) {
  const turns = Array.isArray(session.turns) ? session.turns : [];
  const escalations = Array.isArray(session.escalations) ? session.escalations : [];
  const [state, stateText] = sessionState(session);
  details.id = `session-${session.session_id}`;
  fill(details.querySelector("summary"),
    el("span", { className: "session-title" }, "Session ", code(String(session.session_id).slice(0, 8))),
    el("span", { className: `session-state session-${state}` }, stateText),
    el("span", { className: "session-meta" }, `${count(turns.length, "turn")}, ${count(escalations.length,
      "escalation")} \u00b7 started `, timeEl(session.started_at)));
  fill(details.querySelector(".session-body"),
    facts([
      ["Session id", code(session.session_id)],
      ["Customer", session.customer_id ?? "\u2014"],
      ["Started", timeEl(session.started_at)],
      ["Expert (owner)", session.owner ?? "none"],
      ["Open escalation", session.open_escalation_id ? code(session.open_escalation_id) : "none"],
      ["Closed", session.closed_at ? timeEl(session.closed_at) : "no"],
    ]),
    el("h3", {}, "Turns"),
    turns.length ? el("ol", { className: "turns" }, turns.map(turnEl)) : el("p", { className: "empty" }, "No turns."),
    el("h3", {}, "Escalations"),
    escalations.length ? el("ol", { className: "escalations" }, escalations.map(escalationEl))
      : el("p", { className: "empty" }, "None: the gate has not called a human in this session."));
}

function renderSessions(sessions) {
  reconcile(byId("sessions"), sessions, { key: (s) => s.session_id, create: createSession, update: updateSession });
  byId("sessions-empty").hidden = sessions.length > 0;
  byId("sessions-count").textContent = `(${sessions.length})`;
}

// Executions ------------------------------------------------------------------------------------------

function updateExecution(row, execution) {
  row.id = `execution-${execution.name}`;
  fill(row,
    el("td", {}, execution.workflow),
    el("td", {}, statusEl(execution.status)),
    el("td", { className: "current-state" }, execution.current_state ?? "\u2014"),
    el("td", {}, code(execution.name)),
    el("td", {}, timeEl(execution.started_at)),
    el("td", {}, timeEl(execution.stopped_at)));
}

function renderExecutions(executions) {
  reconcile(byId("executions-body"), executions, {
    key: (e) => `${e.workflow}/${e.name}`, create: () => el("tr"), update: updateExecution,
  });
  byId("executions-empty").hidden = executions.length > 0;
  byId("executions").closest(".table-scroll").hidden = executions.length === 0;
  byId("executions-count").textContent = `(${executions.length})`;
}

// Transcripts ------------------------------------------------------------------------------------------

function createTranscript(transcript) {
  const button = el("button", { type: "button", className: "secondary view-transcript" }, "View",
    el("span", { className: "visually-hidden" }, ` transcript ${transcript.key}`));
  button.addEventListener("click", () => viewTranscript(transcript.key, button));
  // The View button beside the key, where it can be seen without scrolling the table on a phone.
  return el("tr", {}, el("td", { className: "transcript-key" }), el("td", {}, button), el("td"), el("td"));
}

function updateTranscript(row, transcript) {
  const [key, , size, modified] = row.cells;
  fill(key, code(transcript.key));
  size.textContent = `${Number(transcript.size).toLocaleString()} bytes`;
  fill(modified, timeEl(transcript.last_modified));
}

function renderTranscripts(transcripts) {
  reconcile(byId("transcripts-body"), transcripts, {
    key: (t) => t.key, create: createTranscript, update: updateTranscript,
  });
  byId("transcripts-empty").hidden = transcripts.length > 0;
  byId("transcripts").closest(".table-scroll").hidden = transcripts.length === 0;
  byId("transcripts-count").textContent = `(${transcripts.length})`;
}

let viewing = 0; // the latest View: an older answer arriving late is dropped
let opener = null;

async function viewTranscript(key, button) {
  const request = ++viewing;
  opener = button;
  viewer.section.hidden = false;
  viewer.title.textContent = `Transcript ${key}`;
  viewer.status.textContent = "Loading\u2026";
  viewer.error.hidden = true;
  viewer.json.hidden = true;
  viewer.title.focus();
  try {
    const transcript = await getJson(`/local/api/transcript?key=${encodeURIComponent(key)}`);
    if (request !== viewing) return;
    viewer.json.textContent = JSON.stringify(transcript, null, 2);
    viewer.json.hidden = false;
    viewer.status.textContent = `As stored in S3, read at ${new Date().toLocaleTimeString()}.`;
  } catch (error) {
    if (request !== viewing) return;
    viewer.status.textContent = "";
    viewer.error.textContent = `Could not read this transcript: ${error.message}`;
    viewer.error.hidden = false;
  }
}

viewer.close.addEventListener("click", () => {
  viewing += 1;
  viewer.section.hidden = true;
  if (opener && opener.isConnected) opener.focus();
});

// Mailbox and the demo's settings ------------------------------------------------------------------------

function renderMails(mails) {
  const newestFirst = [...mails].reverse(); // the API lists mail in the order it arrived
  reconcile(byId("mailbox-subjects"), newestFirst, {
    key: (m) => m.mail_id,
    create: () => el("li"),
    update: (item, mail) => fill(item, el("span", { className: "mail-subject" }, mail.subject),
      ` \u2014 to ${mail.to}, `, timeEl(mail.sent_at)),
  });
  byId("mailbox-empty").hidden = mails.length > 0;
  byId("mailbox-count").textContent = `(${count(mails.length, "mail")})`;
}

function renderDemo(demo) {
  if (!demo || !changed("demo", demo)) return;
  const rows = Object.entries(demo.config_changes ?? {}).map(([key, value]) => [code(key), [
    code(JSON.stringify(value)), CONFIG_REASONS[key] ? `: ${CONFIG_REASONS[key]}` : ": set for this run"]]);
  const seconds = Number(demo.accept_wait_seconds);
  rows.push(["Answer model", demo.model === "bedrock"
    ? "bedrock: Amazon Bedrock answers, with your AWS credentials (the only real AWS service here)"
    : `${demo.model}: the demo's stand-in answers offline from the sample help pages (MODEL=bedrock for Amazon Bedrock)`]);
  rows.push(["Wait for an expert to accept", Number.isFinite(seconds)
    ? `${seconds} seconds${seconds >= 60 ? ` (${+(seconds / 60).toFixed(1)} minutes)` : ""}, then the fallback`
      + " contact is told and the customer hears the experts are busy"
    : "\u2014"]);
  fill(byId("demo-changes"), ...facts(rows).children);
}

// Refreshing ------------------------------------------------------------------------------------------

function render(state) {
  renderSessions(Array.isArray(state.sessions) ? state.sessions : []);
  renderExecutions(Array.isArray(state.executions) ? state.executions : []);
  renderTranscripts(Array.isArray(state.transcripts) ? state.transcripts : []);
  renderMails(Array.isArray(state.mails) ? state.mails : []);
  renderDemo(state.demo);
}

function showUpdated() {
  const parts = [];
  if (lastUpdated) parts.push("Last updated ", timeEl(lastUpdated.toISOString(), { id: "last-updated-time" }));
  else parts.push("Not read yet");
  parts.push(paused ? ". Updates paused." : `. Updates every ${POLL_MS / 1000} seconds.`);
  fill(updated, ...parts);
}

async function refresh() {
  clearTimeout(timer);
  timer = null;
  if (inFlight || document.hidden) return; // a hidden tab is read again once it is shown
  inFlight = true;
  try {
    const state = await getJson("/local/api/state");
    if (!paused) { // a pause while this read was under way: the page stays as the reader paused it
      render(state);
      lastUpdated = new Date();
    }
    problem.hidden = true;
  } catch (error) {
    problem.textContent = `Cannot read what Tandem did (${error.message}). Trying again every `
      + `${POLL_MS / 1000} seconds.`;
    problem.hidden = false;
  } finally {
    inFlight = false;
    showUpdated();
    if (!paused) timer = setTimeout(refresh, POLL_MS);
  }
}

toggle.addEventListener("click", () => {
  paused = !paused;
  toggle.textContent = paused ? "Resume updates" : "Pause updates";
  if (paused) {
    clearTimeout(timer);
    timer = null;
    showUpdated();
  } else {
    refresh();
  }
});

document.addEventListener("visibilitychange", () => { if (!document.hidden && !paused) refresh(); });
showLocalBadge();
refresh();
