"""The dataset builder: rating records (lambdas/common/feedback.py) and customers' thumbs
(lambdas/common/thumbs.py ThumbRecord) -> the training rows every fine-tuning path reads. Used by the dataset Lambda (lambdas/finetune_dataset/) and by the training job (training/,
`--ratings` builds a dataset locally), so it is pure Python: no boto3, no torch.

Formats (one JSON object per line when written, see to_jsonl):
    reward   {"prompt", "response", "reward", "rating", "session_id", "turn_id", "system"?}: every accepted record;
             reward = (rating - 3) / 2, in [-1, 1], times the raters' agreement when weight_by_agreement.
    kto      {"prompt", "completion", "label", "session_id", "turn_id", "source", "weight", "system"?}: from a
             rating record, label true for rating >= good_min_rating, false for rating <= bad_max_rating, the
             ratings in between left out (counted per split as kto_dropped_middle: they are not bad rows),
             source the record's (groundtruth, import, ...) and weight 1; from a customer's thumb, label true
             for up and false for down, source "thumbs" and weight thumbs_weight (a customer's one click
             counts for less than an expert's rating). Thumbs make KTO rows only: no reward or Bedrock rows.
    bedrock prompt/completion {"prompt", "completion"} and bedrock-conversation-2024
             {"schemaVersion", "system"?, "messages"}: the well-rated answers only (rating >= good_min_rating),
             for a Bedrock model-customization job; "system" is written only when a system prompt is given.
The prompt is the record's question as the customer asked it: the records hold no retrieved context or
earlier turns, so nothing else can be rebuilt faithfully (a known simplification). With a system prompt
(the chatbot's, which it sends before every question), reward and KTO rows carry it as "system", so the
job trains with the instructions the tuned model will be given.

The train/eval split is by session (a session's turns share context, so splitting by turn would leak),
decided per session from sha256(split_seed, session_id): adding records never moves an existing session,
except in the small-data fix-up below (at least one session on each side). And by content: the same
question with the same answer (content_key: case, whitespace and punctuation aside) is never on both sides,
or the held-out margin would partly measure memorisation (a frequently asked question answered the same way
in many sessions, a greeting every session opens with). An eval record whose question and answer a training
record also holds is left out of the eval split (the training split keeps its twin); report.json counts
them (`same_content`). Moving whole sessions instead would tie every session holding such a turn into one
group, and one greeting would then put nearly all sessions on one side.

The held-out margin needs both kinds of answers: with fewer than min_eval_rows well-rated or badly rated
reward rows in the eval split, require_eval_rows raises DatasetError naming the counts (the dataset Lambda
writes report.json first, then stops the pipeline with it).

Thumbs are read and reported apart from the ratings (`thumbs` in the report: records, bad rows, and the
thumbs left out because an expert rated the same answer: the expert's rating wins, never both), and each
split counts its KTO rows per source (kto_by_source), so a dataset never mixes the two silently.

Nothing is dropped silently: a line that is not a valid rating record is counted by reason in `bad_rows`
with its first locations ("source:line"); of two records of the same (session_id, turn_id) the later one
wins (later source, or later line) and the earlier counts as a "duplicate"; Bedrock rows over Bedrock's
per-record bound are counted as "exceeds_bedrock_limit" and left out of the Bedrock files only.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Literal

from lambdas.common.expert_answers import EXPERT_ANSWER_SCHEMA_VERSION, ExpertAnswerRecord
from lambdas.common.feedback import (
    MAX_RATING,
    MIN_RATING,
    RATING_SCHEMA_VERSION,
    FeedbackFormatError,
    RatingRecord,
)
from lambdas.common.text_normalization import normalize
from lambdas.common.thumbs import THUMB_SCHEMA_VERSION, ThumbRecord

REWARD_FILE = "reward.jsonl"
KTO_FILE = "kto.jsonl"
BEDROCK_CONVERSATION_SCHEMA = "bedrock-conversation-2024"

# Bedrock model-customization limits. Sources: the Bedrock User Guide pages "Model requirements for
# training and validation datasets" (model-training-validation-requirements.html) and "Prepare data for
# fine-tuning your models" (model-customization-prepare.html), which defers record counts to the
# "Sum of training and validation records" quotas of "Amazon Bedrock endpoints and quotas" (AWS General
# Reference). Default quotas; an account may have others, so these are the safe side.
# - Sum of training and validation records per fine-tuning job: 10,000. The quota table itself could not be
#   read when this was written; 10,000 is the training-record maximum the requirements page gives, and
#   the quotas are adjustable per account: a larger one only means Tandem keeps fewer rows than allowed.
BEDROCK_MAX_RECORDS = 10_000
# - Validation records: no published number was found; 1,000 is Tandem's own cap (a tenth of the job's
#   records), which keeps the validation file far under its 100 MB quota and the training share large.
BEDROCK_MAX_VALIDATION_RECORDS = 1_000
# - Sum of input and output tokens per record (batch size 1): 4,096; the page sets the character quota per
#   sample to "token quota x 6". Characters are all we can count here without the model's tokenizer, and
#   6 characters per token holds only for plain English, so the bound is 4 characters per token (16,384):
#   a record under it stays under 4,096 tokens for ordinary text, with room for the chat template.
BEDROCK_MAX_TOKENS_PER_RECORD = 4_096
BEDROCK_CHARS_PER_TOKEN = 4
BEDROCK_MAX_RECORD_CHARS = BEDROCK_MAX_TOKENS_PER_RECORD * BEDROCK_CHARS_PER_TOKEN
# The file-size quotas (training 1 GB, validation 100 MB) follow from the two bounds above: even at 6 bytes
# a character (JSON's \uXXXX escapes), 10,000 x 16,384 x 6 B < 1 GiB and 1,000 x 16,384 x 6 B < 100 MiB.

MAX_EXAMPLES = 5  # locations kept per bad-row reason: enough to find the problem, small in the report
REQUIRED_FIELDS = ("session_id", "turn_id", "question", "answer", "rating", "ratings", "agreement", "source")
THUMB_REQUIRED_FIELDS = ("session_id", "turn_id", "question", "answer", "thumb", "given_at", "source")
EXPERT_ANSWER_REQUIRED_FIELDS = ("session_id", "turn_id", "escalation_id", "question", "answer", "reviewer",
                                 "reviewed_at", "source")
RATING_WEIGHT = 1.0  # the weight of a KTO row from an expert's rating
# The fewest well-rated AND badly rated reward rows the eval split must hold. The held-out margin and the
# per-side mean log-probabilities are means over these rows: at 10 a single unusual answer moves its side's
# mean by at most a tenth of its own deviation, where at 3 or 4 one answer decides whether training "helped".
# The same order as the train split's minimum (the dataset Lambda's MIN_TRAIN_ROWS, 10 by default).
DEFAULT_MIN_EVAL_ROWS = 10
Kind = Literal["reward", "kto"]


class DatasetError(ValueError):
    """Bad options, or a bad row in a training file given to read_rows; the message names the field (and
    the file and line)."""

    def __init__(self, message: str, *, field: str | None = None, location: str | None = None):
        super().__init__(message)
        self.field = field
        self.location = location


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class DatasetOptions:
    good_min_rating: float = 4.0  # rating >= this: well rated (KTO label true, Bedrock rows)
    bad_max_rating: float = 2.0  # rating <= this: badly rated (KTO label false); in between: not in KTO
    eval_fraction: float = 0.2  # share of sessions held out
    split_seed: str = "tandem"  # deterministic split: sha256(seed, session_id)
    weight_by_agreement: bool = False
    system_prompt: str = ""  # bedrock-conversation-2024 "system"; none when empty
    thumbs_weight: float = 0.5  # the weight of a KTO row from a customer's thumb (an expert's rating: 1)
    min_eval_rows: int = DEFAULT_MIN_EVAL_ROWS  # of each side, well rated and badly rated (require_eval_rows)

    def __post_init__(self) -> None:
        for name in ("good_min_rating", "bad_max_rating", "eval_fraction", "thumbs_weight"):
            if not _is_number(getattr(self, name)):
                raise DatasetError(f"{name} must be a number", field=name)
        for name in ("bad_max_rating", "good_min_rating"):
            if not MIN_RATING <= getattr(self, name) <= MAX_RATING:
                raise DatasetError(f"{name} must be from {MIN_RATING} to {MAX_RATING}", field=name)
        if not self.bad_max_rating < self.good_min_rating:
            raise DatasetError("good_min_rating must be greater than bad_max_rating", field="good_min_rating")
        if not 0 <= self.eval_fraction < 1:
            raise DatasetError("eval_fraction must be from 0 to less than 1", field="eval_fraction")
        if not isinstance(self.split_seed, str) or not self.split_seed:
            raise DatasetError("split_seed must be a non-empty string", field="split_seed")
        if not isinstance(self.weight_by_agreement, bool):
            raise DatasetError("weight_by_agreement must be true or false", field="weight_by_agreement")
        if not isinstance(self.system_prompt, str):
            raise DatasetError("system_prompt must be a string", field="system_prompt")
        if not 0 < self.thumbs_weight <= RATING_WEIGHT:
            raise DatasetError(f"thumbs_weight must be above 0 and at most {RATING_WEIGHT:g} (an expert rating's "
                               "weight)", field="thumbs_weight")
        if isinstance(self.min_eval_rows, bool) or not isinstance(self.min_eval_rows, int) or self.min_eval_rows < 0:
            raise DatasetError("min_eval_rows must be a whole number of at least 0", field="min_eval_rows")


class BadRows:
    """Rows left out, counted by reason, with the first few locations ("source:line") of each."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.examples: dict[str, list[str]] = {}

    def add(self, reason: str, location: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        examples = self.examples.setdefault(reason, [])
        if len(examples) < MAX_EXAMPLES:
            examples.append(location)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "by_reason": {reason: {"count": self.counts[reason],
                                                            "examples": list(self.examples[reason])}
                                                   for reason in sorted(self.counts)}}


@dataclass
class Split:
    reward: list[dict[str, Any]] = field(default_factory=list)
    kto: list[dict[str, Any]] = field(default_factory=list)
    bedrock_prompt_completion: list[dict[str, Any]] = field(default_factory=list)
    bedrock_conversation: list[dict[str, Any]] = field(default_factory=list)
    sessions: set[str] = field(default_factory=set)
    kto_dropped_middle: int = 0  # records rated between bad_max_rating and good_min_rating
    reward_good: int = 0  # reward rows rated at least good_min_rating
    reward_bad: int = 0  # reward rows rated at most bad_max_rating

    def counts(self) -> dict[str, Any]:
        by_source: dict[str, dict[str, int]] = {}
        for row in self.kto:
            counted = by_source.setdefault(row["source"], {"kto_true": 0, "kto_false": 0})
            counted["kto_true" if row["label"] else "kto_false"] += 1
        return {"sessions": len(self.sessions), "reward": len(self.reward), "reward_good": self.reward_good,
                "reward_bad": self.reward_bad, "kto": len(self.kto),
                "kto_true": sum(1 for row in self.kto if row["label"]),
                "kto_false": sum(1 for row in self.kto if not row["label"]),
                "kto_by_source": {source: by_source[source] for source in sorted(by_source)},
                "kto_dropped_middle": self.kto_dropped_middle,
                "bedrock_prompt_completion": len(self.bedrock_prompt_completion),
                "bedrock_conversation": len(self.bedrock_conversation)}


@dataclass
class Dataset:
    train: Split
    eval: Split
    bad_rows: BadRows
    records: int  # accepted rating records (after duplicates)
    options: DatasetOptions
    # Per Bedrock format ("prompt_completion", "conversation"): rows over the per-record bound, and the rows
    # cut from a file over its record-count quota ({"train": n, "validation": n}).
    bedrock_skipped: dict[str, BadRows] = field(default_factory=dict)
    bedrock_truncated: dict[str, dict[str, int]] = field(default_factory=dict)
    thumbs: ThumbsRead = field(default_factory=lambda: ThumbsRead())
    expert_answers: ExpertAnswersRead = field(default_factory=lambda: ExpertAnswersRead())
    same_content: SameContent = field(default_factory=lambda: SameContent())

    def require_eval_rows(self) -> None:
        """Raises DatasetError (field min_eval_rows) unless the eval split holds min_eval_rows well-rated and
        min_eval_rows badly rated reward rows: without both, the held-out margin measures nothing."""
        need, good, bad = self.options.min_eval_rows, self.eval.reward_good, self.eval.reward_bad
        if good < need or bad < need:
            raise DatasetError(
                f"the eval split has {good} well-rated (rating >= {self.options.good_min_rating:g}) and {bad} badly "
                f"rated (rating <= {self.options.bad_max_rating:g}) answers; the held-out measures need at least "
                f"min_eval_rows={need} of each ({len(self.eval.sessions)} of "
                f"{len(self.eval.sessions) + len(self.train.sessions)} sessions held out)", field="min_eval_rows")

    def to_report(self) -> dict[str, Any]:
        options = {k: v for k, v in asdict(self.options).items() if k != "system_prompt"}
        options["system_prompt_chars"] = len(self.options.system_prompt)  # its length is enough to audit
        return {"records": self.records, "options": options,
                "splits": {"train": self.train.counts(), "eval": self.eval.counts()},
                "bad_rows": self.bad_rows.to_dict(),
                "thumbs": self.thumbs.to_report(), "expert_answers": self.expert_answers.to_report(),
                "same_content": self.same_content.to_report(),
                "bedrock": {"limits": {"max_records": BEDROCK_MAX_RECORDS,
                                       "max_validation_records": BEDROCK_MAX_VALIDATION_RECORDS,
                                       "max_record_chars": BEDROCK_MAX_RECORD_CHARS},
                            "skipped": {name: rows.to_dict() for name, rows in self.bedrock_skipped.items()},
                            "truncated": {name: dict(cut) for name, cut in self.bedrock_truncated.items()}}}


@dataclass
class SameContent:
    """The eval records left out because a training record holds the same question and answer (content_key)."""

    eval_rows_left_out: int = 0  # rating records and accepted expert answers (each a reward row)
    eval_thumbs_left_out: int = 0  # customers' thumbs (each a KTO row)
    keys: int = 0  # distinct questions-and-answers concerned

    def to_report(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ExpertAnswersRead:
    """The accepted experts' answers, reported apart from the rating records."""

    records: int = 0
    bad_rows: BadRows = field(default_factory=BadRows)

    def to_report(self) -> dict[str, Any]:
        return {"records": self.records, "bad_rows": self.bad_rows.to_dict()}


@dataclass
class ThumbsRead:
    """The customers' thumbs, reported apart from the rating records."""

    records: int = 0  # accepted thumbs (after duplicates)
    superseded_by_rating: int = 0  # of those, left out: an expert rated the same answer
    bad_rows: BadRows = field(default_factory=BadRows)

    @property
    def used(self) -> int:
        return self.records - self.superseded_by_rating

    def to_report(self) -> dict[str, Any]:
        return {"records": self.records, "used": self.used, "superseded_by_rating": self.superseded_by_rating,
                "bad_rows": self.bad_rows.to_dict()}


@dataclass(frozen=True)
class _Read:
    record: Any  # RatingRecord, ThumbRecord or ExpertAnswerRecord
    location: str  # "source:line"


def _text(line: str | bytes) -> str:
    if isinstance(line, bytes):
        return line.decode("utf-8-sig")  # UnicodeDecodeError is a ValueError: an invalid line
    return line.removeprefix("\ufeff")


@dataclass(frozen=True)
class _Format:
    """How one kind of input line is read: its required fields, its schema version, how a valid object becomes a
    record, and which FeedbackFormatError fields get a reason of their own (else "invalid_record")."""

    required: tuple[str, ...]
    schema_version: int
    make: Callable[[dict[str, Any]], Any]
    field_reasons: dict[str, str]


def _parse(line: str | bytes, form: _Format) -> tuple[Any, str | None]:
    """(record, None) for a valid line, (None, reason) for a bad one, (None, None) for a blank line."""
    try:
        text = _text(line)
    except ValueError:
        return None, "invalid_json"
    if not text.strip():
        return None, None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, "invalid_json"
    if not isinstance(data, dict):
        return None, "not_an_object"
    if any(data.get(name) is None for name in form.required):
        return None, "missing_field"
    if data.get("schema_version", form.schema_version) != form.schema_version:
        return None, "wrong_schema_version"
    try:
        record = form.make(data)
    except FeedbackFormatError as error:
        if error.field in ("question", "answer") and str(error).endswith("must not be empty"):
            return None, "empty_text"
        return None, form.field_reasons.get(error.field, "invalid_record")
    if not record.answer.strip():
        return None, "empty_text"  # the formats allow an empty answer; there is nothing to learn from
    return record, None


RATING_FORMAT = _Format(REQUIRED_FIELDS, RATING_SCHEMA_VERSION, RatingRecord.from_dict,
                        {"rating": "invalid_rating", "value": "invalid_rating"})
THUMB_FORMAT = _Format(THUMB_REQUIRED_FIELDS, THUMB_SCHEMA_VERSION, ThumbRecord.from_dict,
                       {name: f"invalid_{name}" for name in ("thumb", "comment", "source")})
EXPERT_ANSWER_FORMAT = _Format(EXPERT_ANSWER_REQUIRED_FIELDS, EXPERT_ANSWER_SCHEMA_VERSION,
                               ExpertAnswerRecord.from_dict, {"source": "invalid_source"})


def _read(sources: Iterable[tuple[str, Iterable[str | bytes]]], form: _Format, bad_rows: BadRows) -> list[_Read]:
    """The valid records of `sources`, one per (session_id, turn_id): of two, the later one (later source, or
    later line) wins and the earlier counts as a "duplicate"."""
    accepted: dict[tuple[str, str], _Read] = {}
    for source, lines in sources:
        for number, line in enumerate(lines, start=1):
            record, reason = _parse(line, form)
            location = f"{source}:{number}"
            if reason:
                bad_rows.add(reason, location)
            if record is None:
                continue
            key = (record.session_id, record.turn_id)
            if key in accepted:
                bad_rows.add("duplicate", accepted[key].location)  # the earlier one is replaced
                del accepted[key]  # re-inserted below: the rows follow the order the winners were read in
            accepted[key] = _Read(record, location)
    return list(accepted.values())


def _score(seed: str, value: str) -> float:
    """A number in [0, 1) fixed by (seed, value) alone."""
    digest = hashlib.sha256(f"{seed}\x00{value}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def content_key(question: str, answer: str) -> str:
    """What makes two rated answers the same for the split: the question and the answer, each in the canonical
    form of lambdas/common/text_normalization.py (NFKC, no format characters), case-folded, punctuation
    replaced by spaces and whitespace runs made one space."""
    def canonical(text: str) -> str:
        folded = normalize(text).casefold()
        return " ".join("".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in folded).split())

    return f"{canonical(question)}\x00{canonical(answer)}"


def split_sessions(sessions: Iterable[str], eval_fraction: float, seed: str) -> tuple[set[str], set[str]]:
    """(train, eval) session ids. A session is held out when its score is below eval_fraction, so each
    session's side depends on nothing else. With two sessions or more and eval_fraction > 0, each side gets
    at least one: the lowest-scoring session moves to eval, or the highest-scoring one back to train. A
    single session is always trained on (nothing to train on otherwise)."""
    scores = {session: _score(seed, session) for session in set(sessions)}
    held_out = {session for session, score in scores.items() if score < eval_fraction}
    if len(scores) == 1:
        held_out = set()
    elif len(scores) >= 2 and eval_fraction > 0:
        ranked = sorted(scores, key=lambda session: (scores[session], session))
        if not held_out:
            held_out = {ranked[0]}
        elif len(held_out) == len(scores):
            held_out.discard(ranked[-1])
    return set(scores) - held_out, held_out


def _unseen(held_out: list[_Read], seen: set[str]) -> tuple[list[_Read], set[str]]:
    """The held-out records whose content key is not in `seen` (the training records'), and the keys of
    those left out."""
    kept, left_out = [], set()
    for read in held_out:
        key = content_key(read.record.question, read.record.answer)
        if key in seen:
            left_out.add(key)
        else:
            kept.append(read)
    return kept, left_out


def _reward(record: _Graded, options: DatasetOptions) -> float:
    reward = (record.rating - 3) / 2
    if options.weight_by_agreement:
        reward *= record.agreement
    return round(reward, 6)


def _conversation(record: _Graded, system_prompt: str) -> dict[str, Any]:
    row: dict[str, Any] = {"schemaVersion": BEDROCK_CONVERSATION_SCHEMA}
    if system_prompt:
        row["system"] = [{"text": system_prompt}]
    row["messages"] = [{"role": "user", "content": [{"text": record.question}]},
                       {"role": "assistant", "content": [{"text": record.answer}]}]
    return row


def _fill(split: Split, items: list[_Read], options: DatasetOptions, skipped: dict[str, BadRows]
          ) -> dict[str, list[str]]:
    """Adds the rows of `items` to `split`; returns the Bedrock rows' session/turn keys (for truncation)."""
    keys: dict[str, list[str]] = {"prompt_completion": [], "conversation": []}
    for item in items:
        record = item.record
        ids = {"session_id": record.session_id, "turn_id": record.turn_id}
        if options.system_prompt:  # what the chatbot sends before every question: the model trains with it
            ids["system"] = options.system_prompt
        split.sessions.add(record.session_id)
        split.reward.append({"prompt": record.question, "response": record.answer,
                             "reward": _reward(record, options), "rating": record.rating, **ids})
        if record.rating >= options.good_min_rating:
            label: bool | None = True
            split.reward_good += 1
        elif record.rating <= options.bad_max_rating:
            label = False
            split.reward_bad += 1
        else:
            label = None
            split.kto_dropped_middle += 1
        if label is not None:
            split.kto.append({"prompt": record.question, "completion": record.answer, "label": label, **ids,
                              "source": record.source, "weight": RATING_WEIGHT})
        if label is not True:
            continue
        key = f"{record.session_id}\x00{record.turn_id}"
        chars = len(record.question) + len(record.answer)
        if chars > BEDROCK_MAX_RECORD_CHARS:
            skipped["prompt_completion"].add("exceeds_bedrock_limit", item.location)
        else:
            split.bedrock_prompt_completion.append({"prompt": record.question, "completion": record.answer})
            keys["prompt_completion"].append(key)
        if chars + len(options.system_prompt) > BEDROCK_MAX_RECORD_CHARS:
            skipped["conversation"].add("exceeds_bedrock_limit", item.location)
        else:
            split.bedrock_conversation.append(_conversation(record, options.system_prompt))
            keys["conversation"].append(key)
    return keys


def _fill_thumbs(split: Split, thumbs: list[_Read], options: DatasetOptions) -> None:
    for thumb in thumbs:
        record = thumb.record
        ids = {"session_id": record.session_id, "turn_id": record.turn_id}
        if options.system_prompt:
            ids["system"] = options.system_prompt
        split.sessions.add(record.session_id)
        split.kto.append({"prompt": record.question, "completion": record.answer, "label": record.label, **ids,
                          "source": record.source, "weight": options.thumbs_weight})


def _truncate(rows: list[dict[str, Any]], keys: list[str], limit: int, seed: str) -> tuple[list[dict[str, Any]], int]:
    """At most `limit` rows, chosen by a hash of the seed and each row's turn (not by position, which would
    favour some sessions), kept in their order. Returns (rows, how many were cut)."""
    if len(rows) <= limit:
        return rows, 0
    kept = set(sorted(range(len(rows)), key=lambda i: (_score(seed, keys[i]), keys[i]))[:limit])
    return [row for i, row in enumerate(rows) if i in kept], len(rows) - limit


@dataclass(frozen=True)
class _Graded:
    """What a reward, KTO or Bedrock row is made of: a rating record, or an accepted expert answer, which counts
    as rated MAX_RATING with full agreement by the person who chose it (its rows carry its own source)."""

    session_id: str
    turn_id: str
    question: str
    answer: str
    rating: float
    agreement: float
    source: str


def _graded(read: _Read) -> _Read:
    record = read.record
    if isinstance(record, ExpertAnswerRecord):
        return _Read(_Graded(record.session_id, record.turn_id, record.question, record.answer, MAX_RATING, 1.0,
                             record.source), read.location)
    return _Read(_Graded(record.session_id, record.turn_id, record.question, record.answer, record.rating,
                         record.agreement, record.source), read.location)


def build_dataset(sources: Iterable[tuple[str, Iterable[str | bytes]]], options: DatasetOptions,
                  thumbs: Iterable[tuple[str, Iterable[str | bytes]]] = (),
                  expert_answers: Iterable[tuple[str, Iterable[str | bytes]]] = ()) -> Dataset:
    """sources: (name, lines) pairs of rating record files, e.g. ("ratings/job-1.jsonl", body.iter_lines());
    thumbs: the same of ThumbRecord files ("thumbs/<run>.jsonl"); expert_answers: of ExpertAnswerRecord files
    ("expert-answers/<escalation>/<turn>.jsonl"). Each is read in the order given (a later record of the same
    turn wins, so give them in a deterministic order)."""
    bad_rows = BadRows()
    accepted = _read(sources, RATING_FORMAT, bad_rows)
    thumbs_read = ThumbsRead()
    thumbed = _read(thumbs, THUMB_FORMAT, thumbs_read.bad_rows)
    answers_read = ExpertAnswersRead()
    answers = _read(expert_answers, EXPERT_ANSWER_FORMAT, answers_read.bad_rows)
    answers_read.records = len(answers)
    rated = {(a.record.session_id, a.record.turn_id) for a in accepted}
    used = [t for t in thumbed if (t.record.session_id, t.record.turn_id) not in rated]  # the expert's rating wins
    thumbs_read.records, thumbs_read.superseded_by_rating = len(thumbed), len(thumbed) - len(used)
    train_sessions, eval_sessions = split_sessions(
        [*(a.record.session_id for a in accepted), *(t.record.session_id for t in used),
         *(a.record.session_id for a in answers)],
        options.eval_fraction, options.split_seed)
    skipped = {"prompt_completion": BadRows(), "conversation": BadRows()}
    same_content = SameContent()
    dataset = Dataset(train=Split(), eval=Split(), bad_rows=bad_rows, records=len(accepted), options=options,
                      bedrock_skipped=skipped, thumbs=thumbs_read, expert_answers=answers_read,
                      same_content=same_content)
    graded = [_graded(read) for read in accepted + answers]
    trained = [a for a in graded if a.record.session_id in train_sessions]
    trained_thumbs = [t for t in used if t.record.session_id in train_sessions]
    seen = {content_key(read.record.question, read.record.answer) for read in trained + trained_thumbs}
    candidates = [a for a in graded if a.record.session_id in eval_sessions]
    held_out, left_out = _unseen(candidates, seen)
    candidate_thumbs = [t for t in used if t.record.session_id in eval_sessions]
    held_out_thumbs, thumbs_left_out = _unseen(candidate_thumbs, seen)
    same_content.eval_rows_left_out = len(candidates) - len(held_out)
    same_content.eval_thumbs_left_out = len(candidate_thumbs) - len(held_out_thumbs)
    same_content.keys = len(left_out | thumbs_left_out)
    train_keys = _fill(dataset.train, trained, options, skipped)
    eval_keys = _fill(dataset.eval, held_out, options, skipped)
    _fill_thumbs(dataset.train, trained_thumbs, options)
    _fill_thumbs(dataset.eval, held_out_thumbs, options)
    for name, attribute in (("prompt_completion", "bedrock_prompt_completion"),
                            ("conversation", "bedrock_conversation")):
        validation, cut_validation = _truncate(getattr(dataset.eval, attribute), eval_keys[name],
                                               BEDROCK_MAX_VALIDATION_RECORDS, options.split_seed)
        # The quota is on the sum of the two files: the training file gets what the validation file leaves.
        train, cut_train = _truncate(getattr(dataset.train, attribute), train_keys[name],
                                     BEDROCK_MAX_RECORDS - len(validation), options.split_seed)
        setattr(dataset.eval, attribute, validation)
        setattr(dataset.train, attribute, train)
        dataset.bedrock_truncated[name] = {"train": cut_train, "validation": cut_validation}
    return dataset


def to_jsonl(rows: Iterable[dict[str, Any]]) -> bytes:
    """JSON Lines, UTF-8, one row a line (non-ASCII text kept as is)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _check_text(row: dict[str, Any], name: str, location: str) -> None:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{location}: {name} must be a non-empty string", field=name, location=location)


def _check_row(row: Any, kind: Kind, location: str) -> None:
    if not isinstance(row, dict):
        raise DatasetError(f"{location}: the row must be a JSON object", field="row", location=location)
    for name in ("prompt", "response" if kind == "reward" else "completion", "session_id", "turn_id"):
        _check_text(row, name, location)
    if "system" in row:
        _check_text(row, "system", location)
    if kind == "reward":
        if not _is_number(row.get("reward")) or not -1 <= row["reward"] <= 1:
            raise DatasetError(f"{location}: reward must be a number from -1 to 1", field="reward",
                               location=location)
        if not _is_number(row.get("rating")) or not MIN_RATING <= row["rating"] <= MAX_RATING:
            raise DatasetError(f"{location}: rating must be a number from {MIN_RATING} to {MAX_RATING}",
                               field="rating", location=location)
    else:
        if not isinstance(row.get("label"), bool):
            raise DatasetError(f"{location}: label must be true or false", field="label", location=location)
        if "weight" in row and (not _is_number(row["weight"]) or not 0 < row["weight"] <= RATING_WEIGHT):
            raise DatasetError(f"{location}: weight must be a number above 0 and at most {RATING_WEIGHT:g}",
                               field="weight", location=location)


def read_rows(lines: Iterable[str | bytes], kind: Kind, source: str) -> list[dict[str, Any]]:
    """The rows of a written reward or KTO file (training/ reads its channels with this). The first bad row
    raises DatasetError naming "source:line" and the field; blank lines are skipped."""
    if kind not in ("reward", "kto"):
        raise DatasetError(f"kind must be reward or kto, not {kind!r}", field="kind")
    rows = []
    for number, line in enumerate(lines, start=1):
        location = f"{source}:{number}"
        try:
            text = _text(line)
            if not text.strip():
                continue
            row = json.loads(text)
        except (ValueError, RecursionError):
            raise DatasetError(f"{location}: not a JSON line", field="line", location=location) from None
        _check_row(row, kind, location)
        rows.append(row)
    return rows


def held_out_questions(rows: Iterable[dict[str, Any]], limit: int) -> list[tuple[str, str | None]]:
    """The first `limit` distinct (question, system prompt) pairs of eval reward rows, in their order (an eval
    session holds several rated answers to one question). The held-out questions both training paths answer
    for the evaluation gate: the training job (training/generation.py) and the Bedrock-customization path
    (lambdas/finetune_answers) pick the same ones from the same file."""
    questions: list[tuple[str, str | None]] = []
    seen: set[tuple[str, str | None]] = set()
    for row in rows:
        if len(questions) >= limit:
            break
        question = (row["prompt"], row.get("system"))
        if question not in seen:
            seen.add(question)
            questions.append(question)
    return questions
