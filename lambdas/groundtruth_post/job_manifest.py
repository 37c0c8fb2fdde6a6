"""Which input manifest a labeling job reads, and its index, kept per execution environment.

The manifest's location is asked of SageMaker (DescribeLabelingJob -> InputConfig.DataSource.S3DataSource.
ManifestS3Uri) rather than derived from the job's name: a job cloned in the console under another name reads
the same manifest, and only SageMaker knows which one. A job's input never changes, so the answer is kept
per job name; the index (manifest_index.py) is built once per manifest URI and the last one is kept (the
Lambda serves one job's batches after another's, and /tmp holds one copy).

A job that cannot be described or a manifest that cannot be read raises ManifestUnavailable, naming the job,
the manifest and AWS's error code: the invocation fails before anything is written, and Ground Truth
retries the batch.
"""

from __future__ import annotations

import errno
import time
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from lambdas.common.feedback import split_s3_uri
from lambdas.groundtruth_post.manifest_index import IndexStats, ManifestIndex


class ManifestUnavailable(RuntimeError):
    def __init__(self, job_name: str, uri: str | None, code: str, operation: str):
        where = f"its input manifest {uri}" if uri else "its input manifest"
        super().__init__(f"labeling job {job_name}: {where} could not be read ({operation}: {code}); "
                         "nothing was consolidated, Ground Truth retries the batch")
        self.job_name, self.uri, self.code, self.operation = job_name, uri, code, operation


def _code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") or "Unknown"
    if isinstance(error, OSError) and error.errno is not None and error.errno in errno.errorcode:
        return errno.errorcode[error.errno]  # e.g. ENOSPC: the manifest does not fit in /tmp
    return type(error).__name__


class JobManifests:
    def __init__(self, *, s3: Any, sagemaker: Any,
                 on_indexed: Callable[[str, IndexStats, float], None] = lambda uri, stats, seconds: None):
        self.s3, self.sagemaker, self.on_indexed = s3, sagemaker, on_indexed
        self._uris: dict[str, str] = {}
        self._index: ManifestIndex | None = None

    def index(self, job_name: str) -> ManifestIndex:
        uri = self.manifest_uri(job_name)
        if self._index is None or self._index.uri != uri:
            if self._index is not None:
                self._index.close()
                self._index = None
            self._index = self._build(job_name, uri)
        return self._index

    def manifest_uri(self, job_name: str) -> str:
        if job_name not in self._uris:
            try:
                job = self.sagemaker.describe_labeling_job(LabelingJobName=job_name)
            except (ClientError, BotoCoreError) as error:
                raise ManifestUnavailable(job_name, None, _code(error), "DescribeLabelingJob") from None
            uri = job.get("InputConfig", {}).get("DataSource", {}).get("S3DataSource", {}).get("ManifestS3Uri")
            if not isinstance(uri, str):
                # A streaming job (SNS input) has no manifest to find its data objects in.
                raise ManifestUnavailable(job_name, None, "NoManifestS3Uri", "DescribeLabelingJob")
            self._uris[job_name] = uri
        return self._uris[job_name]

    def _build(self, job_name: str, uri: str) -> ManifestIndex:
        try:
            bucket, key = split_s3_uri(uri)
        except ValueError:
            raise ManifestUnavailable(job_name, uri, "NotAnS3Uri", "DescribeLabelingJob") from None
        started = time.monotonic()
        try:
            with self.s3.get_object(Bucket=bucket, Key=key)["Body"] as body:
                index = ManifestIndex.build(uri, body)
        except (ClientError, BotoCoreError, OSError) as error:
            raise ManifestUnavailable(job_name, uri, _code(error), "GetObject") from None
        self.on_indexed(uri, index.stats, time.monotonic() - started)
        return index

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
