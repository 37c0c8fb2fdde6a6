"""Ground Truth's post-annotation (annotation-consolidation) Lambda, deployed by stacks/feedback_stack.py as
the rating job's AnnotationConsolidationLambdaArn.

The handler is thin: it parses the request (request.py), finds the job's input manifest and its index
(job_manifest.py: DescribeLabelingJob, then the manifest, indexed once per execution environment), streams
the payload file from S3 through consolidation.py one data object at a time, merges the batch's rating
records into the job's JSON Lines file (ratings_file.py) and returns one entry per datasetObjectId, the JSON
list Ground Truth expects. A bad object is an error entry, never a failed batch; a bad request, a job or
manifest that cannot be read, an unreadable payload or a failed ratings write fails the invocation before
anything is written (Ground Truth retries the batch; the write is idempotent).
Logs carry the job, counts and reasons only: answers and comments are customer text.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from lambdas.common import clients
from lambdas.common.feedback import split_s3_uri
from lambdas.common.rating_files import ratings_key
from lambdas.common.startup import Startup
from lambdas.groundtruth_post.consolidation import BACKEND, Manifest, UndecodableText, consolidate, iter_objects
from lambdas.groundtruth_post.job_manifest import JobManifests, ManifestUnavailable
from lambdas.groundtruth_post.manifest_index import IndexStats
from lambdas.groundtruth_post.ratings_file import RatingsFile
from lambdas.groundtruth_post.request import ConsolidationRequest
from lambdas.groundtruth_post.settings import PostSettings

logger = Logger()
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Tandem"))

MAX_REFERENCED_BYTES = 1_000_000  # an s3Uri'd data object is <= 100 KB, an answer far less



def _log_indexed(uri: str, stats: IndexStats, seconds: float) -> None:
    logger.info("input manifest indexed", extra={
        "manifest_uri": uri, "lines": stats.lines, "indexed_lines": stats.indexed,
        "ambiguous_values": stats.ambiguous_values, "unreadable_lines": stats.unreadable_lines,
        "bytes": stats.bytes, "seconds": round(seconds, 3)})


@dataclass(frozen=True)
class Dependencies:
    settings: PostSettings
    manifests: JobManifests  # the input manifests indexed so far, by job (kept across batches)


def build_dependencies() -> Dependencies:
    # The clients are created now (init phase), not in the first batch's time.
    return Dependencies(settings=PostSettings.from_env(), manifests=JobManifests(
        s3=clients.client("s3"), sagemaker=clients.client("sagemaker"), on_indexed=_log_indexed))


dependencies = Startup(build_dependencies, close=lambda built: built.manifests.close())


def fetch(uri: str) -> bytes:
    """An object an annotation or a data object points at (s3Uri), at most MAX_REFERENCED_BYTES."""
    bucket, key = split_s3_uri(uri)
    with clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"] as body:
        data = body.read(MAX_REFERENCED_BYTES + 1)
    if len(data) > MAX_REFERENCED_BYTES:
        raise ValueError(f"larger than {MAX_REFERENCED_BYTES} bytes")
    return data


def manifest_for(request: ConsolidationRequest) -> Manifest:
    try:
        return dependencies.get().manifests.index(request.job_name)
    except ManifestUnavailable as error:
        metrics.add_metric(name="ManifestUnavailable", unit=MetricUnit.Count, value=1)
        logger.error("input manifest unavailable; the batch fails and Ground Truth retries it", extra={
            "labeling_job": error.job_name, "manifest_uri": error.uri, "operation": error.operation,
            "error_code": error.code})
        raise


@tracer.capture_method(capture_response=False)
def consolidate_batch(request: ConsolidationRequest, settings: PostSettings) -> list[dict[str, Any]]:
    manifest = manifest_for(request)
    try:
        return _consolidate(request, settings, manifest, pure_python=False)
    except UndecodableText:
        # Nothing was written: the batch is parsed again, slower, by the parser that decodes the escape.
        logger.warning("payload parsed again in pure Python", extra={"labeling_job": request.job_name})
        return _consolidate(request, settings, manifest, pure_python=True)


def _consolidate(request: ConsolidationRequest, settings: PostSettings, manifest: Manifest, *,
                 pure_python: bool) -> list[dict[str, Any]]:
    s3 = clients.client("s3")
    ratings = RatingsFile(s3=s3, bucket=settings.ratings_bucket,
                          key=ratings_key(settings.ratings_prefix, request.job_name))
    response: list[dict[str, Any]] = []
    errors: Counter[str] = Counter()
    worker_ids: dict[str, str] = {}
    try:
        with s3.get_object(Bucket=request.payload_bucket, Key=request.payload_key)["Body"] as body:
            for obj in iter_objects(body, pure_python=pure_python):
                result = consolidate(obj, label_attribute=request.label_attribute_name, job_name=request.job_name,
                                     manifest=manifest, fetch=fetch, worker_ids=worker_ids)
                response.append(result.entry)
                if result.record is None:
                    content = result.entry["consolidatedAnnotation"]["content"]
                    errors[content[request.label_attribute_name]["error"]] += 1
                else:
                    ratings.add(result.record)
    except BaseException:
        ratings.discard()
        raise
    records = len(ratings)
    file_records = ratings.commit()
    metrics.add_metric(name="ConsolidatedObjects", unit=MetricUnit.Count, value=records)
    metrics.add_metric(name="ConsolidationErrors", unit=MetricUnit.Count, value=sum(errors.values()))
    logger.info("batch consolidated", extra={
        "labeling_job": request.job_name, "objects": len(response), "records": records,
        "file_records": file_records, "ratings_key": ratings.key,
        "parser_backend": "python" if pure_python else BACKEND,
        # The reasons name fields and at most a 20-character label, never an answer's text.
        "errors": dict(errors.most_common(10))})
    return response


@logger.inject_lambda_context
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    settings = dependencies.get().settings
    request = ConsolidationRequest.from_event(event)
    return consolidate_batch(request, settings)


dependencies.prepare_during_init()  # in Lambda's init phase: settings and clients before the first batch
