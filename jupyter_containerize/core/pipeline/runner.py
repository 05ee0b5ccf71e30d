"""A pipeline run: every step a normal run in its notebook's frozen image, in dependency order.

Everything is checked first (the file, the graph, each step's interpreter, ``--resume``'s
record); nothing is built or started before. Each distinct environment (interpreter, project
folder, lock mode, and under ``lock: imported`` the notebook's imports) is built once, from its
first step's notebook; steps that share it run in its image, each with its own notebook copied
in at its run. Steps then go at most ``concurrency`` at once, each as soon as the steps it needs
have succeeded; a step's ``inputs`` (files earlier steps wrote, taken from their run records'
artifacts) are copied into its container at the same path under the notebook's folder. A failed
step is run again up to ``retries`` times, each attempt its own run record; the steps below a
failed one do not run. The pipeline is a job of kind ``pipeline`` in the one job store whose
result maps each step to its runs, status, image and artifacts; ``resume`` reads such a record
and runs only what did not succeed there, reusing the finished steps' runs and files.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..config import ContainerizeConfig, resolve
from ..errors import ContainerizeError
from ..jobs.store import JobStore
from ..progress import Event, Reporter
from . import images as pipeline_images
from .errors import PipelineError
from .spec import DEFAULT_CONCURRENCY, Pipeline, Step, check_concurrency, load
from .spec import interpreters as step_interpreters

DONE = "succeeded"
NOT_RUN = "not run"


@dataclass
class PipelineResult:
    id: str
    file: str
    name: str
    status: str  # succeeded | failed | cancelled
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    resumed_from: str | None = None
    duration: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "file": self.file, "name": self.name, "status": self.status,
                "steps": self.steps, "resumed_from": self.resumed_from,
                "duration": self.duration}

    def failed(self) -> list[str]:
        return [n for n, s in self.steps.items() if s["status"] not in (DONE, NOT_RUN)]

    def summary(self) -> str:
        width = max([len(n) for n in self.steps] + [4])
        lines = [f"{'STEP':<{width}}  {'STATUS':<10}  {'RUN':<12}  TRIES  SECONDS  NOTE"]
        for name, row in self.steps.items():
            note = "reused" if row.get("reused") else (row.get("error") or "")
            seconds = f"{row['duration']:.1f}" if row.get("duration") is not None else "-"
            lines.append(f"{name:<{width}}  {row['status']:<10}  {row.get('run') or '-':<12}  "
                         f"{len(row.get('attempts') or []):>5}  {seconds:>7}  {note}".rstrip())
        done = sum(r["status"] == DONE for r in self.steps.values())
        resumed = f", resuming {self.resumed_from}" if self.resumed_from else ""
        lines.append(f"pipeline {self.id} ({self.name}{resumed}): {self.status}, {done} of "
                     f"{len(self.steps)} steps succeeded in {self.duration:.1f}s")
        return "\n".join(lines)


def _previous(store: JobStore, resume: str, pipe: Pipeline,
              rep: Reporter | None = None) -> dict[str, dict[str, Any]]:
    """The steps of the pipeline record ``resume`` that can be reused: those that succeeded,
    are defined as they were then (the same notebook, parameters, files and environment),
    whose files are still there, and whose upstream steps are all reused too."""
    from ..errors import NotFoundError

    try:
        job = store.get(resume)
    except NotFoundError:
        raise PipelineError(f"--resume {resume}: there is no such pipeline run",
                            hint="give the id on the last line a `pipeline run` printed "
                                 "(pipeline ID ...)") from None
    if job.kind != "pipeline":
        raise PipelineError(f"--resume {resume} is a {job.kind} job, not a pipeline run",
                            hint="give the id on the last line a `pipeline run` printed "
                                 "(pipeline ID ...)")
    if Path(str(job.notebook or "")) != pipe.file:
        raise PipelineError(f"--resume {resume} ran {job.notebook}, not {pipe.file}",
                            hint=f"resume it with: jupyter containerize pipeline run "
                                 f"{job.notebook} --resume {resume}")
    rows = dict((job.result or {}).get("steps") or {})
    kept: dict[str, dict[str, Any]] = {}
    for name in pipe.order:
        row = rows.get(name)
        if row is None or row.get("status") != DONE:
            continue
        if not all(need in kept for need in pipe.upstream[name]):
            continue  # something above it runs again: so does it
        if row.get("fingerprint") not in (None, pipe.steps[name].fingerprint()):
            if rep is not None:
                rep.log(f"pipeline: step {name} changed since {resume}: it runs again")
            continue
        wanted = pipe.steps[name].outputs
        if not all(output_path(row, rel).is_file() for rel in wanted):
            continue  # its files are gone (pruned): it runs again
        kept[name] = {**row, "reused": True}
    return kept


def output_path(row: dict[str, Any], rel: str) -> Path:
    """Where a step's declared output is on this host: its run's artifacts folder, or, for a
    file the step left as the image had it, the project's own copy (``files``)."""
    kept = (row.get("files") or {}).get(rel)
    return Path(kept) if kept else Path(str(row.get("artifacts_dir") or "")) / rel


def _error_text(record: Any) -> str | None:
    err = record.error or {}
    if err.get("ename"):
        cell = err.get("cell")
        where = f"cell {cell + 1}: " if isinstance(cell, int) else ""
        return f"{where}{err['ename']}: {err.get('evalue') or ''}".rstrip(": ")
    return str(err.get("message")) if err.get("message") else None


class _Steps:
    """Runs the steps of one pipeline; each step's row is its result in the record."""

    def __init__(self, pipe: Pipeline, images: dict[str, str], rows: dict[str, dict[str, Any]],
                 stop: threading.Event, store: JobStore, cfg: ContainerizeConfig,
                 progress: Callable[[Any], None] | None, rep: Reporter,
                 work: Any = None) -> None:
        self.pipe, self.images, self.rows, self.stop = pipe, images, rows, stop
        self.store, self.cfg, self.progress, self.rep = store, cfg, progress, rep
        self.work = work  # on a swarm: the steps' working volume (run.onswarm.SwarmWork)

    def _tagged(self, name: str) -> Callable[[Any], None] | None:
        if self.progress is None:
            return None
        show = self.progress

        def tagged(event: Any) -> None:
            if isinstance(event, Event) and event.message:
                event = replace(event, message=f"[{name}] {event.message}")
            show(event)

        return tagged

    def _data(self, step: Step) -> list[str]:
        """``HOST:PATH`` for each input: the file an earlier step's run wrote."""
        data = []
        for source, rel in step.inputs:
            host = output_path(self.rows[source], rel)
            if not host.is_file():
                raise PipelineError(
                    f"step {step.name!r} reads {source}/{rel}, which is gone ({host})",
                    hint="run the pipeline again without --resume")
            data.append(f"{host}:{rel}")
        return data

    def one(self, name: str) -> dict[str, Any]:
        from ..run import execute

        step = self.pipe.steps[name]
        row: dict[str, Any] = {"status": "cancelled", "run": None, "attempts": [],
                               "image": self.images[name], "notebook": str(step.notebook),
                               "output": None, "artifacts_dir": None, "artifacts": [],
                               "files": {}, "error": None, "reused": False,
                               "duration": None, "fingerprint": step.fingerprint()}
        clock = time.monotonic()
        for attempt in range(1 + step.retries):
            if self.stop.is_set():
                break
            if attempt:
                self.rep.log(f"pipeline: step {name} {row['status']}; trying again "
                             f"({attempt} of {step.retries})")
            try:
                options: dict[str, Any] = dict(
                    parameters=step.parameters, data=self._data(step),
                    timeout=step.timeout if step.timeout is not None else self.cfg.run_timeout,
                    cpus=step.cpus, memory=step.memory, progress=self._tagged(name),
                    cancel=self.stop, store=self.store, config=self.cfg,
                    extra_labels=dict(self.cfg.extra_labels))
                if self.work is not None:
                    from ..run import onswarm

                    record = onswarm.run(step.notebook, image=self.images[name],
                                         work=self.work, **options)
                else:
                    record = execute.run(step.notebook, built=self.images[name],
                                         gpus=step.gpus, **options)
            except ContainerizeError as exc:
                row.update(status="failed", error=exc.one_line())
                continue
            row["attempts"].append(record.id)
            row.update(run=record.id, status=record.status, output=record.output,
                       artifacts_dir=record.artifacts_dir,
                       artifacts=[a["path"] for a in record.artifacts],
                       error=_error_text(record))
            if record.status == DONE:
                # a file written as the image already had it (the project's copy, from a run
                # by hand) is no artifact: the project's copy is the step's output then
                same = {o: str(step.notebook.parent / o) for o in step.outputs
                        if o not in row["artifacts"] and (step.notebook.parent / o).is_file()}
                row["files"] = same
                missing = [o for o in step.outputs if o not in row["artifacts"] and o not in same]
                if missing:
                    row.update(status="failed",
                               error=f"it did not write {', '.join(missing)}, which it declares "
                                     "in outputs")
            if row["status"] in (DONE, "cancelled"):
                break
        row["duration"] = round(time.monotonic() - clock, 3)
        return row

    def all(self, names: list[str], concurrency: int, save: Callable[[], None]) -> None:
        """Run ``names`` (a subset of the pipeline closed downwards); the rest are reused."""
        todo = set(names)
        sorter = graph_sorter(self.pipe)
        with ThreadPoolExecutor(max_workers=concurrency,
                                thread_name_prefix="pipeline") as pool:
            running: dict[Future[dict[str, Any]], str] = {}
            try:
                while sorter.is_active():
                    for name in sorter.get_ready():
                        if name not in todo:
                            sorter.done(name)  # reused
                        elif self.stop.is_set() or any(
                                self.rows.get(n, {}).get("status") != DONE
                                for n in self.pipe.steps[name].needs):
                            self.rows[name] = _not_run(self.pipe, name, self.images)
                            sorter.done(name)
                        else:
                            self.rep.emit(Event("phase", f"pipeline: step {name}",
                                                phase="pipeline"))
                            running[pool.submit(self.one, name)] = name
                    if not running:
                        continue
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = running.pop(future)
                        self.rows[name] = future.result()
                        self.rep.log(f"pipeline: step {name} {self.rows[name]['status']}")
                        sorter.done(name)
                    save()
            except BaseException:  # Ctrl-C, or a fault the engine raised in one step
                self.stop.set()  # every running step's container is stopped by its run
                for future, name in running.items():
                    try:
                        self.rows[name] = future.result()
                    except Exception as exc:  # noqa: BLE001 - kept in its row, the first raises
                        self.rows[name] = {**_not_run(self.pipe, name, self.images),
                                           "status": "failed", "error": str(exc) or repr(exc)}
                raise


def graph_sorter(pipe: Pipeline) -> Any:
    import graphlib

    sorter = graphlib.TopologicalSorter(pipe.needs())
    sorter.prepare()
    return sorter


def _not_run(pipe: Pipeline, name: str, images: dict[str, str]) -> dict[str, Any]:
    return {"status": NOT_RUN, "run": None, "attempts": [], "image": images.get(name),
            "notebook": str(pipe.steps[name].notebook), "output": None, "artifacts_dir": None,
            "artifacts": [], "error": None, "reused": False, "duration": None}


def _check_swarm(pipe: Pipeline) -> None:
    from ..engine import services

    for step in pipe.steps.values():
        if step.gpus:
            raise PipelineError(f"step {step.name!r} asks for gpus, which a swarm job is not "
                                "given here", hint="drop its gpus, or run without --swarm")
    if not services.is_manager():
        raise PipelineError("--swarm needs a Docker Swarm manager, and this engine is not one",
                            hint="run `docker swarm init` (or point DOCKER_HOST at a manager), "
                                 "or drop --swarm to run the steps here")


def run(file: str | Path, *, resume: str | None = None, concurrency: int | None = None,
        swarm: bool = False, progress: Callable[[Any], None] | None = None,
        cancel: threading.Event | None = None,
        store: JobStore | Callable[[], JobStore] | None = None,
        config: ContainerizeConfig | None = None,
        pinned: dict[str, dict[str, str]] | None = None,
        source: str | Path | None = None) -> PipelineResult:
    """Run the pipeline in ``file`` (or, with ``resume``, what did not succeed in that
    pipeline run); returns its result. With ``swarm``, each step runs as a replicated job on
    the Docker Swarm this engine manages. Every mistake raises before anything starts:
    ``store`` may be a function that opens the store, called only once the file is checked.
    ``pinned`` (from :func:`.images.pin`): run every step in the image pinned for it, and its kept
    notebook, building nothing; ``source``: the kept copy of the file to read."""
    cfg = resolve(config)
    clock = time.monotonic()
    pipe = load(file, source)
    fixed = pipeline_images.apply(pipe, pinned) if pinned is not None else None
    limit = check_concurrency(concurrency if concurrency is not None
                              else pipe.concurrency or DEFAULT_CONCURRENCY)
    if swarm:
        _check_swarm(pipe)
    interpreters = step_interpreters(pipe) if fixed is None else {}
    store = (store if isinstance(store, JobStore) else store() if store is not None
             else JobStore())
    rep = Reporter(progress)
    reused = _previous(store, resume, pipe, rep) if resume else {}
    names = [n for n in pipe.order if n not in reused]
    job = store.create("pipeline", notebook=str(pipe.file), params={
        "name": pipe.name, "concurrency": limit, "resume": resume, "swarm": swarm,
        "pinned": fixed is not None,
        "steps": {n: s.to_json() for n, s in pipe.steps.items()}})
    store.update(job.id, status="running")
    result = PipelineResult(job.id, str(pipe.file), pipe.name, "running", resumed_from=resume)
    rows: dict[str, dict[str, Any]] = dict(reused)

    def save() -> None:
        result.steps = {n: rows[n] for n in pipe.steps if n in rows}
        result.duration = round(time.monotonic() - clock, 3)
        store.update(job.id, result=result.to_json())

    rep.emit(Event("phase", f"pipeline {job.id}: {len(names)} of {len(pipe.steps)} steps to "
                            f"run, {limit} at once", phase="pipeline"))
    for name in reused:
        rep.log(f"pipeline: step {name} reused from run {reused[name].get('run')}")
    stop = cancel or threading.Event()
    work = None
    try:
        if fixed is not None:
            images, envs = fixed, len(set(fixed.values()))
        else:
            images, envs = pipeline_images.build(pipe, names, interpreters, cfg, progress, rep)
        rep.log(f"pipeline: {envs} environment image(s) for {len(names)} step(s)")
        if swarm and names:
            from ..run.onswarm import SwarmWork

            work = SwarmWork.open(f"containerize-pipeline-{job.id}", images[names[0]],
                                  dict(cfg.extra_labels), cfg)
            rep.log(f"pipeline: steps run as swarm jobs, sharing the volume {work.volume}")
        _Steps(pipe, images, rows, stop, store, cfg, progress, rep, work).all(
            names, limit, save)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        for name in pipe.steps:
            rows.setdefault(name, _not_run(pipe, name, {}))
        save()
        message = (exc.message if isinstance(exc, ContainerizeError)
                   else "interrupted" if interrupted else str(exc) or repr(exc))
        result.status = "cancelled" if interrupted else "failed"
        store.update(job.id, status=result.status, result=result.to_json(),
                     error={"message": message})
        rep.log(f"pipeline {job.id} {result.status}; resume it with: jupyter containerize "
                f"pipeline run {pipe.file} --resume {job.id}{' --swarm' if swarm else ''}")
        raise
    finally:
        if work is not None:
            work.close()
    statuses = {rows[n]["status"] for n in pipe.steps}
    result.status = (DONE if statuses == {DONE}
                     else "cancelled" if "cancelled" in statuses and stop.is_set() else "failed")
    save()
    store.update(job.id, status=result.status, result=result.to_json())
    return result


__all__ = ["PipelineResult", "run"]
