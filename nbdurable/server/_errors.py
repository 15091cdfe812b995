"""The one exception of the server surface: an HTTP answer that is an error, with a message saying what to do."""

from __future__ import annotations

from typing import Any

from tornado.web import HTTPError

from .._errors import NbDurableError

__all__ = ["ApiError"]


class ApiError(HTTPError, NbDurableError):
    """An error answer of the REST API: a status, a message, and optional fields (where to resume...)."""

    def __init__(self, code: int, message: str, /, **detail: Any) -> None:
        # The message is passed as an argument so tornado never %-formats text that came from a request.
        super().__init__(code, "%s", message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return f"HTTP {self.status_code}: {self.message}"
