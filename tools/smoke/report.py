"""The smoke test's report: one line per check, printed as each check ends, and the exit code.

A line is `PASS|FAIL|SKIP  <part>  <detail>`. A failing part raises its own `SmokeFailure` subclass, whose
message says what to fix. Secrets (the throw-away user's password, its tokens, the TOTP key and codes)
travel as `Hidden`: printing one shows `<hidden>`, and every line is scrubbed of every secret made in this
process before it is printed, so not even an error message that quoted one can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# The parts, in the order they run and are reported.
PARTS = ("outputs", "sign-in", "answer", "escalate", "escalation", "workflow", "transcript", "model", "experts",
         "cleanup")
EXIT_OK, EXIT_FAILED = 0, 1
HIDDEN = "<hidden>"

_secrets: set[str] = set()  # every secret value made in this process, for scrub()


class SmokeFailure(Exception):
    """A check failed: `part` names it in the report; the message says what is wrong and what to fix."""

    part = "smoke"


class Hidden:
    """A secret value: its str() and repr() are `<hidden>`; reveal() gives it to the one call that needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value
        if value:
            _secrets.add(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return HIDDEN

    __str__ = __repr__


def scrub(text: str) -> str:
    """The text with every secret made in this process replaced by `<hidden>`."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def mask_email(address: str) -> str:
    """expert@example.com -> e***@example.com (a report may be pasted into a ticket)."""
    local, at, domain = address.partition("@")
    return f"{local[:1]}***{at}{domain}" if at else f"{address[:1]}***"


@dataclass(frozen=True)
class Check:
    status: str
    part: str
    detail: str

    def line(self) -> str:
        return f"{self.status}  {self.part:<10}  {self.detail}"


class Report:
    def __init__(self, out: TextIO, *, region: str):
        self.out = out
        self.checks: list[Check] = []
        self._print(f"Tandem smoke test in {region}")

    def _print(self, text: str) -> None:
        print(scrub(text), file=self.out, flush=True)

    def add(self, status: str, part: str, detail: str) -> None:
        check = Check(status, part, scrub(detail))
        self.checks.append(check)
        self._print(check.line())

    def passed(self, part: str, detail: str) -> None:
        self.add(PASS, part, detail)

    def failed(self, part: str, detail: str) -> None:
        self.add(FAIL, part, detail)

    def skipped(self, part: str, detail: str) -> None:
        self.add(SKIP, part, detail)

    def skip_all(self, parts: tuple[str, ...], why: str) -> None:
        for part in parts:
            self.skipped(part, why)

    @property
    def failures(self) -> list[str]:
        return [c.part for c in self.checks if c.status == FAIL]

    def finish(self) -> int:
        """Prints the verdict; returns the exit code."""
        if self.failures:
            self._print(f"FAILED: {', '.join(dict.fromkeys(self.failures))}")
            return EXIT_FAILED
        self._print("Smoke test passed.")
        return EXIT_OK
