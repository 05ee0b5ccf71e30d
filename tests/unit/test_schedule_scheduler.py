"""One scheduler per store: a second one waits (the server) or stops in one line
(`schedule run`); `schedule run`'s own options are checked before it starts; a schedule
that is not there is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_containerize.core.jobs.store import JobStore
from jupyter_containerize.core.schedule.scheduler import Scheduler, StoreLock

CLI = Path(sys.executable).with_name("jupyter-containerize")


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JUPYTER_CONTAINERIZE_DATA_DIR": str(data)})


def _one_line(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert proc.returncode == 1 and len(errors) == 1, proc.stderr
    assert needle in errors[0] and "Traceback" not in proc.stderr


def test_a_second_scheduler_of_the_same_store_waits(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    first, second = StoreLock(store.path), StoreLock(store.path)
    assert first.acquire() and not second.acquire()
    assert second.holder() == str(os.getpid())
    said: list[str] = []
    waiting = Scheduler(store, log=said.append, poll=0.05)
    waiting.start()
    waiting.stop(timeout=5)
    assert said and "another scheduler" in said[0] and len(said) == 1  # said once
    first.release()
    assert second.acquire()
    second.release()


@pytest.mark.hostile
def test_schedule_run_beside_another_scheduler_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = JobStore(data / "jobs.sqlite")
    held = StoreLock(store.path)
    assert held.acquire()
    try:
        proc = _cli("schedule", "run", "--stop-after", "1", data=data)
    finally:
        held.release()
    _one_line(proc, f"another scheduler (pid {os.getpid()}) already runs the schedules")


@pytest.mark.hostile
@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_a_bad_stop_after_is_one_line(tmp_path: Path, value: str) -> None:
    _one_line(_cli("schedule", "run", "--stop-after", value, data=tmp_path / "data"),
              "is not a number of seconds")


@pytest.mark.hostile
@pytest.mark.parametrize("verb", ["pause", "resume", "remove"])
def test_a_schedule_that_is_not_there_is_one_line(tmp_path: Path, verb: str) -> None:
    _one_line(_cli("schedule", verb, "0123456789ab", data=tmp_path / "data"),
              "no schedule '0123456789ab'")
