"""Tandem's one settings parser: each Lambda function's environment variables, and the cdk.json values of
stacks/config.py that obey the same rules (a bucket name, a range, a flag is read the same way everywhere).

A function's settings class is a frozen dataclass that declares each variable once, on its field:

    @dataclass(frozen=True)
    class ConsumerSettings(EnvSettings):
        sessions_table: str = field(metadata=SESSIONS_TABLE)  # a Variable several functions read
        busy_message: str = field(metadata=Variable("BUSY_MESSAGE", TEXT))

The function reads it with `ConsumerSettings.from_env()`, and a missing or bad variable raises SettingsError
naming it; the stack that deploys the function builds the same class from its config and CDK tokens and
gives the function `settings.to_env()`. Both sides go through the one declaration, so a variable's name
cannot differ between the stack that sets it and the function that reads it.

A variable is missing when it is absent, or blank while its field has a default (the default then
applies); any other text is its parser's to judge: a blank S3 prefix is the bucket's root, a blank flag is
neither true nor false.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Mapping, Self, TypeVar

T = TypeVar("T")
_VARIABLE = "environment_variable"  # the key of a field's metadata that declares its variable


class SettingsError(ValueError):
    def __init__(self, variable: str, problem: str):
        super().__init__(f"environment variable {variable} {problem}")
        self.variable = variable


class Rejected(ValueError):
    """A text a parser does not take. `accepted` says what it takes, in words that follow "must be"
    (an environment variable) or "expected" (a cdk.json value)."""

    def __init__(self, accepted: str):
        super().__init__(accepted)
        self.accepted = accepted


# Parsers ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Parser(Generic[T]):
    """One kind of setting: what it accepts, and how its text becomes a value (`parse`) and back (`write`)."""

    accepted: str
    convert: Callable[[str], T]  # the text as given -> the value; ValueError (or KeyError) when it is not one
    write: Callable[[T], str] = str

    def parse(self, text: str) -> T:
        try:
            return self.convert(text)
        except (ValueError, KeyError):
            raise Rejected(self.accepted) from None


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("blank")
    return text.strip()


_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _range(low: float | None, high: float | None) -> str:
    if low is None:
        return ""
    return f" from {low} to {high}" if high is not None else f" of at least {low}"


def integer(low: int | None = None, high: int | None = None) -> Parser[int]:
    """A whole number, from low to high when they are given."""

    def convert(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip()):
            raise ValueError(text)
        value = int(text)
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(text)
        return value

    return Parser(f"an integer{_range(low, high)}", convert)


def number(low: float | None = None, high: float | None = None) -> Parser[float]:
    """A finite decimal number, from low to high when they are given."""

    def convert(text: str) -> float:
        value = float(text)
        if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(text)
        return value

    return Parser(f"a number{_range(low, high)}", convert)


def one_of(*choices: str) -> Parser[str]:
    def convert(text: str) -> str:
        if text.strip() not in choices:
            raise ValueError(text)
        return text.strip()

    return Parser(f"one of {', '.join(choices)}", convert)


def comma_list(accepted: str) -> Parser[list[str]]:
    """Items separated by commas, none of them blank ("q_proj,v_proj")."""

    def convert(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",")]
        if not all(items):
            raise ValueError(text)
        return items

    return Parser(accepted, convert, write=",".join)


def matching(pattern: str, accepted: str) -> Parser[str]:
    """A text the whole of which matches `pattern`, described by `accepted` ("an S3 bucket name")."""
    compiled = re.compile(pattern)

    def convert(text: str) -> str:
        if not compiled.fullmatch(text.strip()):
            raise ValueError(text)
        return text.strip()

    return Parser(accepted, convert)


def arn(service: str, resource: str, accepted: str) -> Parser[str]:
    """An ARN of `service` whose resource part matches `resource`, in any partition, region and account."""
    return matching(rf"arn:aws[a-z-]*:{service}:[a-z0-9-]*:[0-9]{{12}}:{resource}", accepted)


def _write_flag(value: bool) -> str:
    return "true" if value else "false"


TEXT = Parser("a text that is not blank", _not_blank)
# "true" or "false" in any case, as an operator types it (cdk.json, a knob set in the Lambda console).
FLAG = Parser("true or false", lambda text: {"true": True, "false": False}[text.strip().lower()], _write_flag)
# Exactly "true" or "false", as the stack writes it: for a switch that guards personal data, where " True"
# is a mistake to report, not a value to guess.
EXACT_FLAG = Parser("true or false", lambda text: {"true": True, "false": False}[text], _write_flag)
# S3 bucket naming rules: 3-63 lower-case letters, digits, dots and hyphens.
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
BUCKET = matching(BUCKET_NAME, "an S3 bucket name")
# A key prefix is "" (the bucket's root) or folder names each ending in "/" ("ratings/", "a/b/").
_FOLDER = r"[A-Za-z0-9!_.*'()-]+/"
S3_PREFIX = matching(rf"(?:{_FOLDER})*", "empty or folder names each ending with '/'")
S3_FOLDERS = matching(rf"(?:{_FOLDER})+", "an S3 key prefix ending in '/', such as escalations/")
S3_URI = matching(rf"s3://{BUCKET_NAME}/.+", "an s3://bucket/key URI")
# A Bedrock model id, inference-profile id ("global.anthropic...") or ARN: no spaces, no empties.
MODEL_ID = matching(r"[a-zA-Z0-9][a-zA-Z0-9.:/_\-]{2,2047}", "a Bedrock model id, inference profile id or ARN")
WORKTEAM_ARN = arn("sagemaker", "workteam/[a-zA-Z0-9-]+/[a-zA-Z0-9-]+",
                   "a SageMaker workteam ARN (arn:aws:sagemaker:<region>:<account>:workteam/private-crowd/<name>)")


# Declaring variables ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Variable(Mapping[str, Any], Generic[T]):
    """One environment variable: its name and its parser. It is also the metadata of the settings field it
    sets (`field(metadata=Variable("NAME", TEXT))`): a mapping of one key, under which `read` finds it."""

    name: str
    parser: Parser[T]

    def read(self, environ: Mapping[str, str], default: Any = dataclasses.MISSING) -> T:
        """The variable's value; its default when it is missing and has one, else SettingsError."""
        text = environ.get(self.name)
        if text is None or (not text.strip() and default is not dataclasses.MISSING):
            if default is dataclasses.MISSING:
                raise SettingsError(self.name, "is required")
            return default
        try:
            return self.parser.parse(text)
        except Rejected as rejected:
            raise SettingsError(self.name, f"must be {rejected.accepted}") from None

    def __getitem__(self, key: str) -> Variable[T]:
        if key != _VARIABLE:
            raise KeyError(key)
        return self

    def __iter__(self) -> Iterator[str]:
        return iter((_VARIABLE,))

    def __len__(self) -> int:
        return 1


def declared(field: dataclasses.Field[Any]) -> Variable[Any] | None:
    """The variable a settings field is read from, if it declares one."""
    return field.metadata.get(_VARIABLE)


def variable_of(cls: type, field_name: str) -> Variable[Any]:
    """The variable that sets a settings class's field (stacks/config.py checks a value with its parser)."""
    found = next((declared(f) for f in dataclasses.fields(cls) if f.name == field_name), None)
    if found is None:
        raise TypeError(f"{cls.__name__}.{field_name} declares no variable")
    return found


# Variables several functions read: the same name and the same rule in each.
SESSIONS_TABLE = Variable("SESSIONS_TABLE", TEXT)
CONNECTIONS_TABLE = Variable("CONNECTIONS_TABLE", TEXT)  # the live channel's (lambdas/common/connections.py)
# Every write renews a session's expiry, so every writer must agree on it (stacks/config.py session_ttl_days).
SESSION_TTL_DAYS = Variable("SESSION_TTL_DAYS", integer(1, 3650))
SIGNING_SECRET_ARN = Variable("SIGNING_SECRET_ARN", TEXT)
BUSY_MESSAGE = Variable("BUSY_MESSAGE", TEXT)
HANDBACK_MESSAGE = Variable("HANDBACK_MESSAGE", TEXT)
TRANSCRIPTS_BUCKET = Variable("TRANSCRIPTS_BUCKET", BUCKET)
# Where the web app answers (its experts' inbox is <SITE_URL>/inbox, lambdas/common/inbox_link.py; its pages
# call the APIs from that origin, lambdas/common/http_api.py): https, or http on this machine's loopback
# address (the local runtime); no query or fragment.
SITE_URL = Variable("SITE_URL", matching(
    r"(https://[^\s/?#]+|http://(127\.0\.0\.1|localhost)(:\d+)?)(/[^\s?#]*)?",
    "an https:// URL without a query or fragment (http:// only on 127.0.0.1 or localhost)"))
# Where the rating records (JSON Lines) live.
RATINGS_BUCKET = Variable("RATINGS_BUCKET", BUCKET)
RATINGS_PREFIX = Variable("RATINGS_PREFIX", S3_PREFIX)
RATINGS_TABLE = Variable("RATINGS_TABLE", TEXT)  # the rating batches (lambdas/common/rating_batches.py)


# Reading and writing a settings class ---------------------------------------------------------------------

S = TypeVar("S")


def read(cls: type[S], environ: Mapping[str, str], **known: Any) -> S:
    """The settings `cls` from the variables its fields declare; `known` gives the fields its class reads
    itself (a nested group, a value that depends on another)."""
    values = dict(known)
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in values or not field.init:
            continue
        declaration = declared(field)
        if declaration is None:
            raise TypeError(f"{cls.__name__}.{field.name} declares no variable: its class must read it")
        values[field.name] = declaration.read(environ, field.default)
    return cls(**values)


def environment(settings: object) -> dict[str, str]:
    """The variables that give a function `settings`: every declared field's value as its parser writes it
    (None is left out: the function reads it as missing), and those of a nested settings group."""
    variables: dict[str, str] = {}
    for field in dataclasses.fields(settings):  # type: ignore[arg-type]
        value, declaration = getattr(settings, field.name), declared(field)
        if declaration is not None:
            if value is not None:
                variables[declaration.name] = declaration.parser.write(value)
        elif isinstance(value, EnvSettings):
            variables.update(environment(value))
    return variables


class EnvSettings:
    """What every settings dataclass offers: `from_env` for the function, `to_env` for the stack."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Self:
        return read(cls, environ)

    def to_env(self) -> dict[str, str]:
        return environment(self)
