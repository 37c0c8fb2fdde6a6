// The review of experts' answers, for rating admins (the raters' console's view "Experts' answers", web/rate.html):
// what an expert answered in a resolved escalation, queued by the feedback sampler, is read by a person before
// it becomes a training example (lambdas/common/expert_answers.py, docs/rating-console.md):
//
//   GET  {ratingApiUrl}expert-answers                         -> {answers: [{candidate_id, question, answer,
//                                                                 replaced, resolved_at, added_at}]}, oldest first
//   POST {ratingApiUrl}expert-answers/{candidate_id}/accept   {question?, answer?} -> {accepted, edited}
//   POST {ratingApiUrl}expert-answers/{candidate_id}/discard  -> {discarded}
//
// - One answer at a time, the oldest first: the customer's question and the expert's answer in text boxes (the
//   reviewer may edit both; a text is sent only when it was changed, so an untouched accept keeps the expert's
//   words), the bot's answer it replaced between them, as text.
// - Keyboard first, as the rating view: A or Enter accepts, D discards, E edits the expert's answer and Q the
//   question, wherever the focus is in the view except in a text box (there Enter is a new line, Ctrl+Enter
//   accepts, Esc leaves the box). After each review the focus goes to the next answer's first heading.
// - Accepting and discarding are final. Another admin may have reviewed the answer meanwhile (409 `reviewed`):
//   the page says so and shows the next one.
// - The queue is read again after each review (one request), so answers others reviewed drop out. Those reviewed
//   here are remembered: the queue's index may still list one for a moment (DynamoDB's indexes are eventually
//   consistent).
// - Every text (the customer's, the expert's, the bot's, the server's) goes into the page as text: textContent
//   and the text boxes' values.

import { ApiError } from "./api.js";
import { count, showMessage, typingIn } from "./render.js";

export const REVIEW_HASH = "expert-answers"; // the view's address: /rate#expert-answers
const QUEUE_PAGE = 25; // the API lists at most this many (lambdas/common/expert_answers.py QUEUE_PAGE)
const FIELDS = { question: ["The customer's question", "review-question"],
  answer: ["The expert's answer", "review-answer"] };
const NO_BOT_ANSWER = "None: the bot gave no answer to this question.";

const $ = (id) => document.getElementById(id);

function readableTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso)
    : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** The server's message for a field, without the field's own name in front ("answer: must not be empty"). */
function withoutFieldName(message, field) {
  return message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
}

export class ExpertAnswersReview {
  /**
   * api: the rating API's client (rate.js RatingApi: expertAnswers, acceptAnswer, discardAnswer).
   * hooks: what the console does for the view: announce(message) to screen readers, showError(message) in the
   * console's alert, signedOut(message), counted(waiting, more) when the queue was read (waiting null: unread).
   */
  constructor(api, hooks) {
    this.api = api;
    this.hooks = hooks;
    this.answers = []; // the pending answers as last read, oldest first, minus those reviewed here
    this.more = false; // the API's page was full: more may be waiting
    this.current = null; // the answer on screen
    this.reviewed = new Set(); // candidate ids reviewed here
    this.busy = false;
    $("review-item").addEventListener("submit", (event) => {
      event.preventDefault();
      this.accept();
    });
    $("review-discard").addEventListener("click", () => this.discard());
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  get open() {
    return !$("review").hidden;
  }

  /** Shows the view (the console hides its others) and the oldest answer waiting. */
  show() {
    $("review").hidden = false;
    this.note("");
    this.fieldError("");
    if (!this.current) $("review-count").textContent = "Reading the queue\u2026";
    $("review-title").focus();
    this.refresh({ focus: true });
  }

  hide() {
    $("review").hidden = true;
  }

  /** Reads the queue: how many wait (for the console's button) and, with the view open, the answer to show. */
  async refresh({ focus = false, said = "" } = {}) {
    let data;
    try {
      data = await this.api.expertAnswers();
    } catch (error) {
      this.hooks.counted(null, false);
      if (this.open) this.failed(error);
      return;
    }
    const answers = Array.isArray(data.answers) ? data.answers : [];
    this.more = answers.length >= QUEUE_PAGE;
    this.answers = answers.filter((answer) => answer && !this.reviewed.has(answer.candidate_id));
    this.hooks.counted(this.answers.length, this.more);
    if (this.open) this.render({ focus, said });
  }

  render({ focus, said }) {
    const waiting = this.answers.length;
    $("review-count").textContent = waiting
      ? `${count(waiting, "answer")}${this.more ? " or more" : ""} waiting for review, the oldest first.` : "";
    // The answer being edited stays on screen while it is still waiting (a refresh must not undo the edits).
    const still = this.current && this.answers.find((answer) => answer.candidate_id === this.current.candidate_id);
    const next = still ? this.current : this.answers[0];
    if (!next) {
      this.current = null;
      $("review-item").hidden = true;
      $("review-empty").hidden = false;
      if (focus) $("review-empty").focus();
      if (said) this.hooks.announce(`${said} Nothing else is waiting.`);
      return;
    }
    if (!still) this.showAnswer(next);
    if (focus) $("review-question-title").focus();
    if (said) this.hooks.announce(`${said} Next answer.`);
  }

  showAnswer(answer) {
    this.current = answer;
    const replaced = typeof answer.replaced === "string" ? answer.replaced : "";
    $("review-item").dataset.candidateId = String(answer.candidate_id);
    $("review-question").value = String(answer.question ?? "");
    $("review-answer").value = String(answer.answer ?? "");
    $("review-replaced").textContent = replaced.trim() ? replaced : NO_BOT_ANSWER;
    $("review-replaced").classList.toggle("none", !replaced.trim());
    $("review-meta").textContent = `Resolved ${readableTime(answer.resolved_at)}; waiting for review since `
      + `${readableTime(answer.added_at)}.`;
    this.fieldError("");
    $("review-empty").hidden = true;
    $("review-item").hidden = false;
  }

  /** The texts the reviewer changed: only those are sent, so an untouched accept keeps the expert's words. */
  edits() {
    const edits = {};
    for (const [field, [, id]] of Object.entries(FIELDS)) {
      const value = $(id).value;
      if (value.trim() !== String(this.current[field] ?? "").trim()) edits[field] = value;
    }
    return edits;
  }

  async accept() {
    if (this.busy || !this.current) return;
    const candidateId = this.current.candidate_id;
    const edits = this.edits();
    this.setBusy(true);
    try {
      await this.api.acceptAnswer(candidateId, edits);
    } catch (error) {
      this.setBusy(false);
      this.failed(error);
      return;
    }
    this.setBusy(false);
    await this.reviewedHere(candidateId, Object.keys(edits).length ? "Accepted as edited." : "Accepted.");
  }

  async discard() {
    if (this.busy || !this.current) return;
    const candidateId = this.current.candidate_id;
    this.setBusy(true);
    try {
      await this.api.discardAnswer(candidateId);
    } catch (error) {
      this.setBusy(false);
      this.failed(error);
      return;
    }
    this.setBusy(false);
    await this.reviewedHere(candidateId, "Discarded.");
  }

  async reviewedHere(candidateId, said) {
    this.reviewed.add(candidateId);
    this.current = null;
    this.note("");
    this.hooks.showError("");
    await this.refresh({ focus: true, said });
  }

  setBusy(busy) {
    this.busy = busy;
    for (const id of ["review-accept", "review-discard"]) $(id).disabled = busy;
    $("review").setAttribute("aria-busy", busy ? "true" : "false");
  }

  note(message) {
    showMessage("review-note", message);
  }

  fieldError(message) {
    showMessage("review-error", message);
  }

  /** Says what went wrong, in the reviewer's terms, and puts the view where the reviewer can go on. */
  failed(error) {
    if (!(error instanceof ApiError)) {
      this.hooks.showError("The rating service could not be reached: nothing was lost. Try again in a moment.");
      return;
    }
    const code = error.problem && error.problem.code;
    if (error.status === 401) {
      this.hooks.signedOut("Your sign-in has ended: sign in again.");
    } else if (error.status === 403) {
      this.hooks.showError("Only members of the rating-admins group review experts' answers. Ask the person who "
        + "runs Tandem to add you to it, then sign in again.");
      $("review-item").hidden = true;
    } else if ((error.status === 409 && code === "reviewed") || error.status === 404) {
      const gone = this.current ? this.current.candidate_id : null;
      if (gone) this.reviewed.add(gone);
      this.current = null;
      this.note(error.status === 409
        ? "Someone else reviewed that answer already, so your review was not kept. Here is the next one."
        : "That answer is no longer in the queue. Here is the next one.");
      this.refresh({ focus: true });
    } else if (error.status === 400 && error.field && FIELDS[error.field]) {
      const [label, id] = FIELDS[error.field];
      this.fieldError(`${label}: ${withoutFieldName(error.message, error.field)}`);
      $(id).focus();
    } else {
      this.hooks.showError(`${error.message} (HTTP ${error.status})`);
    }
  }

  edit(id) {
    const box = $(id);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  onKey(event) {
    if (!this.open || $("review-item").hidden || event.altKey || event.isComposing) return;
    const target = event.target;
    if (typingIn(target)) {
      if (!$("review").contains(target)) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.accept();
      } else if (event.key === "Escape") {
        event.preventDefault();
        $("review-question-title").focus();
      }
      return;
    }
    const inScope = target === document.body || target === document.documentElement || $("review").contains(target);
    if (!inScope || event.ctrlKey || event.metaKey) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const actions = { a: () => this.accept(), d: () => this.discard(), e: () => this.edit("review-answer"),
      q: () => this.edit("review-question") };
    if (Object.hasOwn(actions, key)) {
      event.preventDefault(); // also keeps the letter out of the text box the focus moves to
      actions[key]();
    } else if (key === "Enter" && !(target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement)) {
      event.preventDefault();
      this.accept();
    }
  }
}
