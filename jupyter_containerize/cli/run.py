"""CLI: `run`, `runs` and `prune`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.jobs.store import JobStore

Show = Callable[[Any], None]


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def _store() -> JobStore:
    """The job store; a damaged one is rebuilt, and that is said once on stderr."""
    return JobStore(notify=_warn)


def _run(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    if args.sweep:
        return _sweep(args, show, config)
    # every option is checked before the store, the engine or a build is touched
    params = api.parameters(args.parameters)
    api.check_run_options(timeout=args.timeout, cpus=args.cpus, memory=args.memory,
                          gpus=args.gpus, parameters=params)
    record = api.run(args.notebook, python=args.python, base=args.base, lock=args.lock,
                     platform=args.platform, parameters=params, image=args.image,
                     output=args.output, artifacts=args.artifacts, timeout=args.timeout,
                     cpus=args.cpus, memory=args.memory, env=args.env, gpus=args.gpus,
                     data=args.data, report=args.report, progress=show, store=_store(),
                     config=config)
    if args.json:
        print(json.dumps(record.to_json(), indent=1))
    else:
        print(record.summary(with_error=False))
    if record.status != "succeeded":
        what = _what(record.status, record.error or {})
        kept = f"executed notebook: {record.output}" if record.output else "no executed notebook"
        print(f"error: run {record.status}: {what}({kept})", file=sys.stderr)
        return 130 if record.status == "cancelled" else 1  # 130: stopped by Ctrl-C
    return 0


def _sweep(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    grid = api.parameters(args.parameters)  # each value: "V1,V2,..." (one value: itself)
    api.check_run_options(timeout=args.timeout, cpus=args.cpus, memory=args.memory,
                          gpus=args.gpus)
    result = api.sweep(args.notebook, parameters=grid, zip=args.zip,
                       concurrency=args.concurrency, best=args.best, python=args.python,
                       base=args.base, lock=args.lock, platform=args.platform, image=args.image,
                       timeout=args.timeout, cpus=args.cpus, memory=args.memory, env=args.env,
                       gpus=args.gpus, data=args.data, progress=show, store=_store(),
                       config=config)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.summary())
    if result.status != "succeeded":
        failed = [r["id"] or "(not started)" for r in result.runs if r["status"] != "succeeded"]
        print(f"error: sweep {result.id}: {len(failed)} of {len(result.runs)} runs did not "
              f"succeed ({', '.join(failed[:5])}); see `jupyter containerize runs`",
              file=sys.stderr)
        return 1
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


def _runs(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    jobs = api.runs(limit=args.limit, store=_store(), config=config)
    if args.json:
        print(json.dumps([j.to_json() for j in jobs], indent=1))
        return 0
    for job in jobs:
        print(job.row())
    return 0


def _prune(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    done = api.prune(runs=args.runs, older_than=args.older_than, images=args.images,
                     progress=show, store=_store() if args.runs else None, config=config)
    if "runs" in done:
        print(f"removed {done['runs']} run records")
    if "images" in done:
        print(f"removed {len(done['images'])} images, freed {done['freed'] / 1e6:.1f} MB")
    return 0


HANDLERS = {"run": _run, "runs": _runs, "prune": _prune}
