"""`python -m tools.evaluate_gate`: how well the escalation gate decides "call a human" on labelled customer
messages, per detector and per rule.

Every message goes through the chatbot's own code: normalisation, the human-request patterns, the
frustration cues, the detector, and EscalationPolicy with the detector's threshold (one turn, so the
negative streak does not apply). It prints precision, recall and the false-escalation rate (the share of
messages that should not escalate but do) for English, the other languages and all messages.

- vader runs for real (offline).
- comprehend and llm read replies from files: recorded ones (`recorded_<detector>.jsonl`, written by
  `--record comprehend` or `--record llm` with AWS credentials) when they exist, else the hand-written stand-ins the repository ships
  (`standin_<detector>.jsonl`, see bench/gate_eval/STANDIN.md). The replies go through botocore and the
  real detectors, so their parsing is measured too. The report says which kind it used.

It also prints, per detector, the calibrated threshold: the lowest one at which the whole gate reaches its
highest recall while false escalations stay within the target (see `calibrate`). cdk.json's defaults came
from it.
The targets are checked by tests/tools/test_evaluate_gate.py and reported in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdas.chatbot.frustration import FrustrationCues
from lambdas.chatbot.human_request import HumanRequestMatcher
from lambdas.chatbot.policy import EscalationPolicy
from lambdas.chatbot.sentiment import GateReading, VaderDetector
from lambdas.common.text_normalization import normalize

ROOT = Path(__file__).resolve().parents[1]
SET_FOLDER = ROOT / "bench" / "gate_eval"
DEFAULT_SETS = (SET_FOLDER / "dev.jsonl", SET_FOLDER / "test.jsonl")
DETECTORS = ("vader", "comprehend", "llm")
GROUPS = ("en", "other", "all")
RULES = ("patterns", "cues", "detector", "detector_flag", "gate")
CALIBRATION_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))
# The model the stand-in replies imitate (a Claude Haiku class model); recorded replies name theirs.
EVALUATED_GATE_MODEL = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
FIELDS = {"id": str, "lang": str, "category": str, "escalate": bool, "text": str}


class EvaluationError(ValueError):
    """A message file Tandem cannot evaluate: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Target:
    group: str
    min_recall: float
    max_false_rate: float


# What the gate must reach on the set: VADER reads English only, so it is held to the English messages.
# Comprehend's are reported only (its replies here are stand-ins); it is calibrated like VADER, on all.
TARGETS = {"vader": Target("en", 0.90, 0.03), "llm": Target("all", 0.97, 0.02)}
CALIBRATION_TARGETS = {**TARGETS, "comprehend": Target("all", 0.0, 0.03)}


@dataclass(frozen=True)
class Message:
    id: str
    lang: str
    category: str
    escalate: bool
    text: str

    @property
    def group(self) -> str:
        return "en" if self.lang == "en" else "other"


def load_messages(paths: Iterable[Path]) -> list[Message]:
    messages: list[Message] = []
    seen: set[str] = set()
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise EvaluationError(f"{where}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise EvaluationError(f"{where}: expected an object")
            for name, kind in FIELDS.items():
                if not isinstance(row.get(name), kind):
                    raise EvaluationError(f"{where}: '{name}' must be a {kind.__name__}")
            if row["id"] in seen:
                raise EvaluationError(f"{where}: id {row['id']!r} appears twice")
            seen.add(row["id"])
            messages.append(Message(**{name: row[name] for name in FIELDS}))
    return messages


# Readings: what each detector read in each message (None: the detector failed on it) ----------------------

Readings = dict[str, GateReading | None]


def read_with_vader(messages: Sequence[Message]) -> Readings:
    detector = VaderDetector()
    return {m.id: detector.detect(normalize(m.text)) for m in messages}


def _replies(detector: str, messages: Sequence[Message], folder: Path) -> tuple[str, dict[str, Any]]:
    """("recorded" or "stand-in", replies by message id) for a detector that calls AWS."""
    for kind, name in (("recorded", f"recorded_{detector}.jsonl"), ("stand-in", f"standin_{detector}.jsonl")):
        path = folder / name
        if path.exists():
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            replies = {row["id"]: row for row in rows}
            missing = [m.id for m in messages if m.id not in replies]
            if missing:
                raise EvaluationError(f"{name}: no reply for {', '.join(missing[:5])}"
                                      + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
            return kind, replies
    raise EvaluationError(f"no replies for {detector} in {folder} (recorded_{detector}.jsonl or standin_{detector}.jsonl)")


def read_with_comprehend(messages: Sequence[Message], replies: dict[str, Any]) -> Readings:
    from botocore.stub import Stubber

    from lambdas.chatbot.sentiment import ComprehendDetector
    from lambdas.common import clients

    comprehend = clients.client("comprehend")
    readings: Readings = {}
    with Stubber(comprehend) as stub:
        clients.set_client("comprehend", comprehend)
        for m in messages:
            reply = replies[m.id]
            stub.add_response("detect_sentiment", reply["response"])
            readings[m.id] = ComprehendDetector(reply["LanguageCode"]).detect(normalize(m.text))
    return readings


def converse_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A stored llm reply as the Converse response botocore parses: a GateVerdict tool call, or free text."""
    if "tool" in reply:
        content: list[dict[str, Any]] = [{"toolUse": {"toolUseId": "tooluse_eval", "name": "GateVerdict",
                                                      "input": reply["tool"]}}]
        stop = "tool_use"
    else:
        content, stop = [{"text": reply["text"]}], "end_turn"
    return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
            "usage": {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}, "metrics": {"latencyMs": 0}}


def read_with_llm(messages: Sequence[Message], replies: dict[str, Any]) -> Readings:
    from botocore.stub import Stubber
    from langchain_aws import ChatBedrockConverse

    from lambdas.chatbot.sentiment import GateModelError, LlmDetector
    from lambdas.common import clients

    runtime = clients.client("bedrock-runtime", purpose="gate")
    readings: Readings = {}
    with Stubber(runtime) as stub:
        detector = LlmDetector(EVALUATED_GATE_MODEL, lambda **kwargs: ChatBedrockConverse(
            client=runtime, bedrock_client=runtime, provider="anthropic", **kwargs))
        for m in messages:
            stub.add_response("converse", converse_reply(replies[m.id]["reply"]))
            try:
                readings[m.id] = detector.detect(normalize(m.text))
            except GateModelError:
                readings[m.id] = None  # the chatbot counts a GateFailure and answers without the detector
    return readings


# Recording real replies (needs AWS credentials and access to Comprehend and the gate model) --------------

def reply_of(response: dict[str, Any]) -> dict[str, Any]:
    """A Converse response as the llm reply files keep it: the GateVerdict call's arguments, or the text."""
    content = response["output"]["message"]["content"]
    calls = [c["toolUse"] for c in content if "toolUse" in c]
    if calls:
        return {"tool": calls[0]["input"]}
    return {"text": "".join(c.get("text", "") for c in content)}


def record(messages: Sequence[Message], detector: str, folder: Path, *, model_id: str = "") -> Path:
    """Asks the real service about every message and writes recorded_<detector>.jsonl, which the
    evaluation then prefers to the stand-ins."""
    from lambdas.common import clients

    rows = []
    if detector == "comprehend":
        from lambdas.chatbot.sentiment import COMPREHEND_MAX_BYTES, truncate_utf8

        comprehend = clients.client("comprehend")
        for m in messages:
            language = m.lang if m.lang in ("en", "de", "fr", "es", "pt", "it") else "en"
            response = comprehend.detect_sentiment(Text=truncate_utf8(normalize(m.text), COMPREHEND_MAX_BYTES),
                                                   LanguageCode=language)
            rows.append({"id": m.id, "LanguageCode": language,
                         "response": {k: response[k] for k in ("Sentiment", "SentimentScore")}})
    elif detector == "llm":
        from langchain_aws import ChatBedrockConverse

        from lambdas.chatbot import model_ids
        from lambdas.chatbot.sentiment import GateModelError, LlmDetector

        runtime = clients.client("bedrock-runtime", purpose="gate")
        seen: list[dict[str, Any]] = []
        # A copy: langchain-aws takes the response apart once botocore hands it over.
        runtime.meta.events.register("after-call.bedrock-runtime.Converse",
                                     lambda parsed, **_: seen.append(copy.deepcopy(parsed)))
        gate = LlmDetector(model_id, lambda **kwargs: ChatBedrockConverse(
            client=runtime, bedrock_client=runtime, provider=model_ids.provider(model_id) or "", **kwargs))
        for m in messages:
            seen.clear()
            try:
                gate.detect(normalize(m.text))
            except GateModelError:
                pass  # an off-format reply is what we record; a failed call has no reply and stops below
            if not seen:
                raise EvaluationError(f"{m.id}: the gate model gave no reply")
            rows.append({"id": m.id, "reply": reply_of(seen[-1])})
    else:
        raise EvaluationError(f"{detector} needs no recording: it runs offline")
    path = folder / f"recorded_{detector}.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# Scoring ----------------------------------------------------------------------------------------------------

@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def false_rate(self) -> float:
        """False escalations as a share of the messages that should not escalate."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0


@dataclass
class DetectorResult:
    detector: str
    replies: str  # "real", "recorded" or "stand-in"
    threshold: float
    failures: int
    calibrated: float | None = None
    scores: dict[tuple[str, str], Score] = field(default_factory=dict)  # (rule, group) -> score
    misses: list[Message] = field(default_factory=list)
    false_escalations: list[Message] = field(default_factory=list)

    def score(self, rule: str = "gate", group: str = "all") -> Score:
        return self.scores[(rule, group)]


def _policy(threshold: float) -> EscalationPolicy:
    return EscalationPolicy(human_requests=HumanRequestMatcher(), frustration_cues=FrustrationCues(),
                            negative_threshold=threshold, consecutive_negative_turns=0, escalate_on_model_error=False)


def score_detector(detector: str, replies: str, messages: Sequence[Message], readings: Readings,
                   threshold: float) -> DetectorResult:
    policy = _policy(threshold)
    result = DetectorResult(detector, replies, threshold, failures=sum(readings[m.id] is None for m in messages))
    result.scores = {(rule, group): Score() for rule in RULES for group in GROUPS}
    for m in messages:
        text = normalize(m.text)
        reading = readings[m.id]
        negative = reading is not None and reading.sentiment.label == "negative" and reading.sentiment.score >= threshold
        fired = {
            "patterns": policy.human_request(text) is not None,
            "cues": policy.frustration_cues is not None and policy.frustration_cues.find(text) is not None,
            "detector": negative,
            "detector_flag": reading is not None and reading.asks_for_human,
            "gate": policy.decide(text, reading, []) is not None,
        }
        for rule, predicted in fired.items():
            for group in (m.group, "all"):
                result.scores[(rule, group)].add(predicted, m.escalate)
        if m.escalate and not fired["gate"]:
            result.misses.append(m)
        elif fired["gate"] and not m.escalate:
            result.false_escalations.append(m)
    return result


def calibrate(messages: Sequence[Message], readings: Readings, target: Target) -> float:
    """The grid threshold with the highest recall of the whole gate on the target's group while its false
    escalations stay within the target; ties go to the lowest such threshold.

    Ties are the rule here: the rules were written with this set in view, so recall saturates over a range
    of thresholds. The lowest one leaves the detector as much room as the false-escalation budget allows,
    for the messages the rules have never seen."""
    best: tuple[float, float] | None = None
    for threshold in reversed(CALIBRATION_GRID):
        score = score_detector("calibration", "", messages, readings, threshold).score("gate", target.group)
        if score.false_rate <= target.max_false_rate and (best is None or score.recall >= best[0]):
            best = (score.recall, threshold)
    if best is None:
        raise EvaluationError(f"no threshold keeps false escalations within {target.max_false_rate:.0%}")
    return best[1]


def evaluate(messages: Sequence[Message], thresholds: dict[str, float], folder: Path = SET_FOLDER,
             detectors: Sequence[str] = DETECTORS) -> dict[str, DetectorResult]:
    def read(detector: str) -> tuple[str, Readings]:
        if detector == "vader":
            return "real", read_with_vader(messages)
        kind, replies = _replies(detector, messages, folder)
        reader = read_with_comprehend if detector == "comprehend" else read_with_llm
        return kind, reader(messages, replies)

    results = {}
    for detector in detectors:
        kind, readings = read(detector)
        results[detector] = score_detector(detector, kind, messages, readings, thresholds[detector])
        results[detector].calibrated = calibrate(messages, readings, CALIBRATION_TARGETS[detector])
    return results


# Report -----------------------------------------------------------------------------------------------------

RULE_NAMES = {"patterns": "human-request patterns", "cues": "frustration cues", "detector": "detector >= threshold",
              "detector_flag": "detector: asks for a human", "gate": "whole gate"}


def report(messages: Sequence[Message], results: dict[str, DetectorResult]) -> str:
    counts = {g: sum(1 for m in messages if g in ("all", m.group)) for g in GROUPS}
    lines = [f"Messages: {counts['all']} ({counts['en']} English, {counts['other']} in other languages); "
             f"should escalate: {sum(m.escalate for m in messages)}.", "",
             "| Detector (replies) | Threshold | Rule | Group | Precision | Recall | False escalations |",
             "|---|---|---|---|---|---|---|"]
    for result in results.values():
        for rule in RULES:
            if rule == "detector_flag" and result.detector != "llm":
                continue
            for group in GROUPS:
                s = result.score(rule, group)
                lines.append(f"| {result.detector} ({result.replies}) | {result.threshold:.2f} | {RULE_NAMES[rule]} | "
                             f"{group} | {s.precision:.3f} | {s.recall:.3f} ({s.tp}/{s.tp + s.fn}) | "
                             f"{s.false_rate:.3f} ({s.fp}/{s.fp + s.tn}) |")
    lines += ["", "| Detector | Detector failures | Calibrated threshold | Target | Met |", "|---|---|---|---|---|"]
    for result in results.values():
        target = TARGETS.get(result.detector)
        met = "-"
        if target:
            s = result.score("gate", target.group)
            met = "yes" if s.recall >= target.min_recall and s.false_rate <= target.max_false_rate else "NO"
        goal = (f"{target.group}: recall >= {target.min_recall:.2f}, false escalations <= {target.max_false_rate:.0%}"
                if target else "reported only")
        lines.append(f"| {result.detector} | {result.failures} | {result.calibrated} | {goal} | {met} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from stacks.config import TandemConfig

    parser = argparse.ArgumentParser(prog="python -m tools.evaluate_gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=Path, nargs="+", default=list(DEFAULT_SETS),
                        help="JSON Lines files of labelled messages (default: the repository's set)")
    parser.add_argument("--detectors", nargs="+", choices=DETECTORS, default=list(DETECTORS))
    parser.add_argument("--show-errors", action="store_true", help="list every missed and false escalation")
    parser.add_argument("--record", choices=("comprehend", "llm"),
                        help="ask the real service (AWS credentials needed) and write recorded_<detector>.jsonl first")
    parser.add_argument("--model-id", help="the gate model to record (default: cdk.json's effective gate model)")
    args = parser.parse_args(argv)
    defaults = TandemConfig()
    if args.record:
        try:
            path = record(load_messages(args.messages), args.record, SET_FOLDER,
                          model_id=args.model_id or defaults.effective_gate_model_id)
        except EvaluationError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"recorded {path.relative_to(ROOT)}")
    thresholds = {d: getattr(defaults, f"{d}_negative_threshold") for d in DETECTORS}
    try:
        messages = load_messages(args.messages)
        results = evaluate(messages, thresholds, detectors=args.detectors)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(messages, results))
    if args.show_errors:
        for result in results.values():
            for kind, found in (("missed", result.misses), ("false", result.false_escalations)):
                for m in found:
                    print(f"{result.detector}\t{kind}\t{m.id}\t{m.category}\t{m.text[:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
