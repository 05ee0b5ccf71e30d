"""Jobs run off the event loop: one worker thread each, recorded in the one JobStore.

The handler returns 202 with the job as soon as it is stored; a thread pool runs the verb,
turns its progress events into log lines and a progress record, and writes the final state.
Cancel sets the job's event: ``run`` stops its container, the other verbs stop at their next
progress event. Nothing here touches tornado, so the server stays responsive during a build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..core.config import ContainerizeConfig
from ..core.errors import ContainerizeError, NotFoundError
from ..core.jobs.store import JobStore
from ..core.models import EnvironmentSpec, Job
from ..core.progress import Event
from .verbs import Cancelled, call_verb

FINAL = ("succeeded", "failed", "cancelled", "timed out")
PROGRESS_EVERY = 0.5  # seconds between progress writes of the same phase


class JobRunner:
    """Start, cancel and follow jobs; the store is the only shared state."""

    def __init__(
        self,
        store: JobStore,
        resolve: Callable[[str], Path],
        max_workers: int,
        log: logging.Logger,
        config: ContainerizeConfig,
    ) -> None:
        self.store = store
        self.config = config
        self.resolve = resolve
        self.log = log
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="containerize-job")
        self._cancels: dict[str, threading.Event] = {}
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(
        self,
        kind: str,
        notebook: Path | None,
        options: dict[str, Any],
        spec: EnvironmentSpec | None = None,
    ) -> Job:
        """Store a pending job and queue its worker; returns at once."""
        # a job's kind is its verb's first word ("pipeline run" makes a "pipeline" job)
        job = self.store.create(kind.split(" ")[0], str(notebook) if notebook else None, options)
        cancel = threading.Event()
        with self._lock:
            self._cancels[job.id] = cancel
            self._futures[job.id] = self._pool.submit(
                self._work, job.id, kind, notebook, options, spec, cancel
            )
        return job

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop; a job that has not started yet never starts."""
        job = self.store.get(job_id)
        if job.status in FINAL:
            return job
        with self._lock:
            cancel, future = self._cancels.get(job_id), self._futures.get(job_id)
        if cancel is None:
            raise NotFoundError(
                f"job {job_id} is not running in this server", "it was started elsewhere"
            )
        cancel.set()
        if future is not None and future.cancel():
            return self._finish(job_id, "cancelled", error=_cancelled())
        self.store.append_log(job_id, "cancel requested")
        return self.store.get(job_id)

    def shutdown(self) -> None:
        """Cancel what runs; the store marks unfinished work at the next start."""
        with self._lock:
            events = list(self._cancels.values())
        for event in events:
            event.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _work(
        self,
        job_id: str,
        kind: str,
        notebook: Path | None,
        options: dict[str, Any],
        spec: EnvironmentSpec | None,
        cancel: threading.Event,
    ) -> None:
        self.store.update(job_id, status="running")
        subject = notebook.name if notebook else options.get("image") or options.get("ref", "")
        self.store.append_log(job_id, f"{kind} {subject} started")
        try:
            result = call_verb(
                kind,
                notebook,
                options,
                progress=self._reporter(job_id, cancel),
                cancel=cancel,
                store=self.store,
                job_id=job_id,
                spec=spec,
                resolve=self.resolve,
                config=self.config,
            )
        except Exception as exc:  # every failure ends the job; none escapes the thread
            self._failed(job_id, exc, cancel)
            return
        status, error = _outcome(result, cancel)
        self._finish(
            job_id, status, result=result, error=error, container=result.get("container") or None
        )
        self.store.append_log(job_id, f"{kind} {status}")

    def _failed(self, job_id: str, exc: Exception, cancel: threading.Event) -> None:
        if cancel.is_set() or isinstance(exc, Cancelled):
            self._finish(job_id, "cancelled", error=_cancelled())
            self.store.append_log(job_id, "cancelled")
            return
        if isinstance(exc, ContainerizeError):
            error = exc.to_json()
        else:
            self.log.exception("containerize job %s failed", job_id)
            error = {
                "message": f"{type(exc).__name__}: {exc}",
                "hint": "see the server log",
                "kind": type(exc).__name__,
            }
        self.store.append_log(job_id, f"error: {error['message']}")
        self._finish(job_id, "failed", error=error)

    def _finish(self, job_id: str, status: str, **fields: Any) -> Job:
        with self._lock:
            self._cancels.pop(job_id, None)
            self._futures.pop(job_id, None)
        clean = {k: v for k, v in fields.items() if v is not None}
        return self.store.update(job_id, status=status, **clean)

    def _reporter(self, job_id: str, cancel: threading.Event) -> Callable[[Any], None]:
        """The ``progress`` callable handed to the verb."""
        last: dict[str, Any] = {"at": 0.0, "phase": None}

        def report(event: Any) -> None:
            if cancel.is_set():
                raise Cancelled(job_id)
            data = event_json(event)
            line = data.get("line") or data.get("message")
            if line:
                for part in str(line).splitlines() or [""]:
                    self.store.append_log(job_id, part)
            if data.get("kind") == "log":
                return
            now, phase = time.monotonic(), data.get("phase")
            if phase != last["phase"] or now - last["at"] >= PROGRESS_EVERY:
                last.update(at=now, phase=phase)
                self.store.update(job_id, progress=data)

        return report


def event_json(event: Event | dict[str, Any] | str) -> dict[str, Any]:
    """A progress event (or a mapping, or a line) as a JSON object."""
    if isinstance(event, Event):
        data = event.to_json()
    elif isinstance(event, dict):
        data = dict(event)
    else:
        data = {"message": str(event)}
    return {k: v for k, v in data.items() if _plain(v)}


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, dict))


def _outcome(result: dict[str, Any], cancel: threading.Event) -> tuple[str, Any]:
    """A run's record says how it ended; the other verbs succeeded when they returned."""
    status = result.get("status")
    if status in ("failed", "timed out", "cancelled"):
        return status, result.get("error") or {"message": f"run {status}", "hint": ""}
    if cancel.is_set():
        return "cancelled", _cancelled()
    return "succeeded", None


def _cancelled() -> dict[str, str]:
    return {"message": "cancelled", "hint": "cancelled by a user"}
