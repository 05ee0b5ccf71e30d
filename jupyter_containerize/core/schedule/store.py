"""Schedules kept in the one job store, without a table of their own.

A schedule is a job of kind ``schedule``: its ``params`` hold the definition (what runs, when,
in which image, and what happens on overlap, after downtime and at the end of a run), its
``status`` is ``active``, ``paused`` or ``removed`` (kept, so the runs it started still name a
schedule that can be looked up), and its ``result`` the scheduler's state: the due time of the
last tick it handled and the latest ticks. A tick's run is a normal job of kind ``run`` whose
params carry ``schedule`` (the schedule's id) and ``due`` (the tick's due time).

No secret is stored: a webhook's token is named by the environment variable that holds it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import NotFoundError
from ..jobs.store import JobStore
from ..models import Job

KIND = "schedule"
STATUSES = ("active", "paused", "removed")
TARGET_KINDS = ("notebook", "pipeline")  # what a schedule runs: a notebook or a pipeline file
PIPELINE_SUFFIXES = (".yaml", ".yml")
OVERLAP = ("skip", "queue")
MISSED = ("latest", "skip")
NOTIFY = ("failure", "success", "always")
KEEP_TICKS = 20
_HINT = "list them with `jupyter containerize schedule list`"


@dataclass
class Definition:
    """What a schedule runs and when (the ``params`` of its job)."""

    target: str  # the notebook's absolute path
    cron: str
    timezone: str = "UTC"
    kind: str = "notebook"
    image: str = ""  # the pinned image's reference ("" with newest)
    image_id: str = ""  # and its ID: what each tick runs
    image_notebook: str = ""  # where the image holds the notebook (its label), for exports
    newest: bool = False  # build (or reuse) the newest image at each tick instead
    notebook_copy: str = ""  # the notebook as it was when the image was pinned: what ticks run
    # a pipeline's steps as pinned: step -> image, image_id and notebook (its kept copy)
    steps: dict[str, dict[str, str]] = field(default_factory=dict)
    python: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    overlap: str = "skip"
    missed: str = "latest"
    webhook: str = ""
    notify: str = "always"
    webhook_token_env: str = ""
    created: str = ""  # when it was added: its first tick is the first after this

    def to_params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Definition:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in params.items() if k in known})

    @property
    def run_image(self) -> str | None:
        """What a tick runs in: the pinned image (by ID when known), or None to build."""
        if self.newest:
            return None
        return self.image_id or self.image or None

    @property
    def run_notebook(self) -> str:
        """What a tick runs: the notebook as it was when the image was pinned (its copy), or,
        with newest (or a copy gone), the notebook as it is."""
        if self.notebook_copy and not self.newest and Path(self.notebook_copy).is_file():
            return self.notebook_copy
        return self.target


@dataclass
class Schedule:
    id: str
    status: str
    definition: Definition
    state: dict[str, Any]
    created: str = ""
    updated: str = ""
    exported: str | None = None  # the CronJob manifest ``add --export`` wrote

    @classmethod
    def from_job(cls, job: Job) -> Schedule:
        return cls(job.id, job.status, Definition.from_params(job.params),
                   dict(job.result or {}), job.created, job.updated)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "created": self.created,
                "updated": self.updated, **self.definition.to_params(), "state": self.state,
                "next": self.state.get("next"), "last_due": self.state.get("last_due"),
                "exported": self.exported}

    def row(self) -> str:
        d = self.definition
        image = ("newest" if d.newest else f"{len(d.steps)} steps pinned" if d.steps
                 else (d.image or d.image_id)[:60])
        last = (self.state.get("ticks") or [{}])[-1]
        tail = f"last {last.get('status')} {last.get('run') or ''}".rstrip() if last else ""
        return (f"{self.id}  {self.status:<7} {d.cron!r} {d.timezone}  {d.target}  {image}  "
                f"next {self.state.get('next') or '-'}  {tail}").rstrip()


def add(store: JobStore, definition: Definition, state: dict[str, Any]) -> Schedule:
    job = store.create(KIND, notebook=definition.target, params=definition.to_params())
    job = store.update(job.id, status="active", result=state)
    return Schedule.from_job(job)


def get(store: JobStore, schedule_id: str) -> Schedule:
    try:
        job = store.get(schedule_id)
    except NotFoundError:
        job = None
    if job is None or job.kind != KIND or job.status == "removed":
        raise NotFoundError(f"no schedule {schedule_id!r}", _HINT)
    return Schedule.from_job(job)


def listed(store: JobStore, removed: bool = False) -> list[Schedule]:
    """Schedules, newest first (removed ones only when asked)."""
    return [Schedule.from_job(j) for j in store.list(KIND, limit=100000)
            if removed or j.status != "removed"]


def set_status(store: JobStore, schedule_id: str, status: str) -> Schedule:
    get(store, schedule_id)
    return Schedule.from_job(store.update(schedule_id, status=status))


def save_state(store: JobStore, schedule_id: str, state: dict[str, Any]) -> None:
    state = dict(state)
    state["ticks"] = list(state.get("ticks") or [])[-KEEP_TICKS:]
    store.update(schedule_id, result=state)


def runs_of(store: JobStore, schedule_id: str, limit: int = 200) -> list[Job]:
    """The runs a schedule's ticks started, newest first."""
    return [j for j in store.list("run", limit=100000)
            if (j.params or {}).get("schedule") == schedule_id][:limit]
