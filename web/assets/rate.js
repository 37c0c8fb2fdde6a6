// The raters' console (web/rate.html): a rater rates sampled bot answers one at a time, over the rating API
// (lambdas/rating_api/handler.py, docs/rating-console.md):
//
//   GET  {ratingApiUrl}batches                                    -> {batches: [...], admin, rater}
//   POST {ratingApiUrl}batches/{batch}/next                       -> {item | null, batch, mine}
//   POST {ratingApiUrl}batches/{batch}/items/{item}/rating        {value, comment?, better_answer?}
//   POST {ratingApiUrl}batches/{batch}/items/{item}/skip
//   GET  {ratingApiUrl}batches/{batch}, .../records; POST .../close    (rating admins)
//   {ratingApiUrl}expert-answers...                               (rating admins: expert-answers.js)
//
// - One item at a time: the API holds one item per rater, so nothing can be fetched ahead. The page stays
//   light instead: one request for the rating, one for the next item, nothing re-rendered but the item.
// - Keyboard first: 1-5 choose the rating, Enter submits, S skips, wherever the focus is except in a text box
//   (there Enter is a new line, Ctrl+Enter submits, Esc leaves the box). After each rating the focus goes to
//   the new item's first heading, so a screen reader reads the next question and the keys keep working.
// - Every text from the item (the question, the answer, its sources; the answer may contain markup) and from
//   the server goes into the page as text (render.js).
// - The chosen batch is in the address's fragment (#<batch_id>), so a reload stays on it.
// - Signed in through auth.js with the `raters` group; members of `rating-admins` also see the batch's
//   results and review the experts' answers (expert-answers.js, at #expert-answers). A rating admin who is not
//   a rater (GET /batches says `rater`) follows the batches without being offered anything to rate. The API
//   decides who may do what; the groups only decide what the page shows.

import { ApiError, requestJson } from "./api.js";
import { startSignedInPage } from "./auth.js";
import { claimsOf } from "./cognito-auth.js";
import { ExpertAnswersReview, REVIEW_HASH } from "./expert-answers.js";
import { announceIn, count, el, fill, showLocalBadge, showMessage, typingIn } from "./render.js";

const RATERS_GROUP = "raters";
const ADMINS_GROUP = "rating-admins";
const REQUEST_TIMEOUT_MS = 15_000;

const $ = (id) => document.getElementById(id);

// The rating API ----------------------------------------------------------------------------------------

class RatingApi {
  constructor(baseUrl, auth) {
    this.base = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    this.auth = auth;
  }

  request(method, path, body) {
    return requestJson(method, this.base + path, { headers: this.auth.headers(), body, timeoutMs: REQUEST_TIMEOUT_MS });
  }

  batchPath(batchId, rest = "") {
    return `batches/${encodeURIComponent(batchId)}${rest}`;
  }

  itemPath(batchId, itemId, action) {
    return this.batchPath(batchId, `/items/${encodeURIComponent(itemId)}/${action}`);
  }

  batches() { return this.request("GET", "batches"); }
  next(batchId) { return this.request("POST", this.batchPath(batchId, "/next"), {}); }
  rate(batchId, itemId, rating) { return this.request("POST", this.itemPath(batchId, itemId, "rating"), rating); }
  skip(batchId, itemId) { return this.request("POST", this.itemPath(batchId, itemId, "skip"), {}); }
  details(batchId) { return this.request("GET", this.batchPath(batchId)); }
  records(batchId) { return this.request("GET", this.batchPath(batchId, "/records")); }
  close(batchId) { return this.request("POST", this.batchPath(batchId, "/close"), {}); }

  answerPath(candidateId, action) { return `expert-answers/${encodeURIComponent(candidateId)}/${action}`; }
  expertAnswers() { return this.request("GET", "expert-answers"); }
  acceptAnswer(candidateId, edits) { return this.request("POST", this.answerPath(candidateId, "accept"), edits); }
  discardAnswer(candidateId) { return this.request("POST", this.answerPath(candidateId, "discard"), {}); }
}

// The page's state --------------------------------------------------------------------------------------

const view = {
  api: null,
  auth: null,
  batchId: null, // the batch being rated
  batchCount: 0, // how many open batches the list showed
  item: null, // the item on screen: {item_id, question, answer, sources, held_until}
  busy: false, // a rating, a skip or a next-item request is in flight
  admin: false,
  rater: true, // offered items to rate: in `raters` (GET /batches says; until then the token's groups)
  review: null, // the review of experts' answers (rating admins)
  sub: null, // the signed-in user's id, to mark them among the batch's raters
};

function showError(message) {
  showMessage("rate-error", message);
}

/** Says `message` to screen readers (the page shows the same state). */
function announce(message) {
  announceIn($("rate-announcer"), message, 50);
}

function fieldError(message) {
  showMessage("rating-error", message);
}

function readableTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleTimeString(undefined, { timeStyle: "short" });
}

function setBusy(busy) {
  view.busy = busy;
  for (const id of ["submit-rating", "skip-item"]) $(id).disabled = busy;
  $("rating").setAttribute("aria-busy", busy ? "true" : "false");
}

// Choosing a batch --------------------------------------------------------------------------------------

function batchLine(batch) {
  const mine = batch.mine || {};
  return `${batch.done_count} of ${batch.item_count} done` + (view.rater ? `, you rated ${mine.rated || 0}` : "");
}

async function loadBatches({ focus = false } = {}) {
  showError("");
  let data;
  try {
    data = await view.api.batches();
  } catch (error) {
    failed(error);
    return;
  }
  if (typeof data.rater === "boolean") view.rater = data.rater;
  if (view.review.open) return; // the admin went to the experts' answers meanwhile
  const batches = Array.isArray(data.batches) ? data.batches : [];
  view.batchCount = batches.length;
  const wanted = decodeHash();
  const chosen = batches.find((batch) => batch.batch_id === wanted) || (batches.length === 1 ? batches[0] : null);
  if (chosen) {
    chooseBatch(chosen.batch_id);
    return;
  }
  $("rating").hidden = true;
  $("admin").hidden = true;
  view.review.hide();
  $("batches").hidden = false;
  $("batches-empty").hidden = batches.length > 0;
  fill($("batch-list"), ...batches.map((batch) => {
    const button = el("button", { type: "button", className: "queue-item", dataset: { batchId: batch.batch_id } },
      el("span", { className: "queue-reason" }, `Batch ${batch.batch_id}`),
      el("span", { className: "queue-meta" }, batchLine(batch)));
    button.addEventListener("click", () => chooseBatch(batch.batch_id));
    return el("li", {}, button);
  }));
  if (focus) $("batches-title").focus();
}

// The local demo only: runs the feedback sampler now (POST /local/api/sample), then lists the batches again.
async function takeSample() {
  const button = $("take-sample");
  button.disabled = true;
  sampleStatus("Sampling the answers given so far\u2026");
  try {
    const response = await fetch("/local/api/sample", { method: "POST", headers: { Accept: "application/json" } });
    const summary = await response.json();
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    sampleStatus([sampledLine(summary), expertAnswersLine(summary)].filter(Boolean).join(" "));
    if (view.admin && summary.expert_answers) view.review.refresh(); // the count on "Review experts' answers"
    if (summary.rating_batch) {
      history.replaceState(null, "", `#${encodeURIComponent(summary.rating_batch)}`); // the new batch is chosen
      await loadBatches({ focus: true });
    }
  } catch (error) {
    sampleStatus(`The sample could not be taken (${error.message}).`);
  } finally {
    button.disabled = false;
  }
}

function sampleStatus(message) {
  const status = $("sample-status");
  status.textContent = message;
  status.hidden = !message;
}

function sampledLine(summary) {
  if (summary.rating_batch) return `Batch ${summary.rating_batch}: ${summary.rating_items} answers to rate.`;
  const reason = summary.reason || "no answers were sampled";
  return `Nothing to rate: ${reason}.` + (summary.expert_answers ? "" : " Ask the assistant something first.");
}

/** What the sample did with the experts' answers of the escalations resolved since (the sampler's summary). */
function expertAnswersLine(summary) {
  const found = Number(summary.expert_answers) || 0;
  if (!found) return "";
  const queued = Number(summary.expert_answers_queued) || 0;
  const before = found - queued;
  return `${count(queued, "expert's answer", "experts' answers")} queued for review`
    + (before > 0 ? ` (${before} ${before === 1 ? "was" : "were"} in the queue already)` : "")
    + (view.admin ? ": open them with Review experts' answers." : " by a rating admin.");
}

function decodeHash() {
  try {
    return decodeURIComponent(location.hash.replace(/^#/, ""));
  } catch (error) {
    return "";
  }
}

function chooseBatch(batchId) {
  view.batchId = batchId;
  view.item = null;
  history.replaceState(null, "", `#${encodeURIComponent(batchId)}`);
  $("batches").hidden = true;
  $("rating").hidden = false;
  $("batch-done").hidden = true;
  $("item").hidden = true;
  $("batch-name").textContent = batchId;
  $("change-batch").hidden = view.batchCount < 2;
  $("progress-text").textContent = "Reading the batch\u2026";
  $("admin").hidden = !view.admin;
  $("not-a-rater").hidden = view.rater;
  if (view.admin) refreshAdmin();
  if (view.rater) {
    loadNext({ focus: true });
  } else {
    $("admin-title").focus(); // a rating admin who does not rate follows the batch: nothing is held for them
  }
}

// Progress and the item ---------------------------------------------------------------------------------

function renderProgress(batch, mine) {
  if (!batch) return;
  const rated = mine && Number.isInteger(mine.rated) ? mine.rated : 0;
  const skipped = mine && Number.isInteger(mine.skipped) ? mine.skipped : 0;
  $("progress-text").textContent = `${batch.done_count} of ${batch.item_count} done in this batch`
    + (view.rater ? `, you rated ${rated}` + (skipped ? ` and skipped ${skipped}.` : ".") : ".");
  const bar = $("progress-bar");
  bar.max = Math.max(1, batch.item_count);
  bar.value = Math.min(batch.done_count, bar.max);
}

function renderItem(item, { focus }) {
  view.item = item;
  $("item-question").textContent = String(item.question);
  $("item-answer").textContent = String(item.answer);
  const sources = Array.isArray(item.sources) ? item.sources : [];
  fill($("item-sources"), ...sources.map((source) => el("li", {}, String(source))));
  $("item-sources").hidden = sources.length === 0;
  $("item-no-sources").hidden = sources.length > 0;
  $("item-held").textContent = item.held_until
    ? `This item is yours until ${readableTime(item.held_until)}; then it goes back to the pool.` : "";
  $("rating-form").reset();
  fieldError("");
  $("batch-done").hidden = true;
  $("item").hidden = false;
  $("item").dataset.itemId = item.item_id;
  if (focus) focusUnlessBusyElsewhere($("item-title"));
}

/** Moves the focus to `node`, unless the person is working in the admin section meanwhile (an item arriving
 * must not pull them out of it). */
function focusUnlessBusyElsewhere(node) {
  if (!$("admin").contains(document.activeElement)) node.focus();
}

function showFinished(message) {
  view.item = null;
  $("item").hidden = true;
  const done = $("batch-done");
  done.textContent = message;
  done.hidden = false;
  done.tabIndex = -1;
  focusUnlessBusyElsewhere(done);
}

async function loadNext({ focus = true, said = "" } = {}) {
  const batchId = view.batchId;
  setBusy(true);
  let data;
  try {
    data = await view.api.next(batchId);
  } catch (error) {
    setBusy(false);
    failed(error);
    return;
  }
  setBusy(false);
  if (view.batchId !== batchId) return; // another batch was chosen meanwhile
  renderProgress(data.batch, data.mine);
  if (data.item) {
    renderItem(data.item, { focus });
    if (said) announce(`${said} Next item.`);
  } else {
    showFinished("Nothing is left for you in this batch: every item is rated, held by another rater or "
      + "skipped by you. Thank you!");
    if (said) announce(said);
  }
}

// Rating and skipping -----------------------------------------------------------------------------------

function chosenValue() {
  const checked = $("rating-form").querySelector("input[name=value]:checked");
  return checked ? Number(checked.value) : null;
}

function choose(value) {
  const radio = $("rating-form").querySelector(`input[name=value][value="${value}"]`);
  if (!radio) return;
  radio.checked = true;
  radio.focus();
  fieldError("");
}

async function submitRating() {
  if (view.busy || !view.item) return;
  const value = chosenValue();
  if (value === null) {
    fieldError("Choose a rating from 1 to 5 first (keys 1 to 5).");
    $("rating-form").querySelector("input[name=value]").focus();
    return;
  }
  const rating = { value };
  const comment = $("rating-comment").value.trim();
  const better = $("rating-better").value.trim();
  if (comment) rating.comment = comment;
  if (better) rating.better_answer = better;
  const { item_id: itemId } = view.item;
  setBusy(true);
  try {
    const data = await view.api.rate(view.batchId, itemId, rating);
    renderProgress(data.batch, data.mine);
  } catch (error) {
    setBusy(false);
    failed(error);
    return;
  }
  setBusy(false);
  showError("");
  $("rate-note").hidden = true;
  if (view.admin) refreshAdmin();
  await loadNext({ said: `Rated ${value}.` });
}

async function skipItem() {
  if (view.busy || !view.item) return;
  setBusy(true);
  try {
    const data = await view.api.skip(view.batchId, view.item.item_id);
    renderProgress(data.batch, data.mine);
  } catch (error) {
    setBusy(false);
    failed(error);
    return;
  }
  setBusy(false);
  showError("");
  $("rate-note").hidden = true;
  await loadNext({ said: "Skipped: it goes to another rater." });
}

function note(message) {
  showMessage("rate-note", message);
}

/** Says what went wrong, in the rater's terms, and puts the page where it can go on. */
function failed(error) {
  if (!(error instanceof ApiError)) {
    showError("The rating service could not be reached: nothing was lost. Try again in a moment.");
    return;
  }
  const code = error.problem && error.problem.code;
  if (error.status === 401) {
    signedOut("Your sign-in has ended: sign in again.");
  } else if (error.status === 403) {
    showError(`You are not in the ${RATERS_GROUP} group, so you cannot rate answers here. Ask the person who `
      + "runs Tandem to add you to it, then sign in again.");
    $("batches").hidden = true;
    $("rating").hidden = true;
  } else if (error.status === 409 && code === "not_assigned") {
    note("Your time for that item ran out and it went to another rater; your rating was not kept. Here is the next one.");
    loadNext();
  } else if (error.status === 409 && code === "already_rated") {
    note("You had rated that item already. Here is the next one.");
    loadNext();
  } else if (error.status === 409 && code === "closed") {
    note("");
    showFinished("This batch is closed: it takes no more ratings. The ratings you gave are kept. Thank you!");
    $("change-batch").hidden = false;
  } else if (error.status === 404) {
    showError("That rating batch does not exist (any more). Choose another one.");
    showBatches();
  } else if (error.status === 400 && error.field) {
    fieldError(`${labelOf(error.field)}: ${error.message}`);
  } else {
    showError(`${error.message} (HTTP ${error.status})`);
  }
}

function labelOf(field) {
  return { value: "Rating", comment: "Comment", better_answer: "Better answer" }[field] || field;
}

function showBatches() {
  view.batchId = null;
  view.item = null;
  history.replaceState(null, "", location.pathname + location.search);
  $("rating").hidden = true;
  $("admin").hidden = true;
  view.review.hide();
  $("open-review").hidden = !view.admin;
  loadBatches({ focus: true });
}

/** The rating admins' review of the experts' answers (expert-answers.js), in place of the batches. */
function showReview() {
  view.batchId = null;
  view.item = null;
  history.replaceState(null, "", `#${REVIEW_HASH}`);
  for (const id of ["batches", "rating", "admin", "open-review"]) $(id).hidden = true;
  showError("");
  note("");
  sampleStatus("");
  view.review.show();
}

function reviewCounted(waiting, more) {
  $("review-waiting").textContent = waiting === null ? "" : `(${waiting}${more ? "+" : ""} waiting)`;
}

// The keyboard ------------------------------------------------------------------------------------------

function onKey(event) {
  if ($("console").hidden || $("rating").hidden || $("item").hidden || event.altKey || event.isComposing) return;
  const target = event.target;
  if (typingIn(target)) {
    if (!$("rating").contains(target)) return;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submitRating();
    } else if (event.key === "Escape") {
      event.preventDefault();
      $("item-title").focus();
    }
    return;
  }
  // The shortcuts act on the item, from the item or from nowhere in particular (not from the admin's buttons).
  const inScope = target === document.body || target === document.documentElement || $("rating").contains(target);
  if (!inScope || event.ctrlKey || event.metaKey) return;
  if (/^[1-5]$/.test(event.key)) {
    event.preventDefault();
    choose(Number(event.key));
  } else if (event.key === "Enter") {
    if (target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) return; // its own action
    event.preventDefault();
    submitRating();
  } else if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    skipItem();
  }
}

// Rating admins: the batch's results --------------------------------------------------------------------

function percent(share) {
  return typeof share === "number" ? `${Math.round(share * 100)}%` : "none yet (no item is complete)";
}

async function refreshAdmin() {
  const batchId = view.batchId;
  if (!view.admin || !batchId) return;
  let data;
  try {
    data = await view.api.details(batchId);
  } catch (error) {
    $("admin-status").textContent = error instanceof ApiError && error.status === 403
      ? "You are not in the rating-admins group: the batch's results are not shown to you."
      : `The batch's results cannot be read (${error.message}).`;
    return;
  }
  if (view.batchId !== batchId) return;
  const batch = data.batch || {};
  if (!view.rater) renderProgress(batch, null); // a rater's progress comes with each item
  fill($("admin-facts"), ...[
    ["Status", batch.status === "closed" ? "Closed" : "Open"],
    ["Items done", `${batch.done_count} of ${batch.item_count}`],
    ["Items remaining", String(batch.remaining)],
    ["Raters per item", String(batch.ratings_per_item)],
    ["Mean agreement", percent(batch.agreement)],
  ].map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));
  const raters = Object.entries(data.raters || {}).sort(([a], [b]) => a.localeCompare(b));
  fill($("admin-raters").tBodies[0], ...(raters.length ? raters.map(([sub, counts]) => el("tr", { dataset: { rater: sub } },
    el("th", { scope: "row" }, sub === view.sub ? `${sub} (you)` : sub),
    el("td", {}, String(counts.rated || 0)), el("td", {}, String(counts.skipped || 0))))
    : [el("tr", {}, el("td", { colspan: "3", className: "empty" }, "Nobody has rated in this batch yet."))]));
  $("admin-close").disabled = batch.status === "closed";
  $("admin").dataset.status = String(batch.status);
}

async function downloadRecords() {
  const batchId = view.batchId;
  const status = $("admin-status");
  status.textContent = "Reading the records\u2026";
  let data;
  try {
    data = await view.api.records(batchId);
  } catch (error) {
    status.textContent = `The records cannot be read (${error.message}).`;
    return;
  }
  const records = Array.isArray(data.records) ? data.records : [];
  const lines = records.map((record) => `${JSON.stringify(record)}\n`).join("");
  const url = URL.createObjectURL(new Blob([lines], { type: "application/x-ndjson" }));
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = `ratings-${batchId.replace(/[^A-Za-z0-9._-]+/g, "_")}.jsonl`;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  status.textContent = `Downloaded ${records.length} record${records.length === 1 ? "" : "s"} (one JSON object a line).`;
}

async function closeBatch() {
  const batchId = view.batchId;
  $("admin-confirm").hidden = true;
  try {
    await view.api.close(batchId);
  } catch (error) {
    $("admin-status").textContent = `The batch was not closed (${error.message}).`;
    return;
  }
  $("admin-status").textContent = "The batch is closed: raters are told when they next ask for an item or rate.";
  await refreshAdmin();
  $("admin-title").focus();
}

// Sign-in -----------------------------------------------------------------------------------------------

function start() {
  $("sign-in").hidden = true;
  $("console").hidden = false;
  $("app-status").textContent = "";
  const claims = claimsOf(view.auth.idToken()) || {};
  view.sub = typeof claims.sub === "string" ? claims.sub : null;
  const groups = view.auth.groups();
  view.admin = groups.includes(ADMINS_GROUP);
  view.rater = groups.includes(RATERS_GROUP);
  $("signed-in-name").textContent = String(view.auth.user() || "");
  showError("");
  note("");
  sampleStatus("");
  $("open-review").hidden = !view.admin;
  reviewCounted(null, false);
  if (view.admin && decodeHash() === REVIEW_HASH) {
    showReview();
    return;
  }
  loadBatches({ focus: false });
  if (view.admin) view.review.refresh(); // how many answers wait, on the button that opens the review
}

function signedOut(message = "") {
  view.batchId = null;
  view.item = null;
  view.review.hide();
  $("console").hidden = true;
  $("sign-in").hidden = false;
  showMessage("sign-in-error", message);
}

async function main() {
  showLocalBadge();
  const started = await startSignedInPage({ apiSetting: "ratingApiUrl", pageName: "raters' console",
                                            groups: [RATERS_GROUP] });
  if (!started) return;
  const { config } = started;
  view.auth = started.auth;
  view.api = new RatingApi(config.ratingApiUrl, view.auth);
  view.review = new ExpertAnswersReview(view.api, { announce, showError, signedOut, counted: reviewCounted });
  // The demo's sign-in gives the groups ticked; the deployed one gives the user pool's.
  $("sign-in-roles").hidden = view.auth.kind !== "local";
  $("rating-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submitRating();
  });
  $("skip-item").addEventListener("click", skipItem);
  $("change-batch").addEventListener("click", showBatches);
  $("batches-refresh").addEventListener("click", () => loadBatches({ focus: true }));
  $("take-sample").addEventListener("click", takeSample);
  $("open-review").addEventListener("click", showReview);
  $("review-back").addEventListener("click", showBatches);
  $("admin-refresh").addEventListener("click", refreshAdmin);
  $("admin-download").addEventListener("click", downloadRecords);
  $("admin-close").addEventListener("click", () => {
    $("admin-confirm").hidden = false;
    $("admin-close-confirm").focus();
  });
  $("admin-close-cancel").addEventListener("click", () => {
    $("admin-confirm").hidden = true;
    $("admin-close").focus();
  });
  $("admin-close-confirm").addEventListener("click", closeBatch);
  $("sign-out").addEventListener("click", () => view.auth.signOut());
  document.addEventListener("keydown", onKey);
  view.auth.mount({ form: $("sign-in-form"), input: $("sign-in-name"), error: $("sign-in-error"), note: $("auth-note"),
    groupChoices: [$("sign-in-as-rater"), $("sign-in-as-admin")] }, (user) => (user ? start() : signedOut()));
  $("app-status").textContent = "";
  if (view.auth.user()) start();
  else signedOut();
}

main();
