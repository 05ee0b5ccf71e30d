"""One error tree for every verb: each error carries a one-line message and a hint.

Front ends translate these once: the CLI prints ``error: <message> (<hint>)`` and exits
non-zero, the server answers JSON ``{"message", "hint"}`` with :attr:`http_status`, the
magic raises ``UsageError``.
"""

from __future__ import annotations

from typing import Any


class ContainerizeError(Exception):
    """Base error: a message that says what went wrong and a hint that says what to do."""

    http_status = 400
    exit_code = 1

    def __init__(self, message: str, hint: str = "", **data: object) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.data: dict[str, Any] = data

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        return f"{text} ({self.hint})" if self.hint else text

    def to_json(self) -> dict[str, object]:
        return {"message": self.message, "hint": self.hint, "kind": type(self).__name__}


class EngineUnavailableError(ContainerizeError):
    http_status = 503


class NotebookError(ContainerizeError):
    """The notebook is missing, unreadable or not valid notebook JSON."""


class PythonNotFoundError(ContainerizeError):
    """A --python path that is not a working Python interpreter."""


class BaseImageError(ContainerizeError):
    http_status = 409


class ImageReferenceError(ContainerizeError):
    """A name that is not a valid image reference."""


class ContextTooLargeError(ContainerizeError):
    http_status = 413


class InstallError(ContainerizeError):
    """A distribution that cannot be installed for the target platform."""


class BuildError(ContainerizeError):
    http_status = 500


class SecretFoundError(ContainerizeError):
    """Saved outputs or build inputs that look like credentials."""


class LockDriftError(ContainerizeError):
    """The kernel's environment no longer matches the committed lock."""


class RunError(ContainerizeError):
    pass


class NotFoundError(ContainerizeError):
    http_status = 404


class RegistryError(ContainerizeError):
    http_status = 502


class PayloadTooLargeError(ContainerizeError):
    http_status = 413


class VerbDisabledError(ContainerizeError):
    http_status = 403
