"""Progress events every verb streams to its caller (CLI, server job, widget)."""

from __future__ import annotations

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
