"""Adding, listing, pausing, resuming, removing and exporting schedules.

``add`` checks everything it is given before anything starts (the cron expression, the time
zone, the policies, the notebook, the run options, that the webhook answers, that an export
is possible), then pins the image: the one given with ``image`` (its ID read from the engine)
or the one :func:`..image.build.build` makes now; with ``newest`` nothing is pinned and each
tick builds, or reuses, the image of the notebook as it is then.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..env.notebook import load_notebook, parameters_cell
from ..jobs.store import JobStore
from ..progress import Event, Reporter
from ..run import options as runoptions
from . import cronjob, webhook
from . import store as schedules
from .cron import ScheduleError, parse
from .scheduler import iso

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ScheduleError(f"--{name} {value!r} is not one of {', '.join(allowed)}",
                            hint=f"use --{name} " + f" or --{name} ".join(allowed))
    return value


def check(notebook: str | Path, cron: str, tz: str | None, *, image: str | None,
          newest: bool, parameters: dict[str, Any] | None, timeout: Any, overlap: str,
          missed: str, webhook_url: str | None, notify: str, webhook_token_env: str | None,
          export: str | None) -> schedules.Definition:
    """The definition, every input checked; nothing is built, stored or sent but the
    webhook's check."""
    parsed = parse(cron, tz)
    _choice("overlap", overlap, schedules.OVERLAP)
    _choice("missed", missed, schedules.MISSED)
    _choice("notify", notify, schedules.NOTIFY)
    if image and newest:
        raise ScheduleError("--image pins one image and --newest builds at each tick",
                            hint="give one of them")
    path = Path(notebook).resolve()
    kind = "pipeline" if path.suffix.lower() in schedules.PIPELINE_SUFFIXES else "notebook"
    if kind == "pipeline":
        _check_pipeline(path, image, parameters, export)
        declared: dict[str, Any] = {}
    else:
        declared = parameters_cell(load_notebook(path))
    checked = runoptions.check(timeout, None, None, parameters)
    unknown = sorted(set(parameters or {}) - set(declared))
    if unknown:
        raise ScheduleError(f"the schedule sets {', '.join(unknown)}, which {path.name} does "
                            f"not declare (declared: {', '.join(declared) or 'none'})",
                            hint="set only parameters of the cell tagged parameters")
    if webhook_token_env and not ENV_NAME.fullmatch(webhook_token_env):
        raise ScheduleError(f"--webhook-token-env {webhook_token_env!r} is not an environment "
                            "variable's name", hint="name the variable that holds the token, "
                                                    "e.g. HOOK_TOKEN; never the token itself")
    if export is not None:
        cronjob.check_exportable(parsed.expression, parsed.timezone)
        if newest:
            raise ScheduleError("a CronJob needs one image, and --newest pins none",
                                hint="drop --newest to export")
    if webhook_url:
        webhook.check_url(webhook_url)
    return schedules.Definition(
        target=str(path), kind=kind, cron=parsed.expression, timezone=parsed.timezone,
        newest=newest,
        parameters=dict(parameters or {}), timeout=checked.timeout, overlap=overlap,
        missed=missed, webhook=webhook_url or "", notify=notify,
        webhook_token_env=webhook_token_env or "")


def _check_pipeline(path: Path, image: str | None, parameters: dict[str, Any] | None,
                    export: str | None) -> None:
    """A pipeline file to schedule: checked as `pipeline run` checks it; the options that only
    a notebook takes are refused."""
    from ..pipeline.spec import load

    if image:
        raise ScheduleError("--image pins one image, and each step of a pipeline has its own",
                            hint="leave out --image: the steps' images are built and pinned "
                                 "now")
    if parameters:
        raise ScheduleError("-p sets a notebook's parameters; a pipeline's are in its file",
                            hint=f"set them under the steps' parameters in {path.name}")
    if export is not None:
        raise ScheduleError("--export writes a notebook's CronJob, and this is a pipeline",
                            hint="export the pipeline with `pipeline export --to argo|kfp`")
    load(path)


def add(notebook: str | Path, cron: str, tz: str | None = None, *, image: str | None = None,
        newest: bool = False, python: str | None = None,
        parameters: dict[str, Any] | None = None, timeout: Any = None, overlap: str = "skip",
        missed: str = "latest", webhook_url: str | None = None, notify: str = "always",
        webhook_token_env: str | None = None, export: str | None = None,
        store: JobStore | None = None, progress: Callable[[Any], None] | None = None,
        config: ContainerizeConfig | None = None) -> schedules.Schedule:
    """A new active schedule (with ``export``, its CronJob written, path in ``exported``)."""
    cfg = resolve(config)
    definition = check(notebook, cron, tz, image=image, newest=newest, parameters=parameters,
                       timeout=timeout, overlap=overlap, missed=missed,
                       webhook_url=webhook_url, notify=notify,
                       webhook_token_env=webhook_token_env, export=export)
    definition.python = python
    if definition.kind == "pipeline":
        if python:
            raise ScheduleError("--python chooses a notebook's environment; a pipeline's steps "
                                "name theirs", hint="set python: in the pipeline file, or leave "
                                                    "it to each notebook's kernel")
        if not newest:
            _pin_pipeline(definition, progress, cfg)
    elif not newest:
        _pin(definition, image, python, progress, cfg)
    definition.created = iso(datetime.now(timezone.utc))
    store = store or JobStore()
    sched = schedules.add(store, definition, {"last_due": definition.created, "ticks": [],
                                              "next": iso(parse(cron, tz).next_after(
                                                  datetime.now(timezone.utc)))})
    Reporter(progress).emit(Event("log", f"schedule {sched.id}: {definition.cron!r} "
                                         f"{definition.timezone}, next {sched.state['next']}",
                                  phase="schedule"))
    if export is not None:
        sched.exported = str(cronjob.export(sched, export))
    return sched


def _pin(definition: schedules.Definition, image: str | None, python: str | None,
         progress: Callable[[Any], None] | None, cfg: ContainerizeConfig) -> None:
    from ..engine import client as engine

    if image:
        from ..share.signing import verify_image

        verify_image(image, config=cfg)
        found = engine.get_image(image)
        if found is None:
            raise ScheduleError(f"image {image} is not in the engine",
                                hint="build or pull it first, or leave out --image to build "
                                     "the notebook's image now")
        definition.image = image
    else:
        from ..image import build

        result = build.build(definition.target, python=python, progress=progress, config=cfg)
        definition.image = result.reference
        found = engine.get_image(result.reference)
    if found is not None:
        definition.image_id = str(found.id)
        definition.image_notebook = (found.labels or {}).get(labels.NOTEBOOK, "")
    definition.notebook_copy = str(_keep_copy(Path(definition.target)))


def _pin_pipeline(definition: schedules.Definition, progress: Callable[[Any], None] | None,
                  cfg: ContainerizeConfig) -> None:
    """Every step's image built (or reused) now, and the file and the steps' notebooks as
    they are now: what each tick runs."""
    from ..pipeline import images
    from ..pipeline.spec import load

    pipe = load(definition.target)
    pinned = images.pin(pipe, progress=progress, config=cfg)
    for name, step in pipe.steps.items():
        pinned[name]["notebook"] = str(_keep_copy(step.notebook))
    definition.steps = pinned
    definition.notebook_copy = str(_keep_copy(Path(definition.target)))


def _keep_copy(notebook: Path) -> Path:
    """The notebook's bytes as they are now, kept under the data folder by their digest (the
    user's folder is never written into)."""
    import hashlib

    from ..paths import data_dir

    data = notebook.read_bytes()
    copy = data_dir() / "schedules" / hashlib.sha256(data).hexdigest()[:16] / notebook.name
    if not copy.is_file():
        copy.parent.mkdir(parents=True, exist_ok=True)
        partial = copy.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(copy)
    return copy


def pause(store: JobStore, schedule_id: str) -> schedules.Schedule:
    return schedules.set_status(store, schedule_id, "paused")


def resume(store: JobStore, schedule_id: str) -> schedules.Schedule:
    """Active again from now: the ticks that fell while it was paused are not run."""
    sched = schedules.get(store, schedule_id)
    state = dict(sched.state)
    now = datetime.now(timezone.utc)
    state["last_due"] = iso(now)
    state["next"] = iso(parse(sched.definition.cron, sched.definition.timezone).next_after(now))
    schedules.save_state(store, schedule_id, state)
    return schedules.set_status(store, schedule_id, "active")


def remove(store: JobStore, schedule_id: str) -> schedules.Schedule:
    """No more ticks; the schedule is kept as ``removed`` so its runs still name it."""
    return schedules.set_status(store, schedule_id, "removed")


def export(store: JobStore, schedule_id: str, folder: str | Path) -> Path:
    return cronjob.export(schedules.get(store, schedule_id), folder)
