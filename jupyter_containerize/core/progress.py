"""Progress events every verb streams to its caller (CLI, server job, widget), and the one text
the CLI and the magic show for them and for a freeze."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    kind: str  # log | phase | progress
    message: str = ""
    phase: str = ""
    current: int | None = None
    total: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", {})}


class Reporter:
    """Sends events to an optional callback and keeps each phase's duration."""

    def __init__(self, callback: Callable[[Event], None] | None) -> None:
        self.callback = callback
        self.timings: dict[str, float] = {}

    def emit(self, event: Event) -> None:
        if self.callback is not None:
            self.callback(event)

    def log(self, message: str) -> None:
        self.emit(Event("log", message))

    def progress(self, phase: str, current: int, total: int, message: str = "") -> None:
        self.emit(Event("progress", message, phase=phase, current=current, total=total))

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.emit(Event("phase", name, phase=name))
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0) + time.perf_counter() - t0, 3)


# papermill's own "Executing Cell 3---" lines: the run's log says more
CELL_MARK = re.compile(r"^(Executing|Ending) Cell \d+-*$")
BAR_WIDTH = 30


def event_text(event: Event, bars: bool = True) -> tuple[str, str] | None:
    """The line a terminal or a cell shows for ``event`` and how it ends: ``"\\r"`` for a bar
    still moving (the next one overwrites it), else ``"\\n"``. None: nothing to show (a
    papermill cell mark, an empty line, or a bar when ``bars`` is off because a widget draws
    it)."""
    if event.kind == "phase":
        return f"==> {event.message}", "\n"
    if event.kind == "progress" and event.total:
        if not bars:
            return None
        current = event.current or 0
        done = int(BAR_WIDTH * current / event.total)
        bar = "#" * done + "-" * (BAR_WIDTH - done)
        end = "\n" if current >= event.total else "\r"
        return f"  [{bar}] {current}/{event.total} {event.phase}"[:100], end
    message = event.message.rstrip()
    if not message.strip() or CELL_MARK.match(message.strip()):
        return None
    return f"  {message}", "\n"


def freeze_summary(lock: dict[str, Any]) -> list[str]:
    """What a freeze says about the lock it wrote: Python, how many distributions, the mode,
    then its warnings."""
    lines = [f"Python {lock['python']['version']}, {len(lock['packages'])} distributions "
             f"({lock['mode']} lock)"]
    lines += [f"  warning: {w}" for w in lock.get("warnings", []) + lock.get("mapped", [])]
    return lines
