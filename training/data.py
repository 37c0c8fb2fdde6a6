"""Where the job's rows come from: the dataset Lambda's JSONL files, or (locally) rating records and
customers' thumbs.

Used by training/cli.py and training/job.py. Parsing and validation belong to the dataset builder
(lambdas.common.training_data, shared with the dataset Lambda), so a row file the Lambda wrote is read
by the same code that defined it. It is imported lazily so `python -m training --help` needs nothing but
the standard library.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # the dataset builder is imported lazily (see above)
    from lambdas.common.training_data import DatasetOptions, Kind

logger = logging.getLogger(__name__)

REWARD: Kind = "reward"
KTO: Kind = "kto"


class DataError(ValueError):
    """A missing or empty row file; the message names the path."""


@dataclass
class TrainingData:
    train: list[dict[str, Any]]  # reward rows for reward-pg, KTO rows for kto
    eval: list[dict[str, Any]]  # held-out reward rows (they carry the rating the evaluation needs)
    sources: dict[str, str] = field(default_factory=dict)  # where each part came from, for metrics.json


def row_kind(algorithm: str) -> Kind:
    return KTO if algorithm == "kto" else REWARD


def _file_name(kind: Kind) -> str:
    from lambdas.common import training_data

    return training_data.KTO_FILE if kind == KTO else training_data.REWARD_FILE


def resolve(location: Path, kind: Kind) -> Path:
    """A channel is a directory holding reward.jsonl / kto.jsonl; a file is taken as the wanted kind."""
    location = Path(location)
    if location.is_dir():
        path = location / _file_name(kind)
        if not path.is_file():
            raise DataError(f"{location}: no {path.name} in this directory")
        return path
    if not location.is_file():
        raise DataError(f"{location}: no such file or directory")
    return location


def load_rows(location: Path, kind: Kind) -> list[dict[str, Any]]:
    from lambdas.common.training_data import read_rows

    path = resolve(location, kind)
    rows = read_rows(path.read_bytes().splitlines(), kind, str(path))
    logger.info("read %d %s rows from %s", len(rows), kind, path)
    return rows


def load(train: Path, eval_location: Path | None, algorithm: str) -> TrainingData:
    kind = row_kind(algorithm)
    train_rows = load_rows(train, kind)
    if not train_rows:
        raise DataError(f"{train}: no {kind} rows to train on")
    eval_rows: list[dict[str, Any]] = []
    sources = {"train": str(resolve(train, kind))}
    if eval_location is None:
        logger.warning("no eval rows given (--eval or SM_CHANNEL_EVAL): the held-out margin is not measured")
    else:
        eval_rows = load_rows(eval_location, REWARD)
        sources["eval"] = str(resolve(eval_location, REWARD))
    return TrainingData(train=train_rows, eval=eval_rows, sources=sources)


RATINGS, THUMBS, EXPERT_ANSWERS = "ratings", "thumbs", "expert_answers"  # the record files a local build reads
_RECORD_NAMES = {RATINGS: "rating record (lambdas/common/feedback.py RatingRecord)",
                 THUMBS: "thumb record (lambdas/common/thumbs.py ThumbRecord, as the sampler exports them)",
                 EXPERT_ANSWERS: "expert answer record (lambdas/common/expert_answers.py ExpertAnswerRecord, as the "
                                 "rating console writes accepted ones)"}


def from_ratings(files: Sequence[Path], algorithm: str, *, good_min_rating: float, bad_max_rating: float,
                 thumbs: Sequence[Path] = (), expert_answers: Sequence[Path] = (), min_eval_rows: int | None = None,
                 write_to: Path | None = None) -> TrainingData:
    """Local runs: build the split from rating records, customers' thumbs (ThumbRecord JSON Lines, as the
    feedback sampler exports them) and accepted experts' answers (ExpertAnswerRecord JSON Lines) exactly as
    the dataset Lambda would. Thumbs make KTO rows only; an expert answer is a well-rated example.

    A file that holds lines but not one valid record of its kind is an error naming it (most likely a file
    given to the wrong flag); a bad line among good ones is counted in report.json, as the Lambda does.
    write_to (a directory) receives train/ and eval/ row files and report.json, so the run can be repeated
    with --train/--eval. As in the Lambda, an eval split with fewer than min_eval_rows (None: the builder's
    default) well-rated or badly rated answers is an error (DatasetError), raised after report.json is written."""
    import json

    from lambdas.common.training_data import KTO_FILE, REWARD_FILE, DatasetOptions, build_dataset, to_jsonl

    options = DatasetOptions(good_min_rating=good_min_rating, bad_max_rating=bad_max_rating)
    if min_eval_rows is not None:
        options = replace(options, min_eval_rows=min_eval_rows)
    rating_sources = [_read_checked(path, RATINGS, options) for path in files]
    thumb_sources = [_read_checked(path, THUMBS, options) for path in thumbs]
    answer_sources = [_read_checked(path, EXPERT_ANSWERS, options) for path in expert_answers]
    if thumbs and algorithm != "kto":
        logger.warning("thumbs make KTO rows only: %s trains on the ratings' reward rows, without them", algorithm)
    dataset = build_dataset(rating_sources, options, thumbs=thumb_sources, expert_answers=answer_sources)
    report = dataset.to_report()
    logger.info("built the dataset from %d ratings files, %d thumbs files and %d expert answer files: %s",
                len(files), len(thumbs), len(expert_answers), json.dumps(report, default=str))
    if write_to is not None:
        for split_name, split in (("train", dataset.train), ("eval", dataset.eval)):
            folder = Path(write_to) / split_name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / REWARD_FILE).write_bytes(to_jsonl(split.reward))
            (folder / KTO_FILE).write_bytes(to_jsonl(split.kto))
        (Path(write_to) / "report.json").write_text(json.dumps(report, indent=2, default=str))
    dataset.require_eval_rows()
    train_rows = dataset.train.kto if algorithm == "kto" else dataset.train.reward
    if not train_rows:
        raise DataError(f"the given record files gave no {row_kind(algorithm)} rows to train on: {report}")
    sources = {name: ", ".join(str(path) for path in paths)
               for name, paths in ((RATINGS, files), (THUMBS, thumbs), (EXPERT_ANSWERS, expert_answers)) if paths}
    return TrainingData(train=list(train_rows), eval=list(dataset.eval.reward), sources=sources)


def _read_checked(path: Path, kind: str, options: DatasetOptions) -> tuple[str, list[bytes]]:
    """One file's (name, lines) for build_dataset, once it is known to hold a valid record of its kind. The
    check reads the file with build_dataset itself, so it cannot disagree with the build."""
    from lambdas.common.training_data import build_dataset

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such {kind} file")
    source = (str(path), path.read_bytes().splitlines())
    if kind == RATINGS:
        alone = build_dataset([source], options)
        accepted, bad_rows = alone.records, alone.bad_rows
    elif kind == THUMBS:
        alone = build_dataset([], options, thumbs=[source])
        accepted, bad_rows = alone.thumbs.records, alone.thumbs.bad_rows
    else:
        alone = build_dataset([], options, expert_answers=[source])
        accepted, bad_rows = alone.expert_answers.records, alone.expert_answers.bad_rows
    if accepted == 0 and bad_rows.total > 0:
        reasons = ", ".join(f"{reason} x{count} (first at {bad_rows.examples[reason][0]})"
                            for reason, count in sorted(bad_rows.counts.items()))
        raise DataError(f"{path}: no valid {_RECORD_NAMES[kind]}; bad lines: {reasons}")
    return source
