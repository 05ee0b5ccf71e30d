"""``schedule run``: the scheduler in the foreground, for a host without a Jupyter server."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import ContainerizeConfig
from ..jobs.store import JobStore
from ..progress import Event, Reporter
from .cron import ScheduleError
from .scheduler import Scheduler


def _seconds(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise ScheduleError(f"--stop-after {value!r} is not a number of seconds",
                            hint="give a positive number, e.g. --stop-after 3600")
    return number


def run(*, stop_after: Any, progress: Callable[[Any], None] | None,
        cancel: threading.Event | None, store: JobStore, config: ContainerizeConfig) -> None:
    limit = _seconds(stop_after)
    reporter = Reporter(progress)

    def say(line: str) -> None:
        reporter.emit(Event("log", line, phase="schedule"))

    scheduler = Scheduler(store, config=config, log=say)
    if not scheduler.lock.acquire():
        raise ScheduleError(f"another scheduler (pid {scheduler.lock.holder()}) already runs "
                            f"the schedules of {store.path}",
                            hint="stop it first, or let it run them (a Jupyter server with "
                                 "this extension does)")
    say(f"running the schedules of {store.path}; Ctrl-C stops")
    stop = cancel or threading.Event()
    deadline = None if limit is None else time.monotonic() + limit
    scheduler.start()
    try:
        while not stop.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            stop.wait(1.0 if left is None else min(1.0, left))
    except KeyboardInterrupt:
        scheduler.stop(cancel_runs=True)
        raise
    scheduler.stop(cancel_runs=False, timeout=24 * 3600)  # running ticks finish first
