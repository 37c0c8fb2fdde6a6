"""The error every Tandem API raises for a request it rejects before anything is written."""

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
