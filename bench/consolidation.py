"""Consolidation: wall time and peak memory of the post-annotation Lambda's streaming consolidation vs a naive one.

A generated input manifest (OBJECTS lines, as the sampler writes them: ~700 characters of question and
answer, and the `source` that ends with the item's reference) and the Ground Truth payload file made from it
(OBJECTS data objects x WORKERS workers, the documented shape: each dataObject.content the line's `source`
value, each annotationData.content a JSON string, one answer in four with a comment) are written to
temporary files. Each variant runs in a
fresh interpreter (`python -m bench.consolidation VARIANT FILE`), whose peak RSS (VmHWM, reset after the
imports through /proc/self/clear_refs) is its own; the table shows that peak and the peak above the interpreter-with-imports baseline measured in the
same process before the run.
- streaming: our code as the handler runs it (lambdas/groundtruth_post): the manifest indexed
  (ManifestIndex: a digest and an offset per line), `iter_objects` (ijson) over the open binary file,
  exactly as it consumes the S3 StreamingBody, `consolidate` per object, records added to a RatingsFile
  (spooled to a temporary file; the S3 merge is not measured), the response list kept.
- naive (this file only): every manifest line held in a dict by its `source`, `json.load` of the whole
  payload, then the same `consolidate` per object, records written to a temporary file, the response kept.
Both variants must return the same response (checked by a digest). Targets: streaming peak <= 25% of naive
(above baseline), streaming time <= naive. Each variant runs RUNS times, alternating; medians are shown.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import OFFLINE_ENV, ROOT, median, table, verdict

OBJECTS = 100_000
WORKERS = 3
RUNS = 3
TARGET_MEMORY = 0.25
LABEL = "bot-answer-rating"
JOB = "tandem-ratings-bench"
WORDS = ("order invoice refund shipping password account settings delivery warranty card payment app store "
         "support ticket update address email confirm cancel subscription plan price discount return label "
         "tracking number customer service hours weekend holiday France Canada « » é ü 😀 <b> & </b>").split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def write_payload(path: Path, manifest: Path, objects: int = OBJECTS, workers: int = WORKERS, seed: int = 7) -> None:
    from lambdas.common.feedback import Sampling
    from lambdas.feedback_sampler.manifest import manifest_line
    from lambdas.feedback_sampler.sampling import Candidate

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out, manifest.open("w", encoding="utf-8") as lines:
        out.write("[")
        for n in range(objects):
            question, answer = _text(rng, 12) + "?", _text(rng, 90) + "."
            line = manifest_line(Candidate(session_id=f"session-{n // 4:06d}", turn_id=f"turn-{n:06d}",
                                           question=question, answer=answer, sources=(), priority=False),
                                 Sampling(strategy="random", seed=seed))
            lines.write(line + "\n")
            annotations = []
            for w in range(workers):
                answer_json = {"relevance": {"label": str(rng.randint(1, 5))}}
                if rng.random() < 0.25:
                    answer_json["comment"] = _text(rng, 10)
                annotations.append({"workerId": f"private.us-east-1.{'W' * 20}{(n + w) % 12:06d}",
                                    "annotationData": {"content": json.dumps(answer_json, ensure_ascii=False)}})
            obj = {"datasetObjectId": str(n), "dataObject": {"content": json.loads(line)["source"]},
                   "annotations": annotations}
            out.write(("," if n else "") + json.dumps(obj, ensure_ascii=False))
        out.write("]")


def _no_fetch(uri: str) -> bytes:
    raise LookupError(uri)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> int:
    """Resets the process's peak RSS and returns the current RSS (kB). ru_maxrss cannot serve here: Linux
    keeps it across fork and exec, so a child started by a big parent reports the parent's size as its peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM) to the current RSS
        return _status_kb("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss() -> int:
    try:
        return _status_kb("VmHWM")
    except (OSError, LookupError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _NaiveManifest:
    """Every line of the manifest in memory, by its source: what the index avoids."""

    def __init__(self, path: str):
        with open(path, encoding="utf-8") as lines:
            self.lines = {line["source"]: line for line in map(json.loads, lines)}

    def find(self, kind: str, value: str) -> dict:
        return self.lines[value]


def run_variant(variant: str, payload: str, manifest: str) -> dict[str, object]:
    """Runs one variant in this process; returns its time, peak RSS and a digest of its response."""
    from lambdas.groundtruth_post.consolidation import BACKEND, consolidate, iter_objects
    from lambdas.groundtruth_post.manifest_index import ManifestIndex
    from lambdas.groundtruth_post.ratings_file import RatingsFile, record_line

    baseline_kb = _reset_peak_rss()
    started = time.perf_counter()
    response: list = []
    worker_ids: dict[str, str] = {}
    if variant == "streaming":
        ratings = RatingsFile(s3=None, bucket="unused", key="unused")
        with open(manifest, "rb") as lines:
            index = ManifestIndex.build(f"s3://bench/{Path(manifest).name}", lines)
        with open(payload, "rb") as body:
            for obj in iter_objects(body):
                result = consolidate(obj, label_attribute=LABEL, job_name=JOB, manifest=index, fetch=_no_fetch,
                                     worker_ids=worker_ids)
                response.append(result.entry)
                if result.record is not None:
                    ratings.add(result.record)
        records = len(ratings)
        ratings._spool.close()
        index.close()
    elif variant == "naive":
        naive = _NaiveManifest(manifest)
        with open(payload, "rb") as body:
            data = json.load(body)
        with tempfile.TemporaryFile() as spool:
            records = 0
            for obj in data:
                result = consolidate(obj, label_attribute=LABEL, job_name=JOB, manifest=naive, fetch=_no_fetch,
                                     worker_ids=worker_ids)
                response.append(result.entry)
                if result.record is not None:
                    spool.write(record_line(result.record))
                    records += 1
    else:
        raise ValueError(variant)
    elapsed = time.perf_counter() - started
    peak_kb = _peak_rss()
    digest = hashlib.sha256(json.dumps(response, separators=(",", ":")).encode()).hexdigest()[:12]
    return {"variant": variant, "seconds": elapsed, "peak_mb": peak_kb / 1024, "baseline_mb": baseline_kb / 1024,
            "objects": len(response), "records": records, "digest": digest, "backend": BACKEND}


def _measure(variant: str, payload: Path, manifest: Path) -> dict[str, object]:
    env = {**os.environ, **OFFLINE_ENV}
    done = subprocess.run([sys.executable, "-m", "bench.consolidation", variant, str(payload), str(manifest)],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(objects: int = OBJECTS, runs: int = RUNS) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        payload, manifest = Path(tmp) / "payload.json", Path(tmp) / "input.manifest"
        write_payload(payload, manifest, objects)
        size_mb, manifest_mb = payload.stat().st_size / 1e6, manifest.stat().st_size / 1e6
        samples: dict[str, list[dict[str, object]]] = {"naive": [], "streaming": []}
        for round_ in range(runs):
            for variant in (("naive", "streaming") if round_ % 2 == 0 else ("streaming", "naive")):
                samples[variant].append(_measure(variant, payload, manifest))
    digests = {s["digest"] for v in samples.values() for s in v}
    if len(digests) != 1:
        raise RuntimeError(f"the variants' responses differ: {digests}")
    if {s["records"] for v in samples.values() for s in v} != {objects}:
        raise RuntimeError("not every object became a rating record: the payload and the manifest disagree")
    summary = {}
    for variant, runs_ in samples.items():
        summary[variant] = {
            "seconds": median([float(s["seconds"]) for s in runs_]),
            "peak": median([float(s["peak_mb"]) for s in runs_]),
            "above": median([float(s["peak_mb"]) - float(s["baseline_mb"]) for s in runs_]),
            "baseline": median([float(s["baseline_mb"]) for s in runs_]),
        }
    first = samples["streaming"][0]
    rows = [[variant, f"{s['seconds']:.2f}", f"{s['peak']:.0f}", f"{s['baseline']:.0f}", f"{s['above']:.0f}"]
            for variant, s in summary.items()]
    memory_ratio = summary["streaming"]["above"] / summary["naive"]["above"]
    time_ratio = summary["streaming"]["seconds"] / summary["naive"]["seconds"]
    return "\n".join([
        f"Payload: {objects:,} objects x {WORKERS} workers, {size_mb:.0f} MB on disk, "
        f"input manifest {manifest_mb:.0f} MB; "
        f"{first['records']:,} rating "
        f"records; {runs} runs per variant, alternating, each in a fresh interpreter ({sys.executable}); "
        f"ijson backend: {first['backend']}; both variants' responses identical (digest {first['digest']}).",
        "",
        table(["variant", "median s", "peak RSS MB", "baseline MB (imports)", "peak above baseline MB"], rows),
        "",
        table(["ratio", "value", "target", "result"], [
            ["streaming / naive peak above baseline", f"{memory_ratio:.2f}", f"<= {TARGET_MEMORY:.2f}",
             verdict(memory_ratio, TARGET_MEMORY)],
            ["streaming / naive time", f"{time_ratio:.2f}", "<= 1.00", verdict(time_ratio, 1.0)],
        ]),
    ])


def main(argv: list[str]) -> None:
    if len(argv) == 3:  # a measured child process
        print(json.dumps(run_variant(argv[0], argv[1], argv[2])))
    else:
        print(run())


if __name__ == "__main__":
    main(sys.argv[1:])
