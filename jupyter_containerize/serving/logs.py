"""What the runtime writes to its log: each kind of warning and of server error once, with a
count now and then, never a line or a traceback per request."""

from __future__ import annotations

import logging
import time
import traceback
import warnings
from typing import Any, Optional, TextIO

log = logging.getLogger("jupyter_containerize.serving")

REPEAT_EVERY_S = 60.0
# ignored, as Python ignores them by default
QUIET = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def one_line(text: str, limit: int = 500) -> str:
    """A message on one line, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class WarningsOnce:
    """Logs the first warning of each kind (category and place raised); later ones only count."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str, int], int] = {}

    def show(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Optional[TextIO] = None,
        line: Optional[str] = None,
    ) -> None:
        key = (category.__name__, filename, lineno)
        count = self.seen.get(key, 0)
        self.seen[key] = count + 1
        if count == 0:
            log.warning(
                "%s: %s (%s:%d; shown once, later ones of this kind are not logged)",
                category.__name__,
                one_line(str(message)),
                filename,
                lineno,
            )

    def install(self) -> None:
        # every warning reaches ``show``, which keeps one per kind whatever the libraries' filters
        warnings.simplefilter("always")
        for quiet in QUIET:
            warnings.simplefilter("ignore", quiet)
        warnings.showwarning = self.show


class ErrorsOnce:
    """Server errors (500): the first of each kind with its traceback, then one line with a
    count at most every ``REPEAT_EVERY_S`` seconds."""

    def __init__(self, every: float = REPEAT_EVERY_S) -> None:
        self.every = every
        self.kinds: dict[tuple[Any, ...], list[float]] = {}  # kind -> [count, last logged]

    @staticmethod
    def kind(route: str, exc: BaseException) -> tuple[Any, ...]:
        frames = traceback.extract_tb(exc.__traceback__)
        where = (frames[-1].filename, frames[-1].lineno) if frames else ("", 0)
        return (route, type(exc).__name__, *where)

    def report(self, method: str, route: str, exc: BaseException) -> None:
        key = self.kind(route, exc)
        now = time.monotonic()
        state = self.kinds.get(key)
        summary = f"{type(exc).__name__}: {one_line(str(exc), 300)}"
        if state is None:
            self.kinds[key] = [1, now]
            log.error(
                "error serving %s %s: %s (traceback follows once; repeats are counted)",
                method,
                route,
                summary,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            return
        state[0] += 1
        if now - state[1] >= self.every:
            state[1] = now
            log.error(
                "error serving %s %s: %s (%d times so far)", method, route, summary, state[0]
            )


class RepeatsCounted(logging.Filter):
    """Lets a message through once per ``every`` seconds (the HTTP layer's "Invalid HTTP
    request received." would otherwise be one line per bad request)."""

    def __init__(self, every: float = REPEAT_EVERY_S) -> None:
        super().__init__()
        self.every = every
        self.last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.exc_info:
            return True
        key = str(record.msg)
        now = time.monotonic()
        if now - self.last.get(key, -self.every) < self.every:
            return False
        self.last[key] = now
        return True
