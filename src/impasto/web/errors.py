"""What a request gets when impasto refuses it: an HTTP status and a message of one line."""

from __future__ import annotations

from http import HTTPStatus


class HttpError(Exception):
    """A refusal: the status, the message the page shows, and any headers to send with it."""

    def __init__(self, status: HTTPStatus, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
