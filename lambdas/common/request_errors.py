"""The errors of an input refused before anything is written: RequestError for a request to a Tandem API,
FieldError for any other (a work message, the overrides of an invoke)."""

from __future__ import annotations

from typing import Any


class RequestError(ValueError):
    """`field` names what is wrong; `status` is the HTTP status to answer with (400 unless said)."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status

    def to_body(self) -> dict[str, Any]:
        return {"error": {"field": self.field, "message": self.message}}


class FieldError(ValueError):
    """`field` names what is wrong and `problem` says how; neither repeats the value, which may be a secret
    (a task token) or a customer's words."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
