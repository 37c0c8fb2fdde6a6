"""tools/import_ratings.py: ratings from another source (CSV or JSON Lines) become rating records, with the
question and the answer from the session transcripts (a local folder or the bucket, under moto); bad rows
are reported by line and reason, and nothing is written unless --skip-bad."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lambdas.common.feedback import RatingRecord
from lambdas.common.transcript import Transcript, Turn, transcript_key
from tools import import_ratings
from tools.import_ratings import EXIT_BAD_ROWS, EXIT_ERROR, EXIT_OK

STARTED = "2026-11-25T09:00:00.000000Z"
S1, S2 = "8ea2a071-dd9b-4585-b57f-4b4dcbb5a7b1", "0f6c1d9e-2b7a-4c55-9e31-a8d4f2b6c7e0"
Q1 = Turn(role="customer", text="How do I reset my password? <b>urgent</b> \u00e9", turn_id="q1",
          created_at="2026-11-25T09:00:01.000000Z")
A1 = Turn(role="bot", text="Open Settings, then Security, then Reset password.", turn_id="a1",
          created_at="2026-11-25T09:00:02.000000Z", reply_to="q1")
Q2 = Turn(role="customer", text="And my delivery address?", turn_id="q2", created_at="2026-11-25T09:00:03.000000Z")
A2 = Turn(role="bot", text="Orders, then Edit address.", turn_id="a2", created_at="2026-11-25T09:00:04.000000Z")
SYSTEM = Turn(role="system", text="An expert joins.", turn_id="sys", created_at="2026-11-25T09:00:05.000000Z")
LONE = Turn(role="bot", text="Hello! How can I help?", turn_id="greeting", created_at="2026-11-25T08:59:59.000000Z")


def transcript(session_id: str, *turns: Turn) -> Transcript:
    return Transcript(session_id=session_id, started_at=STARTED, updated_at=STARTED, turns=list(turns))


TRANSCRIPTS = [transcript(S1, LONE, Q1, A1, Q2, A2, SYSTEM), transcript(S2, Q2, A2)]


@pytest.fixture
def transcripts_dir(tmp_path) -> Path:
    """A local copy laid out as the bucket is: transcripts/dt=<date>/<session_id>.json."""
    root = tmp_path / "copy"
    for t in TRANSCRIPTS:
        path = root / transcript_key(t.session_id, t.started_at)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(t.to_dict(), ensure_ascii=False), encoding="utf-8")
    return root


def write_csv(tmp_path: Path, *lines: str, name: str = "ratings.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(tmp_path: Path, *rows, name: str = "ratings.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def run(input_path: Path, transcripts_dir: Path, output: Path, *extra: str) -> int:
    return import_ratings.main(["--input", str(input_path), "--transcripts-dir", str(transcripts_dir),
                                "--output", str(output), *extra])


def records(path: Path) -> list[RatingRecord]:
    return [RatingRecord.from_dict(json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines()]


def bad_lines(stderr: str, input_path: Path) -> dict[int, str]:
    prefix = f"{input_path}:"
    return {int(line[len(prefix):].split(":", 1)[0]): line[len(prefix):].split(": ", 1)[1]
            for line in stderr.splitlines() if line.startswith(prefix)}


# Good input -------------------------------------------------------------------------------------------------

def test_a_csv_becomes_one_valid_record_per_rated_turn(tmp_path, transcripts_dir, capsys):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater,comment",
                       f"{S1},a1,5,alice,clear", f"{S1},a2,3,alice,")
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK

    first, second = records(output)
    assert (first.session_id, first.turn_id, first.question, first.answer) == (S1, "a1", Q1.text, A1.text)
    assert (first.rating, first.mean, first.agreement, first.source) == (5.0, 5.0, 1.0, "import")
    assert [(r.worker_id, r.value, r.comment) for r in first.ratings] == [("alice", 5, "clear")]
    assert (second.question, second.answer) == (Q2.text, A2.text)  # no reply_to: the customer turn before it
    assert "wrote 2 rating records (2 ratings)" in capsys.readouterr().out


def test_several_raters_of_a_turn_are_consolidated_like_ground_truth(tmp_path, transcripts_dir):
    source = write_jsonl(tmp_path, *({"session_id": S1, "turn_id": "a1", "rating": v, "rater": r}
                                     for r, v in (("alice", 5), ("bob", 4), ("carol", 4), ("dan", 2))))
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK

    (record,) = records(output)
    assert record.rating == 4.0  # median of 2, 4, 4, 5
    assert record.mean == 3.75
    assert record.agreement == 0.5  # two of four gave 4
    assert [r.worker_id for r in record.ratings] == ["alice", "bob", "carol", "dan"]


def test_an_even_split_gives_a_half_median(tmp_path, transcripts_dir):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S2},a2,4,alice", f"{S2},a2,5,bob")
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK
    (record,) = records(output)
    assert (record.rating, record.agreement, record.session_id) == (4.5, 0.5, S2)


def test_the_jsonl_output_keeps_unicode_and_markup_as_text(tmp_path, transcripts_dir):
    source = write_jsonl(tmp_path, {"session_id": S1, "turn_id": "a1", "rating": 4, "rater": "\u00e9mile",
                                    "comment": "<i>ok</i>", "extra": "ignored"})
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK
    line = output.read_text(encoding="utf-8")
    assert "<b>urgent</b> \u00e9" in line and "\u00e9mile" in line
    assert records(output)[0].ratings[0].comment == "<i>ok</i>"


@pytest.mark.parametrize("rating", ["4", " 4 ", "4.0", 4, 4.0])
def test_a_rating_may_be_written_as_a_spreadsheet_writes_integers(tmp_path, transcripts_dir, rating):
    source = write_jsonl(tmp_path, {"session_id": S1, "turn_id": "a1", "rating": rating, "rater": "a"})
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK
    assert records(output)[0].ratings[0].value == 4


def test_a_csv_with_a_byte_order_mark_and_spaced_headers_is_read(tmp_path, transcripts_dir):
    source = tmp_path / "excel.csv"
    source.write_bytes(b"\xef\xbb\xbfsession_id, turn_id ,rating,rater\r\n" + f"{S1},a1,2,alice\r\n".encode())
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_OK
    assert records(output)[0].rating == 2.0


def test_transcripts_are_read_from_the_bucket(tmp_path, aws):
    s3 = aws.s3
    aws.create("transcripts_bucket", "tandem-transcripts-import")
    for t in TRANSCRIPTS:
        s3.put_object(Bucket="tandem-transcripts-import", Key=transcript_key(t.session_id, t.started_at),
                      Body=json.dumps(t.to_dict()).encode())
    s3.put_object(Bucket="tandem-transcripts-import", Key=f"elsewhere/{S2}.json", Body=b"not a transcript")
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S1},a1,5,alice", f"{S2},a2,1,bob")
    output = tmp_path / "out.jsonl"

    code = import_ratings.main(["--input", str(source), "--transcripts-bucket", "tandem-transcripts-import",
                                "--output", str(output)])

    assert code == EXIT_OK
    assert [(r.session_id, r.answer) for r in records(output)] == [(S1, A1.text), (S2, A2.text)]


# Bad rows ---------------------------------------------------------------------------------------------------

BAD_CSV = ["session_id,turn_id,rating,rater",  # line 1
           f"{S1},a1,5,alice",                 # 2: good
           ",a1,5,bob",                       # 3: missing session_id
           f"{S1},a1,,carol",                  # 4: missing rating
           f"{S1},a1,4.5,dave",                # 5: not an integer
           f"{S1},a1,6,erin",                  # 6: out of range
           f"{S1},a1,five,frank",              # 7: not a number
           f"{S1},a1,3,",                      # 8: missing rater
           "no-such-session,a1,3,gina",       # 9: unknown session
           f"{S1},no-such-turn,3,hugo",        # 10: unknown turn
           f"{S1},q1,3,ines",                  # 11: a customer turn
           f"{S1},sys,3,jon",                  # 12: a system turn
           f"{S1},greeting,3,kim",             # 13: a bot turn with no question before it
           f"{S1},a1,4,alice",                 # 14: alice again
           f"{S1},a2,0,lea",                   # 15: below range
           f"{S2},a2,2,mia,extra"]             # 16: more fields than the header

EXPECTED = {3: "session_id is missing", 4: "rating is missing", 5: "rating must be an integer from 1 to 5, not '4.5'",
            6: "rating must be an integer from 1 to 5, not '6'", 7: "rating must be an integer from 1 to 5, not 'five'",
            8: "rater is missing", 9: "unknown session 'no-such-session': no transcript",
            10: f"unknown turn 'no-such-turn' in session '{S1}'", 11: "turn 'q1' is a customer turn, not a bot turn",
            12: "turn 'sys' is a system turn, not a bot turn",
            13: "bot turn 'greeting' has no customer question before it",
            14: "rater 'alice' already rated this turn on line 2",
            15: "rating must be an integer from 1 to 5, not '0'", 16: "the line has more fields than the header"}


def test_each_bad_row_is_reported_with_its_line_and_reason_and_nothing_is_written(tmp_path, transcripts_dir,
                                                                                     capsys):
    source = write_csv(tmp_path, *BAD_CSV)
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_BAD_ROWS

    err = capsys.readouterr().err
    assert bad_lines(err, source) == EXPECTED
    assert "14 of 15 rows are bad; nothing written" in err
    assert not output.exists() and list(tmp_path.glob(".out.jsonl.*")) == []


def test_a_bad_run_leaves_an_earlier_output_as_it_was(tmp_path, transcripts_dir):
    output = tmp_path / "out.jsonl"
    output.write_text("earlier\n")

    assert run(write_csv(tmp_path, *BAD_CSV), transcripts_dir, output) == EXIT_BAD_ROWS
    assert output.read_text() == "earlier\n"


def test_skip_bad_lists_the_bad_rows_and_writes_the_good_ones(tmp_path, transcripts_dir, capsys):
    source = write_csv(tmp_path, *BAD_CSV)
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output, "--skip-bad") == EXIT_OK

    captured = capsys.readouterr()
    assert bad_lines(captured.err, source) == EXPECTED
    (record,) = records(output)
    assert (record.turn_id, [r.worker_id for r in record.ratings]) == ("a1", ["alice"])
    assert "14 bad rows left out" in captured.out


def test_jsonl_bad_lines_are_reported_by_line(tmp_path, transcripts_dir, capsys):
    source = write_jsonl(tmp_path, {"session_id": S1, "turn_id": "a1", "rating": 5, "rater": "alice"},
                         "", "{broken", "[1, 2]", {"session_id": S1, "turn_id": "a1", "rating": True, "rater": "b"},
                         {"session_id": S1, "turn_id": 7, "rating": 3, "rater": "c"},
                         {"session_id": S1, "turn_id": "a1", "rating": 3.5, "rater": "d"})

    assert run(source, transcripts_dir, tmp_path / "out.jsonl") == EXIT_BAD_ROWS

    assert bad_lines(capsys.readouterr().err, source) == {
        3: "the line is not valid JSON", 4: "the line is not a JSON object",
        5: "rating must be an integer from 1 to 5, not 'True'", 6: "turn_id must be text",
        7: "rating must be an integer from 1 to 5, not '3.5'"}


def test_skip_bad_with_no_good_row_writes_nothing(tmp_path, transcripts_dir, capsys):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S1},q1,3,ines")
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output, "--skip-bad") == EXIT_BAD_ROWS
    assert "no valid rating to import" in capsys.readouterr().err and not output.exists()


def test_an_unreadable_transcript_makes_its_rows_bad(tmp_path, transcripts_dir, capsys):
    (transcripts_dir / "broken").mkdir()
    (transcripts_dir / "broken" / "broken-session.json").write_text('{"schema_version": 99}')
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", "broken-session,a1,3,alice")

    assert run(source, transcripts_dir, tmp_path / "out.jsonl") == EXIT_BAD_ROWS
    assert bad_lines(capsys.readouterr().err, source) == {
        2: "the transcript of session broken-session is unreadable (ValueError)"}


# The command cannot run ----------------------------------------------------------------------------------

def test_a_csv_without_a_required_column_cannot_run(tmp_path, transcripts_dir, capsys):
    source = write_csv(tmp_path, "session_id,turn_id,score,rater", f"{S1},a1,5,alice")

    assert run(source, transcripts_dir, tmp_path / "out.jsonl") == EXIT_ERROR
    assert "lacks the column(s) rating" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["missing input", "unknown extension", "not utf-8", "no transcripts dir",
                                     "output folder missing"])
def test_what_keeps_the_command_from_running_exits_2(tmp_path, transcripts_dir, capsys, problem):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S1},a1,5,alice")
    output = tmp_path / "out.jsonl"
    if problem == "missing input":
        source = tmp_path / "absent.csv"
    elif problem == "unknown extension":
        source = source.rename(tmp_path / "ratings.txt")
    elif problem == "not utf-8":
        source.write_bytes(b"session_id,turn_id,rating,rater\n\xff\xfe,a1,5,x\n")
    elif problem == "no transcripts dir":
        transcripts_dir = tmp_path / "nowhere"
    else:
        output = tmp_path / "missing-folder" / "out.jsonl"

    assert run(source, transcripts_dir, output) == EXIT_ERROR
    assert capsys.readouterr().err.startswith("error: ")


def test_an_unreachable_bucket_exits_2(tmp_path, capsys, aws):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S1},a1,5,alice")
    code = import_ratings.main(["--input", str(source), "--transcripts-bucket", "tandem-no-such-bucket",
                                "--output", str(tmp_path / "out.jsonl")])

    assert code == EXIT_ERROR
    assert "cannot be listed (NoSuchBucket)" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        import_ratings.main(["--input", "r.csv", "--output", "o.jsonl"])  # no transcripts source
    assert exit_info.value.code == EXIT_ERROR


def test_the_source_can_be_named_but_must_be_a_known_one(tmp_path, transcripts_dir):
    source = write_csv(tmp_path, "session_id,turn_id,rating,rater", f"{S1},a1,5,alice")
    output = tmp_path / "out.jsonl"

    assert run(source, transcripts_dir, output, "--source", "groundtruth") == EXIT_OK
    assert records(output)[0].source == "groundtruth"
    with pytest.raises(SystemExit):
        run(source, transcripts_dir, output, "--source", "spreadsheet")
