"""The verbs the server runs as jobs: the request checked against the one option table
(:mod:`~jupyter_containerize.core.options`), and the call into ``core.api``.

Option names keep the CLI's spelling. A request body is checked here before any job is
created, so a bad body is a 400 that names the option, never a failed job. Every call passes
the server's :class:`~jupyter_containerize.core.config.ContainerizeConfig`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.errors import ContainerizeError, VerbDisabledError
from ..core.jobs.store import JobStore
from ..core.models import EnvironmentSpec
from ..core.options import JOB_VERBS, check_request, verb


class BadRequest(ContainerizeError):
    """A request body that does not say what the verb needs."""


def check_options(kind: Any, options: Any) -> dict[str, Any]:
    """The options of a job request, checked; an option left out takes its default from the
    server's configuration inside ``core.api``.

    Raises :class:`~jupyter_containerize.core.optionspec.OptionError` (a 400 with a hint)."""
    checked = check_request(kind, options)
    if kind == "run":
        api.check_run_options(
            timeout=checked.get("timeout"),
            cpus=checked.get("cpus"),
            memory=checked.get("memory"),
            parameters=checked.get("parameters"),
        )
    return checked


def needs_notebook(kind: str) -> bool:
    """Whether the verb acts on a notebook (push and pull act on an image)."""
    return verb(kind).notebook


def check_allowed(kind: str, config: ContainerizeConfig,
                  options: dict[str, Any] | None = None) -> None:
    """403 when an administrator switched this verb off (a build that pushes needs both)."""
    if kind not in JOB_VERBS:
        return  # check_options answers 400 for it
    if kind == "build" and options and options.get("push"):
        check_allowed("push", config)
    switch = verb(kind).switch
    if switch and not getattr(config, switch):
        raise VerbDisabledError(
            f"{kind} is switched off on this server",
            f"an administrator set ContainerizeConfig.{switch} = False",
        )


class Cancelled(Exception):
    """Raised inside a worker when its job was cancelled."""


def call_verb(
    kind: str,
    notebook: Path | None,
    options: dict[str, Any],
    *,
    progress: Callable[[Any], None],
    cancel: threading.Event,
    store: JobStore,
    job_id: str,
    spec: EnvironmentSpec | None,
    resolve: Callable[[str], Path],
    config: ContainerizeConfig,
) -> dict[str, Any]:
    """Run one verb in this (worker) thread; returns the JSON of what it returned."""
    opts = {k: v for k, v in options.items() if k != "kernel_id"}
    if kind == "push":
        pinned = api.push(opts["image"], registry=opts.get("registry"), progress=progress,
                          config=config)
        return {"image": opts["image"], "reference": pinned, "pinned": pinned}
    if kind == "pull":
        pinned = api.pull(opts["ref"], verify=opts.get("verify"), progress=progress,
                          config=config)
        return {"ref": opts["ref"], "reference": pinned, "pinned": pinned}
    if kind == "pipeline run":  # its file is an option; its record is the server's job
        adopting = cast(JobStore, AdoptingStore(store, job_id))
        ran = api.pipeline_run(resolve(opts.pop("file")), progress=progress, cancel=cancel,
                               store=lambda: adopting, config=config, **opts)
        return dict(ran.to_json())
    if notebook is None:
        raise BadRequest(f"{kind} needs a notebook", "give the notebook's path in the server")
    if kind == "build":
        result: Any = api.build(notebook, spec=spec, progress=progress, config=config, **opts)
    elif kind == "run":
        if spec is not None and "python" not in opts:
            opts["python"] = spec.python_executable  # the kernel's interpreter
        adopting = cast(JobStore, AdoptingStore(store, job_id))  # the store, but for create
        sweeping = opts.pop("sweep", False)
        wrong = sorted(set(opts) & {"zip", "concurrency", "best"})
        if wrong and not sweeping:
            verb = "is an option" if len(wrong) == 1 else "are options"
            raise BadRequest(f"{', '.join(wrong)} {verb} of a sweep",
                             'add "sweep": true, or leave them out')
        if sweeping:  # the job is the sweep; each of its runs is a job too
            result = api.sweep(notebook, progress=progress, cancel=cancel, store=adopting,
                               config=config, **opts)  # built as a run builds: no live spec
        else:
            result = api.run(notebook, progress=progress, cancel=cancel, store=adopting,
                             config=config, **opts)
    elif kind == "serve":
        named = str(opts.pop("model"))
        model = named if named.startswith("run:") else resolve(named)  # run:ID is no path
        if spec is not None and "python" not in opts:
            opts["python"] = spec.python_executable
        result = api.serve(model, notebook=notebook, progress=progress, config=config, **opts)
    else:
        raise BadRequest(f"unknown job kind {kind!r}", f"use one of: {', '.join(JOB_VERBS)}")
    return dict(result.to_json())


class AdoptingStore:
    """The store handed to ``api.run`` (``api.sweep``): its run (sweep) record becomes the
    job the server made.

    ``api.run`` creates the record of its run itself (the CLI has no job before it); the
    server has already answered 202 with a job, so that first ``create`` adopts it. A sweep
    creates its own record first (adopted), then one per run (jobs of their own).
    """

    def __init__(self, store: JobStore, job_id: str) -> None:
        self._store = store
        self._job_id = job_id
        self._adopted = False

    def create(
        self, kind: str, notebook: str | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        if kind not in ("run", "sweep", "pipeline") or self._adopted:
            return self._store.create(kind, notebook, params)
        self._adopted = True
        old = self._store.get(self._job_id)
        return self._store.update(
            self._job_id, notebook=notebook or old.notebook, params={**old.params, **(params or {})}
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)
