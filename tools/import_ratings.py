"""Imports ratings from another rating source (a spreadsheet, another labeling tool) as rating records.

    .venv/bin/python -m tools.import_ratings --input ratings.csv --transcripts-dir ./transcripts \\
        --output ratings/import-2026-11.jsonl
    .venv/bin/python -m tools.import_ratings --input ratings.jsonl --transcripts-bucket tandem-transcripts \\
        --output out.jsonl --skip-bad

Input: one rating per row, as CSV (a header row naming the columns) or JSON Lines (one object per line),
told apart by the file's extension (.csv; .jsonl or .ndjson) or --format:
    session_id, turn_id   the bot turn that was rated (as the chatbot recorded it)
    rating                an integer from 1 to 5 (5 = most relevant), the scale of the Ground Truth template
    rater                 who rated it (an id or a name); one rater rates a turn at most once
    comment               optional free text
Other columns are ignored. The question and the answer come from the session's transcript, as
the outbox writes it (lambdas/stream_consumer; transcripts/dt=<date>/<session_id>.json in the transcripts bucket,
or a local copy of such files: --transcripts-dir is searched recursively for <session_id>.json). The question
is the customer turn the bot turn replied to (Turn.reply_to), or else the nearest customer turn before it:
the same rule as the feedback sampler's.

Output: RatingRecord JSON Lines (lambdas/common/feedback.py), one record per rated turn: several raters of a
turn are consolidated as the Ground Truth path does (rating = median, mean to 4 decimals, agreement = the
share of raters who gave the most common value). Upload the file under the ratings prefix
(s3://<labeling bucket>/ratings/) so that the sampler and the pre-annotation Lambda count these turns as
rated. Note: the text comes from the transcript as the customer wrote it; the sampler masks personal data
in what Ground Truth raters see, this tool does not.

Every row is checked first; a bad row (a missing field, a rating that is not an integer from 1 to 5, an
unknown session or turn, a turn that is not a bot turn, a rater rating a turn twice) is reported on stderr
with its line number and the reason. Exit codes:
    0  the output was written (with --skip-bad: the bad rows were listed and left out)
    1  bad rows and no --skip-bad, or no valid row at all: the rows are listed, nothing is written
    2  the command could not run: bad arguments, an unreadable input or transcript store, missing columns,
       an output that cannot be written
The output is written to a temporary file and renamed, so a failed run never leaves half a file.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from lambdas.common.feedback import (
    MAX_RATING,
    MIN_RATING,
    RATING_SOURCES,
    FeedbackFormatError,
    RatingRecord,
    WorkerRating,
)
from lambdas.common.transcript import Transcript, question_of

EXIT_OK, EXIT_BAD_ROWS, EXIT_ERROR = 0, 1, 2
REQUIRED = ("session_id", "turn_id", "rating", "rater")
DEFAULT_TRANSCRIPTS_PREFIX = "transcripts/"
_INTEGER = re.compile(r"^\s*([0-9]+)(?:\.0*)?\s*$")  # "4", " 4 ", "4.0": a spreadsheet's way of writing 4


class CannotRun(RuntimeError):
    """The command cannot run at all (exit code 2)."""


@dataclass(frozen=True)
class Row:
    line: int
    session_id: str
    turn_id: str
    rating: int
    rater: str
    comment: str = ""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class Result:
    records: list[RatingRecord] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    rows: int = 0


# Reading the input -----------------------------------------------------------------------------------------

def _format(path: Path, forced: str | None) -> str:
    if forced:
        return forced
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise CannotRun(f"{path}: cannot tell the format from the extension; use --format csv or jsonl")


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, Any]]:
    """(line number, raw row) pairs: a dict of the row's fields, or a string saying why the line is no row."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise CannotRun(f"{path}: cannot be read ({error.strerror or error})") from None
    with handle:
        try:
            if fmt == "csv":
                reader = csv.DictReader(handle)
                columns = [c.strip() for c in reader.fieldnames or []]
                missing = [c for c in REQUIRED if c not in columns]
                if missing:
                    raise CannotRun(f"{path}: the header row lacks the column(s) {', '.join(missing)}")
                reader.fieldnames = columns
                line = reader.line_num + 1
                for raw in reader:
                    yield line, ({k: v for k, v in raw.items() if k is not None} if None not in raw
                                 else "has more fields than the header")
                    line = reader.line_num + 1
            else:
                for line, text in enumerate(handle, start=1):
                    if not text.strip():
                        continue
                    try:
                        data = json.loads(text)
                    except (json.JSONDecodeError, RecursionError):
                        yield line, "is not valid JSON"
                        continue
                    yield line, data if isinstance(data, dict) else "is not a JSON object"
        except UnicodeDecodeError:
            raise CannotRun(f"{path}: is not UTF-8 text") from None
        except csv.Error as error:
            raise CannotRun(f"{path}: is not valid CSV ({error})") from None


def _text_field(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"{name} is missing")
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    return value.strip()


def _rating(value: Any) -> int:
    problem = f"rating must be an integer from {MIN_RATING} to {MAX_RATING}, not {str(value)[:20]!r}"
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError("rating is missing" if value in (None, "") else problem)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        match = _INTEGER.fullmatch(value)
        if not match:
            raise ValueError(problem)
        value = int(match.group(1))
    if not isinstance(value, int) or not MIN_RATING <= value <= MAX_RATING:
        raise ValueError(problem)
    return value


def parse_row(line: int, raw: Any) -> Row:
    if isinstance(raw, str):
        raise ValueError(f"the line {raw}")
    comment = raw.get("comment")
    return Row(line=line, session_id=_text_field(raw, "session_id"), turn_id=_text_field(raw, "turn_id"),
               rating=_rating(raw.get("rating")), rater=_text_field(raw, "rater"),
               comment=comment.strip() if isinstance(comment, str) else "")


# Transcripts -----------------------------------------------------------------------------------------------

class Transcripts:
    """Finds a session's transcript by its id; `load` returns None for an unknown session."""

    def __init__(self, index: dict[str, Any], read: Callable[[Any], bytes]):
        self.index = index
        self.read = read
        self._cache: dict[str, Transcript | None | str] = {}

    def load(self, session_id: str) -> Transcript | None:
        """The transcript, None when no transcript of this session exists; ValueError when it is unreadable."""
        if session_id not in self._cache:
            where = self.index.get(session_id)
            if where is None:
                self._cache[session_id] = None
            else:
                try:
                    self._cache[session_id] = Transcript.from_dict(json.loads(self.read(where)))
                except (ValueError, KeyError, TypeError) as error:
                    self._cache[session_id] = f"the transcript of session {session_id} is unreadable " \
                                              f"({type(error).__name__})"
        found = self._cache[session_id]
        if isinstance(found, str):
            raise ValueError(found)
        return found

    @classmethod
    def from_dir(cls, directory: Path, wanted: set[str]) -> "Transcripts":
        if not directory.is_dir():
            raise CannotRun(f"{directory}: is not a directory")
        index: dict[str, Path] = {}
        for path in sorted(directory.rglob("*.json")):
            if path.stem in wanted:
                index.setdefault(path.stem, path)
        return cls(index, lambda path: path.read_bytes())

    @classmethod
    def from_bucket(cls, bucket: str, prefix: str, wanted: set[str]) -> "Transcripts":
        from botocore.exceptions import BotoCoreError, ClientError

        from lambdas.common import clients

        s3 = clients.client("s3")
        index: dict[str, str] = {}
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for entry in page.get("Contents", []):
                    name = entry["Key"].rsplit("/", 1)[-1]
                    if name.endswith(".json") and name[:-5] in wanted:
                        index.setdefault(name[:-5], entry["Key"])
        except (ClientError, BotoCoreError) as error:
            code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else None
            raise CannotRun(f"s3://{bucket}/{prefix}: cannot be listed ({code or type(error).__name__})") from None

        def read(key: str) -> bytes:
            try:
                return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except (ClientError, BotoCoreError) as error:
                raise CannotRun(f"s3://{bucket}/{key}: cannot be read ({type(error).__name__})") from None

        return cls(index, read)


# Consolidating ---------------------------------------------------------------------------------------------

def consolidate(rows: list[Row], *, question: str, answer: str, source: str) -> RatingRecord:
    """Several raters of one turn -> one record, as the Ground Truth consolidation does it."""
    return RatingRecord.consolidate(
        session_id=rows[0].session_id, turn_id=rows[0].turn_id, question=question, answer=answer,
        ratings=tuple(WorkerRating(worker_id=r.rater, value=r.rating, comment=r.comment) for r in rows),
        source=source)


def import_ratings(raw_rows: Sequence[tuple[int, Any]], transcripts: Transcripts, *, source: str) -> Result:
    result = Result(rows=len(raw_rows))
    by_turn: dict[tuple[str, str], list[Row]] = {}
    texts: dict[tuple[str, str], tuple[str, str]] = {}
    seen_raters: dict[tuple[str, str, str], int] = {}
    for line, raw in raw_rows:
        try:
            row = parse_row(line, raw)
            key = (row.session_id, row.turn_id)
            if key not in texts:
                texts[key] = _texts(transcripts, row)
            earlier = seen_raters.get((*key, row.rater))
            if earlier is not None:
                raise ValueError(f"rater {row.rater!r} already rated this turn on line {earlier}")
        except ValueError as error:
            result.bad.append(BadRow(line, str(error)))
            continue
        seen_raters[(*key, row.rater)] = line
        by_turn.setdefault(key, []).append(row)
    for key, rows in by_turn.items():
        question, answer = texts[key]
        try:
            result.records.append(consolidate(rows, question=question, answer=answer, source=source))
        except FeedbackFormatError as error:  # e.g. a question the record format refuses
            result.bad.extend(BadRow(r.line, f"cannot become a rating record ({error})") for r in rows)
    return result


def _texts(transcripts: Transcripts, row: Row) -> tuple[str, str]:
    transcript = transcripts.load(row.session_id)
    if transcript is None:
        raise ValueError(f"unknown session {row.session_id!r}: no transcript")
    turns = transcript.turns
    index = next((i for i, t in enumerate(turns) if t.turn_id == row.turn_id), None)
    if index is None:
        raise ValueError(f"unknown turn {row.turn_id!r} in session {row.session_id!r}")
    if turns[index].role != "bot":
        raise ValueError(f"turn {row.turn_id!r} is a {turns[index].role} turn, not a bot turn")
    question = question_of(turns, index)
    if question is None or not question.text.strip():
        raise ValueError(f"bot turn {row.turn_id!r} has no customer question before it")
    return question.text, turns[index].text


# Writing ---------------------------------------------------------------------------------------------------

def write_records(path: Path, records: Sequence[RatingRecord]) -> None:
    """All records or nothing: a temporary file in the same folder, renamed over `path` when complete."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise CannotRun(f"{path}: cannot be written ({error.strerror or error})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise CannotRun(f"{path}: cannot be written ({error.strerror or error})") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.import_ratings",
                                     description="Turns ratings from another source into rating records "
                                                 "(JSON Lines). Exit codes: 0 written, 1 bad rows (nothing "
                                                 "written unless --skip-bad), 2 could not run.")
    parser.add_argument("--input", required=True, type=Path, help="ratings.csv or ratings.jsonl")
    parser.add_argument("--format", choices=("csv", "jsonl"), help="the input's format (default: from its extension)")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--transcripts-dir", type=Path, help="a local folder of <session_id>.json transcripts")
    where.add_argument("--transcripts-bucket", help="the transcripts bucket (reads AWS credentials as boto3 does)")
    parser.add_argument("--transcripts-prefix", default=DEFAULT_TRANSCRIPTS_PREFIX,
                        help=f"the transcripts' key prefix in the bucket (default {DEFAULT_TRANSCRIPTS_PREFIX})")
    parser.add_argument("--output", required=True, type=Path, help="the rating records file to write (.jsonl)")
    parser.add_argument("--source", default="import", choices=RATING_SOURCES,
                        help="the records' source (default import)")
    parser.add_argument("--skip-bad", action="store_true", help="leave bad rows out (listed) instead of writing nothing")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        raw_rows = list(read_rows(args.input, _format(args.input, args.format)))
        wanted = {r["session_id"].strip() for _, r in raw_rows
                  if isinstance(r, dict) and isinstance(r.get("session_id"), str)}
        transcripts = (Transcripts.from_dir(args.transcripts_dir, wanted) if args.transcripts_dir
                       else Transcripts.from_bucket(args.transcripts_bucket, args.transcripts_prefix, wanted))
        result = import_ratings(raw_rows, transcripts, source=args.source)
        for bad in sorted(result.bad, key=lambda b: b.line):
            print(f"{args.input}:{bad.line}: {bad.reason}", file=sys.stderr)
        if result.bad and not args.skip_bad:
            print(f"{len(result.bad)} of {result.rows} rows are bad; nothing written (--skip-bad leaves them out)",
                  file=sys.stderr)
            return EXIT_BAD_ROWS
        if not result.records:
            print("no valid rating to import; nothing written", file=sys.stderr)
            return EXIT_BAD_ROWS
        write_records(args.output, result.records)
    except CannotRun as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    ratings = sum(len(r.ratings) for r in result.records)
    skipped = f", {len(result.bad)} bad rows left out" if result.bad else ""
    print(f"wrote {len(result.records)} rating records ({ratings} ratings{skipped}) to {args.output}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
