"""The verbs the server runs as jobs: which options each takes, and the call into ``core.api``.

Option names keep the CLI's spelling. A request body is checked here before
any job is created, so a bad body is a 400 that names the option, never a failed job.
"""

from __future__ import annotations

import importlib.util
import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core import api
from ..core.errors import ContainerizeError, VerbDisabledError
from ..core.jobs.store import JobStore
from ..core.models import EnvironmentSpec

Number = (int, float)

# kind -> option -> accepted JSON type(s)
OPTIONS: dict[str, dict[str, Any]] = {
    "build": {
        "base": str,
        "lock": str,
        "tag": str,
        "no_cache": bool,
        "kernel_id": str,
        "strip_outputs": bool,
        "allow_flagged_outputs": bool,
        "dry_run": bool,
        "python": str,
        "push": str,
    },
    "run": {
        "parameters": dict,
        "kernel_id": str,
        "lock": str,
        "base": str,
        "timeout": Number,
        "image": str,
        "python": str,
        "cpus": Number,
        "memory": str,
    },
    "serve": {"model": str, "name": str, "kernel_id": str, "host": str, "python": str},
    "push": {"image": str, "registry": str},
    "pull": {"ref": str},
}
REQUIRED: dict[str, tuple[str, ...]] = {"serve": ("model",), "push": ("image",), "pull": ("ref",)}
NOTEBOOK_OPTIONAL = ("push", "pull")  # registry verbs act on an image, not on a notebook
SWITCH = {
    "build": "allow_build",
    "run": "allow_build",
    "serve": "allow_serve",
    "push": "allow_push",
}
LOCK_MODES = ("full", "imported")


class BadRequest(ContainerizeError):
    """A request body that does not say what the verb needs."""


def check_options(kind: Any, options: Any) -> dict[str, Any]:
    """The options of a job request, checked; raises :class:`BadRequest` with a hint."""
    if kind not in OPTIONS:
        raise BadRequest(f"unknown job kind {kind!r}", f"use one of: {', '.join(OPTIONS)}")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise BadRequest("'options' must be a JSON object", 'e.g. {"lock": "imported"}')
    allowed = OPTIONS[kind]
    for name, value in options.items():
        if name not in allowed:
            raise BadRequest(
                f"{kind} takes no option {name!r}", f"{kind} takes: {', '.join(sorted(allowed))}"
            )
        wanted = allowed[name]
        if not isinstance(value, wanted) or (isinstance(value, bool) and wanted is Number):
            raise BadRequest(f"option {name!r} has the wrong type", _type_hint(name, wanted))
    for name in REQUIRED.get(kind, ()):
        if not options.get(name):
            raise BadRequest(f"{kind} needs the option {name!r}", f"add {name!r} to 'options'")
    if options.get("lock", "full") not in LOCK_MODES:
        raise BadRequest(f"unknown lock mode {options['lock']!r}", "use 'full' or 'imported'")
    if kind == "run":
        from ..core.run.options import RunOptionError, check

        try:
            check(options.get("timeout"), options.get("cpus"), options.get("memory"),
                  options.get("parameters"))
        except RunOptionError as exc:
            raise BadRequest(exc.message, exc.hint or "") from exc
    return dict(options)


def _type_hint(name: str, wanted: Any) -> str:
    names = {str: "a string", bool: "true or false", dict: "an object", Number: "a number"}
    return f"{name!r} must be {names.get(wanted, 'another type')}"


def check_allowed(kind: str, config: Any, options: dict[str, Any] | None = None) -> None:
    """403 when an administrator switched this verb off."""
    switch = SWITCH.get(kind)
    if kind == "build" and options and options.get("push"):
        check_allowed("push", config)
    if switch and not getattr(config, switch, True):
        raise VerbDisabledError(
            f"{kind} is switched off on this server",
            f"an administrator set ContainerizeConfig.{switch} = False",
        )


def available_verbs() -> dict[str, bool]:
    """Which verbs this installation has (a verb's core module may not exist yet)."""
    modules = {
        "build": "build",
        "run": "run",
        "serve": "serve",
        "push": "registry",
        "pull": "registry",
        "images": "catalog",
        "kernels": "kernels",
    }
    functions = {"push": "push", "pull": "pull", "images": "images", "kernels": "kernel_install"}
    return {
        kind: importlib.util.find_spec(f"jupyter_containerize.core.{name}") is not None
        and hasattr(api, functions.get(kind, kind))
        for kind, name in modules.items()
    }


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
    config: Any = None,
) -> dict[str, Any]:
    """Run one verb in this (worker) thread; returns the JSON of what it returned."""
    opts = {k: v for k, v in options.items() if k != "kernel_id"}
    if kind in NOTEBOOK_OPTIONAL:
        return _share(kind, opts, progress, config)
    if notebook is None:
        raise BadRequest(f"{kind} needs a notebook", "give the notebook's path in the server")
    if kind == "build":
        extra = _named(api.build, config=config)
        result: Any = api.build(notebook, spec=spec, progress=progress, **extra, **opts)
    elif kind == "run":
        extra = _named(api.run, job_id=job_id, config=config)
        if spec is not None and "python" not in opts:
            opts["python"] = spec.python_executable  # the kernel's interpreter
        labels = dict(getattr(config, "extra_labels", None) or {})
        if labels:
            opts["extra_labels"] = labels
        adopting = AdoptingStore(store, job_id)
        result = api.run(
            notebook, progress=progress, cancel=cancel, store=adopting, **extra, **opts
        )
    elif kind == "serve":
        model = resolve(opts.pop("model"))
        if spec is not None and "python" not in opts:
            opts["python"] = spec.python_executable
        extra = _named(api.serve, config=config)
        result = api.serve(model, notebook=notebook, progress=progress, **extra, **opts)
    else:
        raise ContainerizeError(f"unknown job kind {kind!r}", f"use one of: {', '.join(OPTIONS)}")
    return result.to_json() if hasattr(result, "to_json") else {"value": result}


def _share(
    kind: str, opts: dict[str, Any], progress: Callable[[Any], None], config: Any
) -> dict[str, Any]:
    """push (into the given or the configured registry) or pull; both pin a digest."""
    if kind == "push":
        registry = opts.get("registry") or getattr(config, "registry", "") or None
        pinned = api.push(opts["image"], registry=registry, progress=progress)
        return {"image": opts["image"], "reference": pinned, "pinned": pinned}
    pinned = api.pull(opts["ref"], progress=progress)
    return {"ref": opts["ref"], "reference": pinned, "pinned": pinned}


class AdoptingStore:
    """The store handed to ``api.run``: its run record becomes the job the server made.

    ``api.run`` creates the record of its run itself (the CLI has no job before it); the
    server has already answered 202 with a job, so that first ``create`` adopts it.
    """

    def __init__(self, store: JobStore, job_id: str) -> None:
        self._store = store
        self._job_id = job_id
        self._adopted = False

    def create(
        self, kind: str, notebook: str | None = None, params: dict[str, Any] | None = None
    ) -> Any:
        if kind != "run" or self._adopted:
            return self._store.create(kind, notebook, params)
        self._adopted = True
        old = self._store.get(self._job_id)
        return self._store.update(
            self._job_id, notebook=notebook or old.notebook, params={**old.params, **(params or {})}
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _named(fn: Callable[..., Any], **candidates: Any) -> dict[str, Any]:
    """The arguments ``fn`` names in its signature (a ``**options`` catch-all does not count)."""
    names = set(inspect.signature(fn).parameters)
    return {k: v for k, v in candidates.items() if v is not None and k in names}
