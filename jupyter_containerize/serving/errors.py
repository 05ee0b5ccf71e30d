"""The one error a client's mistake turns into: a 4xx status and a message."""

from __future__ import annotations


class ClientError(Exception):
    """A request the server cannot answer because of the request itself."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ModelLoadError(Exception):
    """A model file that cannot be detected or loaded; the message is one line."""
