"""The one error the studio's API reports to the page: a 4xx with a message naming the field."""
from __future__ import annotations


class StudioError(Exception):
    """Bad input or a refused request: ``status`` (4xx), ``message`` and the ``field`` at fault."""

    def __init__(self, message: str, status: int = 400, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    def as_json(self) -> dict:
        out = {"error": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out
