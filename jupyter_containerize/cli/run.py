"""CLI: `run`, `runs` and `prune --runs`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("run", help="run the notebook with papermill inside its image")
    p.add_argument("notebook")
    build_options(p)
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   default=[], help="a papermill parameter, typed as papermill types it")
    p.add_argument("--image", help="run in this image instead of building one")
    p.add_argument("--output", help="executed notebook path")
    p.add_argument("--artifacts", help="folder for the files the run wrote")
    p.add_argument("--timeout", metavar="SECONDS", help="stop the run after this many seconds")
    p.add_argument("--cpus", metavar="N", help="CPUs the run may use, e.g. 0.5 or 2")
    p.add_argument("--memory", metavar="AMOUNT", help="memory limit: bytes, 512m, 2g, 1.5g")
    p.add_argument("--env", action="append", default=[], metavar="NAME[=VALUE]")
    p.add_argument("--gpus", help="e.g. all")
    p.add_argument("--data", action="append", default=[], metavar="PATH[:IN_CONTAINER]")
    p.add_argument("--report", choices=["html"])
    p.add_argument("--json", action="store_true", help="print the run record as JSON")

    p = sub.add_parser("runs", help="list runs (CLI, magic, widget and server alike)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("prune", help="remove old run records, and images we built")
    p.add_argument("--runs", action="store_true", help="prune run records and their files")
    p.add_argument("--older-than", default="30d", help="age, e.g. 30d, 12h")
    p.add_argument("--images", action="store_true", help="prune images this project built")


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def _store() -> Any:
    """The job store; a damaged one is rebuilt, and that is said once on stderr."""
    from ..core.jobs.store import JobStore

    return JobStore(notify=_warn)


def _run(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core import api
    from ..core.run import options as runoptions
    from ..core.run.execute import parse_parameter

    # every option is checked before the store, the engine or a build is touched
    pairs = runoptions.parameter_pairs(args.parameter)
    params = {name: parse_parameter(value) for name, value in pairs.items()}
    checked = runoptions.check(args.timeout, args.cpus, args.memory, params)
    if args.gpus:
        from ..core.engine.containers import device_requests

        device_requests(args.gpus)
    record = api.run(args.notebook, parameters=params, image=args.image, output=args.output,
                     artifacts=args.artifacts, timeout=checked.timeout, cpus=checked.cpus,
                     memory=args.memory, env=args.env, gpus=args.gpus, data=args.data,
                     report=args.report, python=args.python, base=args.base, lock=args.lock,
                     progress=show, store=_store())
    if args.json:
        print(json.dumps(record.to_json(), indent=1))
    else:
        _summary(record)
    if record.status != "succeeded":
        what = _what(record.status, record.error or {})
        kept = f"executed notebook: {record.output}" if record.output else "no executed notebook"
        print(f"error: run {record.status}: {what}({kept})", file=sys.stderr)
        return 130 if record.status == "cancelled" else 1  # 130: stopped by Ctrl-C
    return 0


def _what(status: str, err: dict[str, Any]) -> str:
    """``cell N: ename: evalue `` or the error's message, never ``None: None``."""
    where = f"cell {err['cell'] + 1}: " if isinstance(err.get("cell"), int) else ""
    if err.get("ename"):
        detail = f"{err['ename']}: {err.get('evalue') or ''}".rstrip(": ")
    else:
        detail = str(err.get("message") or "")
        if detail.startswith(status):  # "timed out in cell 2" says no more than the status
            detail = ""
        if detail and err.get("hint"):
            detail += f"; {err['hint']}"
    return f"{where}{detail}".rstrip(": ") + " " if (where or detail) else ""


def _summary(record: Any) -> None:
    print(f"run {record.id}: {record.status} in {record.duration or 0:.1f}s")
    print(f"  notebook:  {record.output}")
    if record.html:
        print(f"  report:    {record.html}")
    for art in record.artifacts:
        print(f"  artifact:  {art['path']} ({art['size']} bytes, sha256 {art['sha256'][:12]})")
    if record.reproduction:
        print(f"  reproduce: {record.reproduction.get('text', '')}")


def _runs(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    jobs = _store().list(kind="run", limit=args.limit)
    if args.json:
        print(json.dumps([j.to_json() for j in jobs], indent=1))
        return 0
    for job in jobs:
        rec = job.result or {}
        verdict = (rec.get("reproduction") or {}).get("verdict", "")
        print(f"{job.id}  {job.status:<10} {job.created}  {job.notebook or ''}  {verdict}")
    return 0


def _age(text: str) -> float:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    from ..core.errors import ContainerizeError

    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError) as exc:
        raise ContainerizeError(f"--older-than {text!r} is not an age",
                                hint="use a number and d, h, m or s, e.g. 30d") from exc


def _prune(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    if not args.runs and not args.images:
        args.images = True
    if args.runs:
        print(f"removed {_store().prune(_age(args.older_than))} run records")
    if args.images:
        from ..core.image.prune import prune_images

        freed, removed = prune_images(progress=show)
        print(f"removed {len(removed)} images, freed {freed / 1e6:.1f} MB")
    return 0


VERBS = {"run": _run, "runs": _runs, "prune": _prune}
