"""Rating console: how fast a rater gets the next item, and what consolidating a 100,000-item batch costs.

- Next item: the rating API's real handler (lambdas/rating_api) in this process, over the local AWS (moto's
  server, reached over HTTP as in the demo), called with REST events shaped like API Gateway's
  (tests/events/rating_rate.json). A batch of ITEMS items rated by N=2 raters; two raters alternate
  `POST /batches/{id}/next` and `POST .../rating` until each has rated RATED items. Each call is timed
  (the handler's own time: API Gateway and the browser add their round trip). Target: next item p95 <= 100 ms,
  and the last hundred no slower than the first hundred (the search starts after the rater's cursor).
- Consolidating 100,000 items: the console consolidates an item when its N-th rating arrives
  (`RatingBatches._consolidate`: RatingRecord.consolidate, the record's JSON, one S3 put, one transaction),
  so a batch is never consolidated in one go. Here the AWS calls go to no-op clients, in a fresh interpreter:
  our code's own time for OBJECTS items of WORKERS ratings and its peak memory above the interpreter's after
  imports, beside the Ground Truth path consolidating the same number of objects in one invocation
  (bench/consolidation.py's streaming variant). Target: the console's peak above baseline <= the Ground Truth
  path's (it holds one item at a time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import OFFLINE_ENV, ROOT, median, percentile, table, verdict
from bench.consolidation import _measure as measure_ground_truth
from bench.consolidation import _peak_rss, _reset_peak_rss, write_payload

EVENT = ROOT / "tests" / "events" / "rating_rate.json"
ITEMS = 600
RATED = 250  # per rater
NEXT_TARGET_P95_MS = 100.0
OBJECTS = 100_000
WORKERS = 3
BATCH = "tandem-feedback-bench"


def _event(method: str, path: str, sub: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    found = json.loads(EVENT.read_text())
    parts = path.strip("/").split("/")
    names = {1: "batch_id", 3: "item_id"}
    resource = "/" + "/".join("{" + names[i] + "}" if i in names else part for i, part in enumerate(parts))
    found.update(resource=resource, path=path, httpMethod=method,
                 pathParameters={names[i]: part for i, part in enumerate(parts) if i in names})
    found["requestContext"].update(resourcePath=resource, httpMethod=method)
    found["requestContext"]["authorizer"]["claims"].update({"sub": sub, "cognito:groups": "raters"})
    found["body"] = json.dumps(body) if body is not None else None
    return found


def next_item_times() -> dict[str, list[float]]:
    from lambdas.common.feedback import LabelingItem, Sampling
    from lambdas.common.rating_batches import RatingBatches
    from lambdas.common.startup import reset_handlers
    from lambdas.rating_api.settings import RatingApiSettings
    from local.aws import environment_applied, start_local_aws
    from local.lambda_context import lambda_context

    aws = start_local_aws()
    try:
        settings = RatingApiSettings(ratings_table=aws.names["ratings_table"],
                                     ratings_bucket=aws.names["labeling_bucket"], ratings_prefix="ratings/")
        quiet = {"POWERTOOLS_SERVICE_NAME": "tandem-rating_api", "POWERTOOLS_METRICS_NAMESPACE": "Tandem",
                 "POWERTOOLS_METRICS_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"}
        with environment_applied({**aws.runtime_environment(), **settings.to_env(), **OFFLINE_ENV, **quiet}):
            reset_handlers()
            from lambdas.rating_api import handler

            store = RatingBatches(table_name=settings.ratings_table, ratings_bucket=settings.ratings_bucket,
                                  ratings_prefix=settings.ratings_prefix)
            store.create(BATCH, [LabelingItem(source=f"item {n}", session_id=f"s-{n}", turn_id=f"t-{n}",
                                              question=f"How do I reset router model {n}?",
                                              answer="Hold the reset button for ten seconds. " * 6,
                                              sampling=Sampling("random", 1)) for n in range(ITEMS)],
                         ratings_per_item=2, assignment_seconds=600)
            context = lambda_context("tandem-rating-api")
            times: dict[str, list[float]] = {"next": [], "rating": []}
            for round_ in range(RATED):
                for sub in ("rater-a", "rater-b"):
                    started = time.perf_counter()
                    answer = handler.handler(_event("POST", f"/batches/{BATCH}/next", sub), context)
                    times["next"].append((time.perf_counter() - started) * 1000)
                    item = json.loads(answer["body"])["item"]
                    if answer["statusCode"] != 200 or item is None:
                        raise RuntimeError(f"no item for {sub} in round {round_}: {answer['body'][:300]}")
                    started = time.perf_counter()
                    rated = handler.handler(_event("POST", f"/batches/{BATCH}/items/{item['item_id']}/rating", sub,
                                                   {"value": 1 + round_ % 5}), context)
                    times["rating"].append((time.perf_counter() - started) * 1000)
                    if rated["statusCode"] != 200:
                        raise RuntimeError(f"rating refused: {rated['body'][:300]}")
            records = sum(1 for _ in store.records(BATCH))
            if records != RATED:  # both raters rated the same RATED items, in order
                raise RuntimeError(f"{records} records, expected {RATED}")
            return times
    finally:
        aws.stop()


# Consolidation ------------------------------------------------------------------------------------------

class _NoOp:
    """A client whose every call succeeds and returns nothing: our code's cost alone."""

    def __getattr__(self, name: str) -> Any:
        return lambda **kwargs: {}


def consolidate_variant(objects: int) -> dict[str, object]:
    """In this process: `objects` items of WORKERS ratings each, consolidated one after another as the N-th
    rating of each would (items built one at a time, as each rating request reads its own)."""
    import random

    from lambdas.common import clients
    from lambdas.common.feedback import LabelingItem, Sampling
    from lambdas.common.rating_batches import Batch, Rating, RatingBatches

    clients.set_client("dynamodb", _NoOp())
    clients.set_client("s3", _NoOp())
    store = RatingBatches(table_name="t", ratings_bucket="b", ratings_prefix="ratings/")
    batch = Batch(batch_id=BATCH, status="open", ratings_per_item=WORKERS, assignment_seconds=600,
                  item_count=objects, done_count=0, agreement_sum=0.0, created_at="2026-12-01T00:00:00Z")
    rng = random.Random(7)
    baseline_kb = _reset_peak_rss()
    started = time.perf_counter()
    agreement = 0.0
    for n in range(objects):
        item = LabelingItem(source=f"item {n}", session_id=f"session-{n // 4:06d}", turn_id=f"turn-{n:06d}",
                            question="How do I reset the router? " * 2, answer="Hold the reset button. " * 30,
                            sampling=Sampling("random", 7))
        ratings = {f"worker-{w}": Rating(rng.randint(1, 5), comment="ok" if rng.random() < 0.25 else "")
                   .to_attribute("2026-12-01T00:00:00.000Z") for w in range(WORKERS)}
        record = store._consolidate(batch, {"sk": {"S": f"ITEM#{n:06d}"},
                                            "item": {"S": json.dumps(item.to_dict())},
                                            "ratings": {"M": ratings}})
        agreement += record.agreement
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "peak_mb": _peak_rss() / 1024, "baseline_mb": baseline_kb / 1024,
            "records": objects, "agreement": round(agreement / objects, 4)}


def _measure_console(objects: int) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "bench.rating_console", "consolidate", str(objects)], cwd=ROOT,
                          env={**os.environ, **OFFLINE_ENV}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"console consolidation failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(objects: int = OBJECTS) -> str:
    times = next_item_times()
    first, last = times["next"][:100], times["next"][-100:]
    growth = median(last) / median(first)
    console = _measure_console(objects)
    with tempfile.TemporaryDirectory() as tmp:
        payload, manifest = Path(tmp) / "payload.json", Path(tmp) / "input.manifest"
        write_payload(payload, manifest, objects)
        ground_truth = measure_ground_truth("streaming", payload, manifest)
    above = {name: float(v["peak_mb"]) - float(v["baseline_mb"]) for name, v in
             (("console", console), ("ground truth", ground_truth))}
    rows = [[name, f"{float(v['seconds']):.1f}", f"{float(v['peak_mb']):.0f}", f"{float(v['baseline_mb']):.0f}",
             f"{above[name]:.0f}"] for name, v in (("console", console), ("ground truth", ground_truth))]
    next_p95 = percentile(times["next"], 95)
    return "\n".join([
        f"Next item and rating: a batch of {ITEMS} items, 2 raters per item, each rater rating {RATED}, "
        "through the real handler over the local AWS (HTTP to moto's server).",
        "",
        table(["call", "n", "p50 ms", "p95 ms", "max ms", "target", "result"], [
            ["next item", len(times["next"]), f"{median(times['next']):.1f}", f"{next_p95:.1f}",
             f"{max(times['next']):.1f}", f"p95 <= {NEXT_TARGET_P95_MS:.0f} ms", verdict(next_p95, NEXT_TARGET_P95_MS)],
            ["next item, last 100 / first 100 (median)", 100, "", "", "", "<= 1.5", verdict(growth, 1.5)],
            ["rating", len(times["rating"]), f"{median(times['rating']):.1f}",
             f"{percentile(times['rating'], 95):.1f}", f"{max(times['rating']):.1f}", "", ""],
        ]),
        f"(last 100 / first 100: {growth:.2f})",
        "",
        f"Consolidating {objects:,} items of {WORKERS} ratings, each path in a fresh interpreter ({sys.executable}): "
        "the console item by item (AWS calls to no-op clients), Ground Truth's streaming consolidation in one "
        "invocation (bench/consolidation.py).",
        "",
        table(["path", "s", "peak RSS MB", "baseline MB (imports)", "peak above baseline MB"], rows),
        "",
        table(["ratio", "value", "target", "result"], [
            ["console / ground truth peak above baseline", f"{above['console'] / max(above['ground truth'], 1):.2f}",
             "<= 1.00", verdict(above["console"], max(above["ground truth"], 1))]]),
    ])


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "consolidate":  # a measured child process
        print(json.dumps(consolidate_variant(int(argv[1]))))
    else:
        print(run())


if __name__ == "__main__":
    main(sys.argv[1:])
