"""The verbs ``%containerize`` runs in the kernel's process: capture, freeze, build, run, serve.

Each takes the magic, the parsed CLI arguments and the progress callable, captures this
kernel's environment (unless ``--python`` names another interpreter), calls ``core.api`` and
returns what the cell shows: the image reference, the lock path, a RunRecord, a Deployment.
"""

from __future__ import annotations

import argparse
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import LockDriftError

Show = Callable[[Any], None]


def accepted(fn: Callable[..., Any], **candidates: Any) -> dict[str, Any]:
    """The candidates ``fn`` names in its signature (a ``**options`` catch-all does not count)."""
    names = set(inspect.signature(fn).parameters)
    return {k: v for k, v in candidates.items() if v is not None and k in names}


def _spec(magic: Any, args: argparse.Namespace, notebook: Path) -> Any:
    """This kernel's environment, unless --python names another interpreter."""
    if getattr(args, "python", None) or getattr(args, "locked", False):
        return None
    return magic.live_spec(notebook)


def capture(magic: Any, args: argparse.Namespace, show: Show) -> Any:
    if args.python:
        from ..core import api

        return api.capture(python=args.python, notebook=args.notebook)
    return magic.live_spec(Path(args.notebook) if args.notebook else None)


def freeze(magic: Any, args: argparse.Namespace, show: Show) -> str:
    from ..core import api

    notebook = magic.notebook(args.notebook)
    try:
        path = api.freeze(notebook, python=args.python, lock=args.lock,
                          spec=_spec(magic, args, notebook), dockerfile=args.dockerfile,
                          requirements=args.requirements, check=args.check,
                          platform=args.platform)
    except LockDriftError as exc:
        for line in exc.data.get("diff", []) or []:
            print(f"  {line}")
        raise
    if not args.quiet:
        lock = json.loads(path.read_text())
        print(f"Python {lock['python']['version']}, {len(lock['packages'])} distributions "
              f"({lock['mode']} lock)")
        for line in lock.get("warnings", []) + lock.get("mapped", []):
            print(f"  warning: {line}")
    return str(path)


def _build(magic: Any, args: argparse.Namespace, notebook: Path, show: Show, **extra: Any) -> Any:
    from ..core import api

    options = dict(python=args.python, base=args.base, lock=args.lock, platform=args.platform,
                   spec=_spec(magic, args, notebook), progress=show, **extra)
    return api.build(notebook, **options,
                     **accepted(api.build, config=magic.containerize_config()))


def build(magic: Any, args: argparse.Namespace, show: Show) -> str:
    notebook = magic.notebook(args.notebook)
    print(f"notebook: {notebook} (as saved)")
    res = _build(magic, args, notebook, show, locked=args.locked, tag=args.tag,
                 no_cache=args.no_cache, builder=args.builder, dry_run=args.dry_run,
                 strip_outputs=args.strip_outputs,
                 allow_flagged_outputs=args.allow_flagged_outputs, author=args.author,
                 push=args.push)
    if not args.quiet:
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
        what = "reused" if res.cached else f"built ({res.builder})"
        print(f"{what}: Python {res.python}; {timing}")
        for warning in res.warnings:
            print(f"  warning: {warning}")
    return str(res.reference)


def run(magic: Any, args: argparse.Namespace, show: Show) -> Any:
    from ..core import api
    from ..core.run import execute as core_run

    notebook = magic.notebook(args.notebook)
    params = {name: core_run.parse_parameter(value) for name, value in args.parameter}
    options: dict[str, Any] = dict(
        parameters=params, image=args.image, output=args.output, artifacts=args.artifacts,
        timeout=args.timeout, cpus=args.cpus, memory=args.memory, env=args.env, gpus=args.gpus,
        data=args.data, report=args.report, progress=show,
        extra_labels=dict(magic.containerize_config().extra_labels) or None,
    )
    spec = None if args.image else _spec(magic, args, notebook)
    if spec is not None and "spec" not in inspect.signature(core_run.run).parameters:
        options["image"] = _build(magic, args, notebook, show).reference
    elif not args.image:
        options.update(python=args.python, base=args.base, lock=args.lock, spec=spec)
    options = {k: v for k, v in options.items() if v is not None}
    return api.run(notebook, **options)


def serve(magic: Any, args: argparse.Namespace, show: Show) -> Any:
    """``serve NAME``: a bound identifier is the live object, otherwise NAME is a path."""
    from ..core import api
    from ..core.deploy import serve as core_serve
    from .magics import serve_target

    notebook = Path(args.notebook) if args.notebook else magic.session_notebook()
    kind, target, note = "file", args.model, ""
    if args.model:
        choose = "object" if args.object else "file" if args.file else ""
        kind, target, note = serve_target(args.model, magic.shell.user_ns, choose)
    if note:
        print(note)
    elif kind == "object" and not args.quiet:
        print(f"serving the live object {args.model} "
              f"({type(target).__module__}.{type(target).__qualname__}), pickled by value")
    skip = {"verb", "quiet", "object", "file", "notebook", "model", "json"}
    options = {k: v for k, v in vars(args).items() if k not in skip}
    options.update(progress=show, config=magic.containerize_config())
    if notebook is not None and not args.image and not args.python:
        if not args.quiet:
            print(f"environment: this kernel's, for {notebook} (as saved)")
        options["image"] = _build(magic, args, notebook, show).reference
    options = accepted(core_serve.serve, **options)
    if kind == "object":
        options["name"] = options.get("name") or _object_name(args.model)
        return core_serve.serve_object(target, notebook, **options)
    return api.serve(target, notebook=notebook, **options)


def _object_name(identifier: str) -> str:
    from ..core.deploy.serve import default_name

    return default_name(identifier)


def login(magic: Any, args: argparse.Namespace, show: Show) -> str:
    """``login HOST``: the password is asked by the front end, never put on the line."""
    import getpass

    from ..core import api

    username = args.username or input("Username: ")
    password = getpass.getpass("Password: ")
    message = api.login(args.registry, username=username, password_stdin=password)
    print(message)
    return str(message)


VERBS: dict[str, Callable[[Any, argparse.Namespace, Show], Any]] = {
    "capture": capture, "freeze": freeze, "build": build, "run": run, "serve": serve,
    "login": login,
}
