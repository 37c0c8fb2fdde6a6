"""In-memory stand-ins for what a sampling run is given (sampler.FeedbackSampler): the transcripts bucket,
the rating files, the PII masking, the manifest and the labeling job. `calls` is shared by all of them and
lists what each was asked to do, in order, so a test reads as the rule: what was read, masked, written or
started, and what was not."""

from __future__ import annotations

import json
from typing import Any, Iterator, Sequence

from lambdas.common.rating_files import Listing
from lambdas.common.transcript import Transcript


class FakeTranscripts:
    """TranscriptReader over a dict of key -> bytes."""

    def __init__(self, calls: list[str]) -> None:
        self.objects: dict[str, bytes] = {}
        self.calls = calls
        self.failure: Exception | None = None  # raised by `read`

    def put(self, key: str, transcript: Transcript | bytes) -> None:
        self.objects[key] = transcript if isinstance(transcript, bytes) else json.dumps(transcript.to_dict()).encode()

    def keys(self, prefix: str) -> Iterator[str]:
        self.calls.append(f"list {prefix}")
        yield from sorted(k for k in self.objects if k.startswith(prefix))

    def read(self, key: str) -> bytes:
        if self.failure is not None:
            raise self.failure
        return self.objects[key]


class FakeRatings:
    """RatingFiles over a dict of key -> lines."""

    def __init__(self, calls: list[str]) -> None:
        self.files: dict[str, list[bytes]] = {}
        self.calls = calls

    def list(self) -> Listing:
        self.calls.append("list ratings")
        return Listing(keys=sorted(self.files), skipped=0)

    def lines(self, key: str) -> Iterator[bytes]:
        yield from self.files[key]


class FakeMasker:
    """PiiMasker that masks every digit as "#"; raises `failure` instead while it is set."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.failure: Exception | None = None

    def mask(self, texts: Sequence[str], language_code: str) -> list[str]:
        self.calls.append(f"mask {len(texts)} texts ({language_code})")
        if self.failure is not None:
            raise self.failure
        return ["".join("#" if ch.isdigit() else ch for ch in text) for text in texts]


class FakeManifests:
    """ManifestWriter over a dict of key -> body."""

    def __init__(self, calls: list[str]) -> None:
        self.written: dict[str, bytes] = {}
        self.calls = calls

    def write(self, key: str, body: bytes) -> None:
        self.calls.append(f"write {key}")
        self.written[key] = body

    def lines(self, key: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.written[key].decode("utf-8").splitlines()]


class FakeJobs:
    """LabelingJobStarter: keeps the requests; raises `failure` instead while it is set."""

    def __init__(self, calls: list[str]) -> None:
        self.requests: list[dict[str, Any]] = []
        self.calls = calls
        self.failure: Exception | None = None

    def start(self, request: dict[str, Any]) -> str:
        self.calls.append(f"start {request['LabelingJobName']}")
        if self.failure is not None:
            raise self.failure
        self.requests.append(request)
        return f"arn:aws:sagemaker:us-east-1:123456789012:labeling-job/{request['LabelingJobName']}"
