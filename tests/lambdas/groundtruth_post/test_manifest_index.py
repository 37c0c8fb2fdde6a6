"""The input manifest's index (manifest_index.py) without AWS, and how job_manifest.py names what went wrong."""

from __future__ import annotations

import errno
import io
import json

import boto3
import pytest
from botocore.stub import Stubber

from lambdas.groundtruth_post import manifest_index
from lambdas.groundtruth_post.job_manifest import JobManifests, ManifestUnavailable
from lambdas.groundtruth_post.manifest_index import ManifestIndex, ManifestLookupError
from tests.lambdas.groundtruth_post.conftest import described_job

URI = "s3://bucket/job.manifest"


def line(n: int, **extra) -> dict:
    return {"source": f"text {n}", "session_id": f"s{n}", "turn_id": f"t{n}", **extra}


def build(*lines: dict | str) -> ManifestIndex:
    body = "".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines)
    return ManifestIndex.build(URI, io.BytesIO(body.encode("utf-8")))


def test_each_value_finds_its_own_line():
    index = build(line(1), line(2, **{"source-ref": "s3://b/2"}), line(3))
    assert index.find("source", "text 3")["session_id"] == "s3"
    assert index.find("source-ref", "s3://b/2")["session_id"] == "s2"
    assert (index.stats.lines, index.stats.indexed, index.stats.ambiguous_values) == (3, 3, 0)


def test_values_are_compared_exactly():
    index = build(line(1))
    for near in ("text 1 ", "Text 1", "text 1\n", "text"):
        with pytest.raises(ManifestLookupError, match="is not in the job's input manifest"):
            index.find("source", near)


def test_a_source_is_not_a_source_ref():
    index = build(line(1), {"source-ref": "text 2", "session_id": "s2"})
    with pytest.raises(ManifestLookupError):
        index.find("source", "text 2")
    with pytest.raises(ManifestLookupError):
        index.find("source-ref", "text 1")


def test_a_value_on_two_lines_is_ambiguous_on_every_lookup():
    index = build(line(1), {**line(2), "source": "text 1"}, {**line(3), "source": "text 1"}, line(4))
    for _ in range(2):
        with pytest.raises(ManifestLookupError, match="more than one line"):
            index.find("source", "text 1")
    assert index.find("source", "text 4")["session_id"] == "s4"
    assert index.stats.ambiguous_values == 1


def test_blank_broken_and_too_deep_lines_are_counted_and_left_out():
    index = build(line(1), "", "not json", "[1, 2]", "[" * 100_000 + "]" * 100_000, '{"source": 5}', line(2))
    assert (index.stats.lines, index.stats.unreadable_lines, index.stats.indexed) == (6, 3, 2)
    assert index.find("source", "text 2")["session_id"] == "s2"


def test_a_byte_order_mark_and_crlf_line_ends_are_read():
    body = b"\xef\xbb\xbf" + json.dumps(line(1)).encode() + b"\r\n" + json.dumps(line(2)).encode() + b"\r\n"
    index = ManifestIndex.build(URI, io.BytesIO(body))
    assert [index.find("source", f"text {n}")["turn_id"] for n in (1, 2)] == ["t1", "t2"]


def test_unicode_and_escaped_surrogates_are_values_like_any_other():
    index = build(line(1, source="Où est ma facture ? 请查看 😀"), '{"source": "bad \\ud800", "session_id": "s2"}')
    assert index.find("source", "Où est ma facture ? 请查看 😀")["session_id"] == "s1"
    assert index.find("source", "bad \ud800")["session_id"] == "s2"


def test_memory_holds_digests_and_offsets_only():
    index = build(*(line(n, answer="x" * 10_000) for n in range(50)))
    assert len(index._offsets) == 50
    assert all(len(key) == 16 and isinstance(at, int) for key, at in index._offsets.items())
    assert index.stats.bytes > 500_000  # the texts are in the temporary file


def test_a_digest_collision_never_returns_the_wrong_line(monkeypatch):
    monkeypatch.setattr(manifest_index, "_digest", lambda kind, value: b"\0" * 16)
    with pytest.raises(ManifestLookupError, match="is not in the job's input manifest"):
        build(line(1)).find("source", "text 2")
    with pytest.raises(ManifestLookupError, match="more than one line"):
        build(line(1), line(2)).find("source", "text 2")


def test_a_stream_that_breaks_propagates_and_closes_the_copy():
    class Broken(io.BytesIO):
        def read(self, size=-1):
            raise OSError(errno.EIO, "connection reset")

    spool = io.BytesIO()
    with pytest.raises(OSError):
        ManifestIndex.build(URI, Broken(), spool)
    assert spool.closed


# job_manifest.py: the errors that fail the batch name the job, the manifest and the code --------------------------

class Body(io.BytesIO):
    def __enter__(self):
        return self


class FullDisk:
    """An S3 client whose manifest does not fit in /tmp."""

    def get_object(self, **_):
        class NoRoom(Body):
            def read(self, size=-1):
                raise OSError(errno.ENOSPC, "No space left on device")
        return {"Body": NoRoom()}


@pytest.fixture
def sagemaker():
    stub = Stubber(boto3.client("sagemaker", region_name="us-east-1"))
    stub.activate()
    yield stub
    stub.deactivate()


def test_a_streaming_job_has_no_manifest_to_find_items_in(sagemaker):
    job = described_job("stream-job")
    job["InputConfig"] = {"DataSource": {"SnsDataSource": {"SnsTopicArn": "arn:aws:sns:us-east-1:111122223333:t"}}}
    sagemaker.add_response("describe_labeling_job", job, {"LabelingJobName": "stream-job"})
    with pytest.raises(ManifestUnavailable, match="labeling job stream-job: .*NoManifestS3Uri"):
        JobManifests(s3=None, sagemaker=sagemaker.client).index("stream-job")


def test_a_full_tmp_is_named_by_its_errno(sagemaker):
    sagemaker.add_response("describe_labeling_job", described_job("job", URI), {"LabelingJobName": "job"})
    with pytest.raises(ManifestUnavailable) as raised:
        JobManifests(s3=FullDisk(), sagemaker=sagemaker.client).index("job")
    assert (raised.value.uri, raised.value.code, raised.value.operation) == (URI, "ENOSPC", "GetObject")
    assert str(raised.value).startswith(f"labeling job job: its input manifest {URI} could not be read")
