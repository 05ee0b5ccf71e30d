"""The scheduler: due ticks from the store and a clock, each tick a normal run in a thread.

One scheduler runs a store's schedules at a time: it holds a lock file beside the store
(``jobs.sqlite.scheduler.lock``), so the server and a ``schedule run`` loop on the same store
never both start a tick; the second waits, and takes over when the first stops.

Each pass reads the active schedules and, for each, the ticks due since the last one it
handled (kept in the schedule, so this survives restarts):

- the latest due tick at most ``grace`` seconds late runs now (earlier ones a stalled loop
  passed over are counted as missed);
- when every due tick is older than that (the scheduler was not running), the schedule's
  ``missed`` policy decides: ``latest`` runs the latest missed tick once, now; ``skip`` runs
  none and waits for the next tick;
- a tick that comes while the schedule's previous run still runs is, by its ``overlap``
  policy, ``skip``-ped (recorded, not run) or ``queue``-d (run when the previous ends; at most
  :data:`MAX_QUEUED` wait).

A tick's run is :func:`..run.execute.run` in the pinned image (or none: build or reuse the
newest), a ``run`` job linked to the schedule (a pipeline's: a linked ``pipeline`` job); then
the webhook is called.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import IO, Any

from ..config import ContainerizeConfig, resolve
from ..errors import ContainerizeError
from ..jobs.store import JobStore
from ..models import Job, RunRecord
from . import store as schedules
from . import webhook
from .cron import parse

UTC = timezone.utc
GRACE = 60.0  # seconds late a tick may be and still count as on time
POLL = 1.0  # longest sleep: how soon a change made by another process is seen
MAX_QUEUED = 10
Clock = Callable[[], datetime]
TickRunner = Callable[[schedules.Schedule, datetime, JobStore], RunRecord]

_log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class TaggedStore(JobStore):
    """The store seen by a tick's run: the run job it creates carries the schedule's id and
    the tick's due time in its params (same connection and lock as the store it wraps)."""

    def __init__(self, base: JobStore, link: dict[str, Any]) -> None:  # noqa: D107
        self.__dict__.update(base.__dict__)
        self.link = link
        self.created: str | None = None

    def create(self, kind: str, notebook: str | None = None,
               params: dict[str, Any] | None = None) -> Job:
        if kind in ("run", "pipeline"):
            params = {**(params or {}), **self.link}
        job = super().create(kind, notebook, params)
        if kind in ("run", "pipeline") and self.created is None:
            self.created = job.id  # the tick's run: its one run, or its pipeline
        return job


class StoreLock:
    """The lock file that makes one scheduler per store."""

    def __init__(self, store_path: Path) -> None:
        self.path = Path(f"{store_path}.scheduler.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self._file is not None:
            return True
        handle = open(self.path, "a+")  # noqa: SIM115 - held while the scheduler runs
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class Scheduler:
    """Runs a store's schedules. ``clock`` gives the time (aware); ``runner`` runs one tick
    (default: a real run). :meth:`step` is one pass; :meth:`start` loops in a thread."""

    def __init__(self, store: JobStore, *, config: ContainerizeConfig | None = None,
                 clock: Clock | None = None, runner: TickRunner | None = None,
                 log: Callable[[str], None] | None = None, poll: float = POLL,
                 grace: float = GRACE) -> None:
        self.store = store
        self.config = resolve(config)
        self.clock = clock or utc_now
        self.runner = runner or self._run
        self.say = log or _log.info
        self.poll = poll
        self.grace = grace
        self.lock = StoreLock(store.path)
        self._mutex = threading.RLock()
        self._running: dict[str, threading.Thread] = {}
        self._queued: dict[str, deque[datetime]] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.cancel = threading.Event()  # set on stop: running ticks' containers stop
        self._thread: threading.Thread | None = None
        self._waiting_said = False
        self._said: set[str] = set()  # a schedule's standing problem, said once

    # ---------------------------------------------------------------------- the loop

    def start(self) -> None:
        self._thread = threading.Thread(target=self.loop, name="containerize-scheduler",
                                        daemon=True)
        self._thread.start()

    def stop(self, cancel_runs: bool = True, timeout: float = 30.0) -> None:
        """Stop looking for ticks; with ``cancel_runs`` stop the running ticks' runs too
        (they end ``cancelled``) and wait up to ``timeout`` for them."""
        self._stop.set()
        self._wake.set()
        if cancel_runs:
            self.cancel.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.wait_idle(timeout)
        self.lock.release()

    def loop(self) -> None:
        """Until :meth:`stop`: take the store's lock, then pass and sleep until the next
        due tick (at most ``poll`` seconds, so changes by other processes are seen)."""
        while not self._stop.is_set():
            if not self.lock.acquire():
                if not self._waiting_said:
                    self.say(f"another scheduler (pid {self.lock.holder()}) runs the "
                             f"schedules of {self.store.path}; waiting for it to stop")
                    self._waiting_said = True
                self._stop.wait(self.poll)
                continue
            try:
                wake = self.step()
            except Exception as exc:  # the loop outlives a bad pass; it is logged
                _log.exception("scheduler pass failed")
                self.say(f"scheduler pass failed: {exc}")
                wake = None
            delay = self.poll
            if wake is not None:
                delay = min(delay, max(0.0, (wake - self.clock()).total_seconds()))
            self._wake.wait(delay)
            self._wake.clear()

    def wake(self) -> None:
        """Pass again now (a schedule was added or resumed in this process)."""
        self._wake.set()

    def wait_idle(self, timeout: float) -> bool:
        """Wait for every running and queued tick to end; whether they did."""
        deadline = utc_now() + timedelta(seconds=timeout)
        while True:
            with self._mutex:
                threads = list(self._running.values())
            if not threads:
                return True
            left = (deadline - utc_now()).total_seconds()
            if left <= 0:
                return False
            threads[0].join(left)

    # ---------------------------------------------------------------------- one pass

    def step(self, now: datetime | None = None) -> datetime | None:
        """Start what is due at ``now``; returns when the next tick is due (None: never)."""
        now = now or self.clock()
        wake: datetime | None = None
        for sched in schedules.listed(self.store):
            if sched.status != "active":
                continue
            try:
                upcoming = self._step_one(sched, now)
            except ContainerizeError as exc:
                line = f"schedule {sched.id}: {exc.one_line()}"
                if line not in self._said:
                    self._said.add(line)
                    self.say(line)
                continue
            if upcoming is not None and (wake is None or upcoming < wake):
                wake = upcoming
        return wake

    def _step_one(self, sched: schedules.Schedule, now: datetime) -> datetime | None:
        d = sched.definition
        cron = parse(d.cron, d.timezone)
        last = (from_iso(sched.state.get("last_due")) or from_iso(d.created)
                or from_iso(sched.created) or now)
        latest = cron.latest_at_or_before(now)
        if latest is not None and latest > last:
            first = cron.next_after(last)
            late = (now - latest).total_seconds()
            passed = first < latest  # ticks between the last handled one and this one
            with self._mutex:
                state = self._state(sched.id)
                state["last_due"] = iso(latest)
                if late <= self.grace:
                    self._dispatch(sched, latest, state, "on time", passed, now)
                elif d.missed == "latest":
                    self._dispatch(sched, latest, state, "missed, run once at start", True,
                                   now)
                else:
                    state.setdefault("ticks", []).append({
                        "due": iso(latest), "status": "missed", "run": None,
                        "note": f"missed while no scheduler ran (since {iso(first)}); "
                                "policy skip"})
                    self.say(f"schedule {sched.id}: ticks since {iso(first)} missed while no "
                             "scheduler ran; skipped (missed policy: skip)")
                state["next"] = iso(cron.next_after(now))
                schedules.save_state(self.store, sched.id, state)
            return from_iso(state["next"])
        upcoming = cron.next_after(now)
        if sched.state.get("next") != iso(upcoming):
            with self._mutex:
                state = self._state(sched.id)
                state["next"] = iso(upcoming)
                schedules.save_state(self.store, sched.id, state)
        return upcoming

    def _state(self, schedule_id: str) -> dict[str, Any]:
        return dict(self.store.get(schedule_id).result or {})

    def _dispatch(self, sched: schedules.Schedule, due: datetime, state: dict[str, Any],
                  how: str, passed: bool, now: datetime) -> None:
        ticks = state.setdefault("ticks", [])
        entry: dict[str, Any] = {"due": iso(due), "status": "started", "run": None,
                                 "note": how + ("; earlier ticks passed over" if passed
                                                else "")}
        if sched.id in self._running:
            if sched.definition.overlap == "queue":
                queue = self._queued.setdefault(sched.id, deque())
                if len(queue) < MAX_QUEUED:
                    queue.append(due)
                    entry["status"] = "queued"
                    ticks.append(entry)
                    return
                entry["note"] = f"{MAX_QUEUED} ticks already wait"
            entry["status"] = "skipped"
            entry["note"] = (f"the previous run still runs (overlap: "
                             f"{sched.definition.overlap})")
            ticks.append(entry)
            self.say(f"schedule {sched.id}: tick {iso(due)} skipped: the previous run still "
                     "runs")
            return
        entry["lateness"] = round((self.clock() - due).total_seconds(), 3)
        ticks.append(entry)
        self._start_thread(sched, due)

    def _start_thread(self, sched: schedules.Schedule, due: datetime) -> None:
        thread = threading.Thread(target=self._tick, args=(sched, due),
                                  name=f"containerize-tick-{sched.id}", daemon=True)
        self._running[sched.id] = thread
        thread.start()

    # ---------------------------------------------------------------------- one tick

    def _tick(self, sched: schedules.Schedule, due: datetime) -> None:
        started = self.clock()
        outcome: dict[str, Any] = {"run": None, "status": "failed", "error": None,
                                   "output": None, "image": None, "started": iso(started)}
        tagged = TaggedStore(self.store, {"schedule": sched.id, "due": iso(due)})
        try:
            record = self.runner(sched, due, tagged)
            outcome.update(run=record.id, status=record.status, output=record.output,
                           image=record.image, started=record.started or iso(started),
                           error=(record.error or {}).get("message"))
        except ContainerizeError as exc:
            outcome.update(run=tagged.created, error=exc.one_line())
        except Exception as exc:  # a tick never takes the scheduler down
            _log.exception("tick of schedule %s failed", sched.id)
            outcome.update(run=tagged.created, error=f"{type(exc).__name__}: {exc}")
        outcome["ended"] = iso(self.clock())
        self.say(f"schedule {sched.id}: tick {iso(due)} run {outcome['run'] or '-'} "
                 f"{outcome['status']}")
        with self._mutex:
            state = self._state(sched.id)
            for entry in reversed(state.get("ticks") or []):
                if entry.get("due") == iso(due) and entry.get("status") in ("started",
                                                                            "queued"):
                    entry.update(status=outcome["status"], run=outcome["run"],
                                 started=outcome["started"], ended=outcome["ended"],
                                 error=outcome["error"])
                    break
            schedules.save_state(self.store, sched.id, state)
        self._notify(sched, due, outcome)
        self._next_queued(sched)

    def _run(self, sched: schedules.Schedule, due: datetime, store: JobStore) -> RunRecord:
        """A real run of the schedule's notebook in its pinned (or newest) image."""
        from ..run import execute

        d = sched.definition
        if d.kind == "pipeline":
            return self._run_pipeline(sched, store)
        return execute.run(d.run_notebook, parameters=dict(d.parameters) or None,
                           image=d.run_image, python=d.python,
                           timeout=d.timeout or self.config.run_timeout, cancel=self.cancel,
                           store=store, config=self.config)

    def _run_pipeline(self, sched: schedules.Schedule, store: JobStore) -> RunRecord:
        """The schedule's pipeline run: its pinned steps (or, newest, the file as it is)."""
        from ..pipeline import runner

        d = sched.definition
        pinned = None if d.newest else d.steps
        result = runner.run(d.target, pinned=pinned,
                            source=d.run_notebook if pinned is not None else None,
                            cancel=self.cancel, store=lambda: store, config=self.config)
        failed = result.failed()
        row = result.steps[failed[0]] if failed else {}
        error = ({"message": f"step {failed[0]} {row['status']}: {row.get('error') or ''}"
                  .rstrip(": ")} if failed else None)
        return RunRecord(id=result.id, notebook=d.target, image="", status=result.status,
                         duration=result.duration, error=error)

    def _notify(self, sched: schedules.Schedule, due: datetime, outcome: dict[str, Any]) -> None:
        d = sched.definition
        succeeded = outcome["status"] == "succeeded"
        if not d.webhook or (d.notify == "failure" and succeeded) or (
                d.notify == "success" and not succeeded):
            return
        body = {"schedule": sched.id, "run": outcome["run"], "status": outcome["status"],
                "notebook": d.target, "due": iso(due), "started": outcome["started"],
                "ended": outcome["ended"], "output": outcome["output"],
                "image": outcome["image"], "error": outcome["error"]}
        sent = webhook.send(d.webhook, body, token_env=d.webhook_token_env, log=self.say)
        with self._mutex:
            state = self._state(sched.id)
            for entry in reversed(state.get("ticks") or []):
                if entry.get("due") == iso(due):
                    entry["webhook"] = sent
                    break
            schedules.save_state(self.store, sched.id, state)

    def _next_queued(self, sched: schedules.Schedule) -> None:
        with self._mutex:
            self._running.pop(sched.id, None)
            queue = self._queued.get(sched.id)
            if not queue or self._stop.is_set():
                return
            try:
                current = schedules.get(self.store, sched.id)
            except ContainerizeError:
                current = None
            if current is None or current.status != "active":
                queue.clear()
                return
            due = queue.popleft()
            state = self._state(sched.id)
            for entry in state.get("ticks") or []:
                if entry.get("due") == iso(due) and entry.get("status") == "queued":
                    entry["status"] = "started"
                    entry["lateness"] = round((self.clock() - due).total_seconds(), 3)
            schedules.save_state(self.store, sched.id, state)
            self._start_thread(current, due)
