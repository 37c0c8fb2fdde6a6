// Behind the scenes, the local demo only: "Train from the demo's ratings" (local/finetuning.py). The button
// starts a run (POST /local/api/training); while it runs the page reads its status every second (GET
// /local/api/training): the three steps, the training job's last log lines, then the gate's decision, its win
// rate and a link to the gate's own report. It is a simulation (a tiny randomly initialised model, a stand-in
// judge) and the page says so. Every value is set as text (render.js).

import { el, facts, fill, getJson, link } from "./render.js";

const POLL_MS = 1000;
const STEPS = {
  dataset: "Dataset: the dataset Lambda reads the rating records and writes the splits",
  training: "Training job: the real job's code tunes a tiny simulated model",
  gate: "Evaluation gate: the gate Lambda, with a stand-in judge, compares and decides",
};
const STEP_STATES = { waiting: "waiting", running: "running\u2026", done: "done", failed: "failed" };
const OUTCOMES = {
  passed: "Passed: the tuned model would be imported",
  failed: "Refused: the current model stays",
  judge_unavailable: "Refused (judge unavailable): the current model stays",
};

const byId = (id) => document.getElementById(id);
const section = byId("training-section");
const button = byId("training-start");
const statusLine = byId("training-status");
const problem = byId("training-error");
let timer = null;

const percent = (value) => `${(Number(value) * 100).toFixed(1)}%`;

function stepsEl(status) {
  return Object.entries(STEPS).map(([step, name]) => {
    const state = (status.steps && status.steps[step]) || { state: "waiting" };
    const seconds = state.seconds !== null && state.seconds !== undefined ? ` (${state.seconds} s)` : "";
    return el("li", { className: `step-${state.state}`, dataset: { step, state: state.state } },
      `${name}: ${STEP_STATES[state.state] || state.state}${seconds}`);
  });
}

function renderError(error) {
  if (!error) {
    problem.hidden = true;
    return;
  }
  const needed = error.more_ratings_needed;
  fill(problem,
    el("p", {}, el("strong", {}, `The ${error.step} step failed (${error.error}): `), error.message),
    needed ? el("p", { id: "training-more-ratings" },
      `At least ${needed.at_least} more ratings are needed (${needed.ratings} ratings from `
      + `${needed.conversations} conversations so far). ${needed.advice}`) : null);
  problem.hidden = false;
}

function renderDataset(dataset) {
  const box = byId("training-dataset");
  box.hidden = !dataset;
  if (!dataset) return;
  const counts = dataset.counts || {};
  const train = counts.train || {};
  const held = counts.eval || {};
  fill(box, el("h3", {}, "The dataset"), facts([
    ["Rating records", String(dataset.records ?? counts.records ?? 0)],
    ["Training split", `${train.reward ?? 0} rated answers from ${train.sessions ?? 0} conversations`],
    ["Held out", `${held.reward ?? 0} rated answers from ${held.sessions ?? 0} conversations (${held.reward_good ?? 0} `
      + `well rated, ${held.reward_bad ?? 0} badly rated)`],
    dataset.dataset_uri ? ["Written to", el("code", {}, dataset.dataset_uri)] : null,
    dataset.report_uri && !dataset.dataset_uri ? ["Report", el("code", {}, dataset.report_uri)] : null,
  ]));
}

function renderJob(training) {
  const box = byId("training-job");
  box.hidden = !training;
  if (!training) return;
  const checks = training.checks;
  fill(box, el("h3", {}, "The training job"), facts([
    ["Job", el("code", {}, training.job_name)],
    ["Base model", training.model],
    training.steps !== undefined ? ["Trained", `${training.steps} steps in ${Number(training.seconds).toFixed(1)} s on `
      + `${training.rows.train} rows; ${training.gate_questions} held-out questions answered by both models`] : null,
    checks ? ["Run checks", checks.passed ? "passed" : `failed: ${checks.failures.map((f) => f.check).join(", ")}`]
      : null,
    training.model_artifacts ? ["Outputs", el("code", {}, training.model_artifacts)] : null,
  ]));
}

function renderGate(gate) {
  const result = byId("training-result");
  result.hidden = !gate;
  if (!gate) return;
  byId("training-outcome").textContent = OUTCOMES[gate.outcome] || gate.outcome;
  byId("training-outcome").dataset.outcome = gate.outcome;
  const rate = gate.win_rate;
  const counts = gate.counts || {};
  fill(byId("training-gate-facts"),
    ...facts([
      ["Win rate", rate ? el("span", { id: "training-win-rate" }, `${percent(rate.value)} (95% interval `
        + `${percent(rate.ci_low)} to ${percent(rate.ci_high)}, ${rate.judged} questions judged)`)
        : el("span", { id: "training-win-rate" }, "none: no question was judged")],
      ["Wins / losses / ties", `${counts.wins} / ${counts.losses} / ${counts.ties} of ${counts.questions} questions`],
      ["Judge", `${gate.judge} (a stand-in: Bedrock cannot be reached offline)`],
      gate.thresholds ? ["Thresholds", `win rate's lower bound above ${percent(gate.thresholds.min_lower_bound)}, `
        + `at least ${gate.thresholds.min_questions} questions judged`] : null,
    ]).childNodes);
  fill(byId("training-reasons"), (gate.reasons || []).map((reason) => el("li", {}, reason)));
  fill(byId("training-report-link"), link(gate.report_page, "Open the gate's report (report.html, as the gate wrote it)",
    { target: "_blank", rel: "noopener" }));
}

function render(status) {
  const running = status.state === "running";
  button.disabled = running;
  if (status.simulation) byId("training-simulation-text").textContent = status.simulation;
  const lines = {
    idle: "No run yet. Rate some answers in the raters' console, then train.",
    running: `Running ${status.run_id}: the ${status.step} step.`,
    finished: `Run ${status.run_id} finished.`,
    failed: `Run ${status.run_id} failed at the ${status.error ? status.error.step : status.step} step.`,
  };
  statusLine.textContent = lines[status.state] || status.state;
  fill(byId("training-steps"), status.state === "idle" ? [] : stepsEl(status));
  renderError(status.error);
  renderDataset(status.dataset);
  renderJob(status.training);
  renderGate(status.gate);
  const log = status.log_tail || [];
  byId("training-log-details").hidden = log.length === 0;
  byId("training-log").textContent = log.join("\n");
  fill(byId("training-settings"), ...facts((status.settings_that_differ || []).map((change) => [
    change.key, `${change.demo} here, ${change.deployed} deployed: ${change.why}`])).childNodes);
}

async function load(note = "") {
  clearTimeout(timer);
  try {
    const status = await getJson("/local/api/training");
    render(status);
    if (note) statusLine.textContent = note;
    if (status.state === "running") timer = setTimeout(load, POLL_MS);
  } catch (error) {
    statusLine.textContent = `Cannot read the training run (${error.message}); trying again.`;
    timer = setTimeout(load, POLL_MS * 3);
  }
}

async function start() {
  button.disabled = true;
  statusLine.textContent = "Starting\u2026";
  let note = "";
  try {
    const response = await fetch("/local/api/training", { method: "POST", headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
      note = response.status === 409 ? `Already running: ${message}` : `Not started: ${message}`;
    }
  } catch (error) {
    note = `Not started (${error.message}).`;
  }
  load(note);
}

if (section) {
  button.addEventListener("click", start);
  load();
}
