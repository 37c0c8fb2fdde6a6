"""The demo's "Train from the demo's ratings": the fine-tuning pipeline's three steps, run now on this machine
over the ratings the raters' console wrote, with the real code of each step:

1. the dataset: the real dataset Lambda (lambdas/finetune_dataset/handler.py, called with the event the
   pipeline sends it) reads the rating records from the local labeling bucket (ratings/, where the rating API
   writes them) and writes the splits and report.json under datasets/<run>/ of the local artifacts bucket
   (TandemFinetune's, made in moto like every other resource);
2. the training job: `python -m local.simulated_job`, in a process of its own (the server keeps answering),
   with the channels as SageMaker lays them out. The base model is a SIMULATION: a tiny randomly initialised
   T5 (a Llama for kto) built from a config (local/tiny_models.py); the rest is the real job
   (training.cli.main). Its outputs go to models/<job>/output/model/ of the artifacts bucket, where SageMaker
   puts them (the pipeline's OutputDataConfig, uncompressed);
3. the evaluation gate: the real gate Lambda (lambdas/finetune_gate/handler.py, called with the pipeline's
   event) reads gate_answers.jsonl and metrics.json from there, judges, decides and writes report.json and
   report.html under reports/<run>/. Its judge is a STAND-IN (WordOverlapJudge below): Bedrock cannot be
   reached offline.

Each Lambda runs with its stack's settings, built from the demo's configuration as stacks/finetune_stack.py
builds them, except the few DEMO_CHANGES (a person rates a handful of answers, the deployment's minimums are
for hundreds), which the page lists with the reason. The two handlers' start-ups are swapped for the run only
(as the demo swaps the chatbot's): the same handler code, given these settings, the local S3 client and the
stand-in judge.

One run at a time: start() while a run is going raises AlreadyRunning. status() is what the page shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from lambdas.common.startup import Startup
from lambdas.finetune_dataset.settings import DatasetSettings
from lambdas.finetune_gate.answers import Question
from lambdas.finetune_gate.judge import BASE_FIRST, OrderVerdict, PairwiseJudge, order_verdict, parse_verdict
from lambdas.finetune_gate.settings import GateSettings
from local.aws import LocalAws
from local.cdk_app import ROOT
from local.lambda_context import lambda_context
from local.tiny_models import training_settings
from stacks.config import TandemConfig
from stacks.finetune_stack import DATASETS, JOB_NAME_PREFIX, MODELS, RATINGS, REPORTS

# What the demo changes from the configuration for this run, and why (the page and docs/local.md list them).
DEMO_CHANGES: dict[str, tuple[Any, str]] = {
    "finetune_min_train_rows": (3, "a person rates a handful of answers here; a deployment waits for enough "
                                   "ratings to learn from"),
    "finetune_min_eval_rows": (1, "at least one well-rated and one badly rated held-out answer, so the held-out "
                                  "margin can be measured at all; a deployment wants ten of each for a mean that "
                                  "one answer cannot swing"),
    "finetune_eval_fraction": (0.5, "half of the conversations are held out, so a few conversations still leave "
                                    "some questions for the gate"),
    "finetune_gate_min_questions": (1, "the held-out set has a few questions here; a deployment wants 30 judged "
                                       "before the win rate's interval means anything"),
}
# The tiny model's training (local/tiny_models.py training_settings, the tests' and the benchmark's) with more
# epochs, since a handful of rows makes one step per epoch, and shorter generation to keep a run well under a
# minute on two CPUs.
DEMO_EPOCHS = 20
DEMO_GENERATION = {"eval_prompts": 8, "eval_samples": 2, "eval_max_new_tokens": 32, "max_response_length": 48}
# What the page, the report's banner and docs/local.md say this is (after "A simulation.").
SIMULATION_NOTE = ("The base model is a tiny randomly initialised model built from a config, so its answers and "
                   "the tuned model's mean nothing (they are often empty), and the judge is a stand-in that prefers "
                   "the answer sharing more words with the question. The dataset, the training job's code and the "
                   "gate's code are the real ones.")
REPORT_FILE, PAGE_FILE = "report.json", "report.html"
POLL_SECONDS = 0.25
LOG_TAIL_LINES = 8
STEPS = ("dataset", "training", "gate")
_WORD = re.compile(r"[^\W_]+")


class AlreadyRunning(RuntimeError):
    """A run is going: one at a time."""


class StepFailed(RuntimeError):
    def __init__(self, step: str, error: str, message: str, **details: Any):
        super().__init__(message)
        self.step, self.error, self.details = step, error, details


# The stand-in judge --------------------------------------------------------------------------------------

class WordOverlapJudge(PairwiseJudge):
    """A SIMULATED judge for the demo, where Bedrock cannot be reached: the real PairwiseJudge (both orders,
    combined by the gate's rule), whose call to a model is replaced by a rule. Each answer is scored 1-5 by the
    share of the question's distinct words it contains (an empty answer: 1), and the higher score wins, the same
    in either order. It reads no meaning: it says how the gate counts, not which answer is better. Its reply
    goes through the gate's own parser, as a model's would."""

    MODEL_ID = "local.word-overlap-judge.simulated"

    def __init__(self) -> None:
        super().__init__(client=None, model_id=self.MODEL_ID)

    @staticmethod
    def score(question: str, answer: str) -> int:
        wanted = {word.casefold() for word in _WORD.findall(question)}
        found = {word.casefold() for word in _WORD.findall(answer)}
        if not wanted or not found:
            return 1
        return 1 + round(4 * len(wanted & found) / len(wanted))

    def ask(self, question: Question, order: str) -> OrderVerdict:
        base, tuned = self.score(question.question, question.base_answer), self.score(question.question,
                                                                                       question.tuned_answer)
        score_a, score_b = (base, tuned) if order == BASE_FIRST else (tuned, base)
        winner = "A" if score_a > score_b else "B" if score_b > score_a else "tie"
        reply = json.dumps({"score_a": score_a, "score_b": score_b, "winner": winner})
        return order_verdict(order, *parse_verdict(reply))


# The steps' settings ---------------------------------------------------------------------------------------

def demo_value(key: str) -> Any:
    return DEMO_CHANGES[key][0]


def dataset_settings(aws: LocalAws) -> DatasetSettings:
    """The dataset Lambda's settings as stacks/finetune_stack.py gives them, with DEMO_CHANGES."""
    config = aws.config
    return DatasetSettings(
        ratings_bucket=aws.names["labeling_bucket"], ratings_prefix=RATINGS,
        dataset_bucket=aws.names["finetune_artifacts_bucket"], dataset_prefix=DATASETS,
        good_min_rating=config.finetune_good_min_rating, bad_max_rating=config.finetune_bad_max_rating,
        eval_fraction=demo_value("finetune_eval_fraction"), split_seed=config.finetune_split_seed,
        weight_by_agreement=config.finetune_weight_by_agreement,
        min_train_rows=demo_value("finetune_min_train_rows"), min_eval_rows=demo_value("finetune_min_eval_rows"),
        thumbs_weight=config.finetune_thumbs_weight, system_prompt=config.system_prompt)


def gate_settings(aws: LocalAws) -> GateSettings:
    """The gate Lambda's settings as stacks/finetune_stack.py gives them, with DEMO_CHANGES and the stand-in
    judge's name."""
    config = aws.config
    return GateSettings(report_bucket=aws.names["finetune_artifacts_bucket"], report_prefix=REPORTS,
                        judge_model_id=WordOverlapJudge.MODEL_ID, min_lower_bound=config.finetune_gate_min_lower_bound,
                        min_questions=demo_value("finetune_gate_min_questions"),
                        max_failure_share=config.finetune_gate_max_judge_failures)


def tiny_model(config: TandemConfig) -> str:
    """kto trains causal models only (training/README.md): a tiny Llama for it, else a tiny T5 (Flan-T5's kind)."""
    return "llama" if config.finetune_algorithm == "kto" else "t5"


def hyperparameters(config: TandemConfig) -> dict[str, Any]:
    model = tiny_model(config)
    return {"algorithm": config.finetune_algorithm, "model_name_or_path": f"tiny-random-{model} (a simulation)",
            **training_settings(model), "epochs": DEMO_EPOCHS, **DEMO_GENERATION,
            "good_min_rating": config.finetune_good_min_rating, "bad_max_rating": config.finetune_bad_max_rating}


def job_arguments(values: dict[str, Any]) -> list[str]:
    """Hyperparameters as SageMaker's training toolkit passes them: `--name value`, every value a string."""
    return [part for name, value in values.items()
            for part in (f"--{name}", str(value).lower() if isinstance(value, bool) else str(value))]


def settings_that_differ(config: TandemConfig) -> list[dict[str, Any]]:
    return [{"key": key, "deployed": getattr(config, key), "demo": value, "why": why}
            for key, (value, why) in DEMO_CHANGES.items()]


def more_ratings_needed(report: dict[str, Any]) -> dict[str, Any]:
    """From the dataset's report.json: what the split lacks, and at least how many more ratings that takes."""
    train, held_out = report["splits"]["train"], report["splits"]["eval"]
    options = report["options"]
    min_train, min_eval = report.get("min_train_rows", 0), options["min_eval_rows"]
    lacking = {"train_rows": max(0, min_train - train["reward"]),
               "held_out_well_rated": max(0, min_eval - held_out["reward_good"]),
               "held_out_badly_rated": max(0, min_eval - held_out["reward_bad"])}
    sessions = train["sessions"] + held_out["sessions"]
    advice = []
    if sessions < 2:
        advice.append("Whole conversations are held out, never single answers: rate answers from at least two "
                      "conversations (sign in to the chat under another name for a second one).")
    if lacking["train_rows"]:
        advice.append(f"The training split needs {lacking['train_rows']} more rated answers.")
    if lacking["held_out_well_rated"] or lacking["held_out_badly_rated"]:
        advice.append(f"The held-out conversations need {lacking['held_out_well_rated']} more well-rated "
                      f"(rating >= {options['good_min_rating']:g}) and {lacking['held_out_badly_rated']} more badly "
                      f"rated (rating <= {options['bad_max_rating']:g}) answers; which conversations are held out "
                      "is decided by a hash of their id, so rate good and bad answers in several conversations.")
    return {"at_least": sum(lacking.values()), **lacking, "ratings": report["records"], "conversations": sessions,
            "advice": " ".join(advice)}


@contextlib.contextmanager
def started_with(module: Any, dependencies: Any) -> Iterator[None]:
    """A handler module run with these dependencies instead of the ones it builds from its environment (as the
    demo swaps the chatbot's), then put back."""
    deployed = module.dependencies
    module.dependencies = Startup(lambda: dependencies)
    try:
        yield
    finally:
        module.dependencies = deployed


# The runs ------------------------------------------------------------------------------------------------------

class FineTuningRuns:
    """Runs of the pipeline on the demo's ratings, one at a time, each in a thread of its own."""

    def __init__(self, aws: LocalAws, workdir: Path | None = None, *, python: str = sys.executable):
        self.aws = aws
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="tandem-demo-training-"))
        self.python = python
        self._lock = threading.Lock()
        self._status: dict[str, Any] = {"state": "idle"}
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None  # the training job's, while it runs
        self._stopping = False
        self._count = 0

    # what the page reads ------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._lock:
            current = json.loads(json.dumps(self._status))
        return {**current, "simulation": SIMULATION_NOTE,
                "settings_that_differ": settings_that_differ(self.aws.config)}

    def report_page(self, run_id: str) -> str | None:
        """The gate's report.html of a finished run, as the gate wrote it to the artifacts bucket."""
        with self._lock:
            known = self._status.get("run_id") == run_id and self._status.get("gate") is not None
        if not known:
            return None
        body = self._s3().get_object(Bucket=self.aws.names["finetune_artifacts_bucket"],
                                     Key=f"{REPORTS}{run_id}/{PAGE_FILE}")["Body"].read()
        return body.decode("utf-8")

    # starting and stopping -------------------------------------------------------------------------------

    def start(self) -> str:
        """Starts a run in a thread; its id. AlreadyRunning while one is going."""
        run_id = self._begin()
        self._thread = threading.Thread(target=self.run, args=(run_id,), name=f"demo-training-{run_id}", daemon=True)
        self._thread.start()
        return run_id

    def run_now(self) -> dict[str, Any]:
        """A whole run in this thread (tests); its final status."""
        self.run(self._begin())
        return self.status()

    def _begin(self) -> str:
        """A new run's id, its status "running" from now on; AlreadyRunning while one is going."""
        with self._lock:
            if self._status.get("state") == "running":
                raise AlreadyRunning(f"a run is already going ({self._status['run_id']}, step "
                                     f"{self._status['step']}): one at a time")
            self._count += 1
            run_id = f"demo-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{self._count}"
            self._status = self._fresh(run_id)
        return run_id

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self) -> None:
        """Stops the job's process, if one is running, and waits for the run's thread; removes its own folder."""
        with self._lock:
            self._stopping = True
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.wait(15)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _fresh(run_id: str) -> dict[str, Any]:
        return {"state": "running", "run_id": run_id, "step": STEPS[0], "started_at": _now(), "finished_at": None,
                "steps": {step: {"state": "waiting", "seconds": None} for step in STEPS},
                "dataset": None, "training": None, "gate": None, "error": None, "log_tail": []}

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status.update(changes)

    def _step(self, step: str, state: str, seconds: float | None = None) -> None:
        with self._lock:
            self._status["steps"][step] = {"state": state, "seconds": None if seconds is None else round(seconds, 1)}
            if state == "running":
                self._status["step"] = step

    # one run ---------------------------------------------------------------------------------------------

    def run(self, run_id: str) -> None:
        step = STEPS[0]
        try:
            for step, action in zip(STEPS, (self._dataset, self._training, self._gate), strict=True):
                self._step(step, "running")
                began = time.monotonic()
                action(run_id)
                self._step(step, "done", time.monotonic() - began)
            self._update(state="finished", finished_at=_now())
        except StepFailed as failed:
            self._step(failed.step, "failed")
            self._update(state="failed", finished_at=_now(),
                         error={"step": failed.step, "error": failed.error, "message": str(failed), **failed.details})
        except Exception as error:  # noqa: BLE001 - the page shows any error of a step with its message
            self._step(step, "failed")
            self._update(state="failed", finished_at=_now(),
                         error={"step": step, "error": type(error).__name__, "message": str(error)})

    def _s3(self) -> Any:
        return self.aws.client("s3")

    def _dataset(self, run_id: str) -> None:
        from lambdas.finetune_dataset import handler
        from lambdas.finetune_dataset.dataset import NotEnoughTrainingData

        settings = dataset_settings(self.aws)
        ready = handler.wired(settings, self._s3())
        try:
            with started_with(handler, ready):
                result = handler.handler({"dataset_id": run_id}, lambda_context("tandem-finetune-dataset"))
        except NotEnoughTrainingData as error:
            report = self._json(settings.dataset_bucket, f"{DATASETS}{run_id}/{REPORT_FILE}")
            self._update(dataset={"report_uri": f"s3://{settings.dataset_bucket}/{DATASETS}{run_id}/{REPORT_FILE}",
                                  "records": report["records"],
                                  "counts": {"train": report["splits"]["train"], "eval": report["splits"]["eval"]}})
            raise StepFailed("dataset", "NotEnoughTrainingData", str(error),
                             more_ratings_needed=more_ratings_needed(report)) from None
        self._update(dataset=result)

    def _training(self, run_id: str) -> None:
        """The SageMaker job, simulated: its channels downloaded from the dataset, the job in a process of its
        own, its outputs uploaded where SageMaker would put them."""
        bucket = self.aws.names["finetune_artifacts_bucket"]
        folder = self.workdir / run_id
        channels = {name: folder / "input" / "data" / name for name in ("train", "eval")}
        for name, path in channels.items():
            self._download(bucket, f"{DATASETS}{run_id}/{name}/", path)
        output, failure, model = folder / "model", folder / "output", folder / "input" / "data" / "model"
        for path in (output, failure, model):
            path.mkdir(parents=True, exist_ok=True)
        job_name = f"{JOB_NAME_PREFIX}-{run_id}"
        values = hyperparameters(self.aws.config)
        environment = {**os.environ, "SM_CHANNEL_TRAIN": str(channels["train"]), "SM_CHANNEL_EVAL": str(channels["eval"]),
                       "SM_CHANNEL_MODEL": str(model), "SM_MODEL_DIR": str(output), "SM_OUTPUT_DIR": str(failure),
                       "TANDEM_TINY_MODEL": tiny_model(self.aws.config), "TOKENIZERS_PARALLELISM": "false",
                       "PYTHONUNBUFFERED": "1",
                       # One thread: as fast for a tiny model, it leaves a CPU to the demo's server, and torch's
                       # threads spin-waiting for a busy CPU once made a ten-second run take minutes.
                       "OMP_NUM_THREADS": "1"}
        log = folder / "job.log"
        described = {"job_name": job_name, "model": f"tiny randomly initialised {tiny_model(self.aws.config)} "
                                                    "(a simulation)", "hyperparameters": values}
        self._update(training=described)
        with log.open("wb") as sink:
            with self._lock:  # a stop from now on ends this process
                if self._stopping:
                    raise StepFailed("training", "Stopped", "the demo is stopping")
                process = self._process = subprocess.Popen(
                    [self.python, "-m", "local.simulated_job", *job_arguments(values)], cwd=ROOT, env=environment,
                    stdout=sink, stderr=subprocess.STDOUT)
            while process.poll() is None:
                self._update(log_tail=_tail(log))
                time.sleep(POLL_SECONDS)
        with self._lock:
            self._process = None
        self._update(log_tail=_tail(log))
        if process.returncode != 0:
            reason = (failure / "failure").read_text() if (failure / "failure").is_file() else ""
            lines = _tail(log)
            raise StepFailed("training", "TrainingJobFailed",
                             reason or f"the training job ended with exit code {process.returncode}: "
                                       f"{lines[-1] if lines else 'no output'}")
        prefix = f"{MODELS}{job_name}/output/model/"
        self._upload(output, bucket, prefix)
        metrics = json.loads((output / "metrics.json").read_text())
        self._update(training={**described, "model_artifacts": f"s3://{bucket}/{prefix}",
                               "rows": metrics["rows"], "steps": metrics["training"]["steps"],
                               "seconds": metrics["training"]["seconds"], "eval": metrics["eval"],
                               "checks": metrics["checks"], "gate_questions": metrics["gate_questions"],
                               "importable": (metrics["import_check"] or {}).get("importable")})
        if not metrics["gate_questions"]:
            raise StepFailed("training", "NoHeldOutQuestions",
                             "the training job answered no held-out question, so the gate has nothing to judge")

    def _gate(self, run_id: str) -> None:
        from lambdas.finetune_gate import handler

        bucket = self.aws.names["finetune_artifacts_bucket"]
        ready = handler.wired(gate_settings(self.aws), WordOverlapJudge(), self._s3())
        outputs = f"s3://{bucket}/{MODELS}{JOB_NAME_PREFIX}-{run_id}/output/model/"
        event = {"evaluation_id": run_id, "answers_uri": f"{outputs}gate_answers.jsonl",
                 "metrics_uri": f"{outputs}metrics.json"}
        with started_with(handler, ready):
            result = handler.handler(event, lambda_context("tandem-finetune-gate"))
        report = self._json(bucket, f"{REPORTS}{run_id}/{REPORT_FILE}")
        self._update(gate={**result, "judge": WordOverlapJudge.MODEL_ID, "thresholds": report["thresholds"],
                           "mean_scores": report["mean_scores"], "report_page": f"/local/api/training/report?run={run_id}"})

    # S3 -------------------------------------------------------------------------------------------------

    def _json(self, bucket: str, key: str) -> Any:
        return json.loads(self._s3().get_object(Bucket=bucket, Key=key)["Body"].read())

    def _download(self, bucket: str, prefix: str, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for entry in page.get("Contents", []):
                name = entry["Key"][len(prefix):]
                if name and "/" not in name:
                    (folder / name).write_bytes(self._s3().get_object(Bucket=bucket, Key=entry["Key"])["Body"].read())

    def _upload(self, folder: Path, bucket: str, prefix: str) -> None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self._s3().put_object(Bucket=bucket, Key=f"{prefix}{path.relative_to(folder).as_posix()}",
                                  Body=path.read_bytes())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _tail(log: Path) -> list[str]:
    """The job log's last lines, without the progress bars' carriage-return frames."""
    try:
        text = log.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    lines = [line.rsplit("\r", 1)[-1].strip() for line in text.splitlines()]
    return [line for line in lines if line][-LOG_TAIL_LINES:]
