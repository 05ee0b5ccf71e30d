"""CLI: `pipeline run FILE [--resume RUN] [--concurrency N] [--swarm] [--json]` and
`pipeline export FILE --to argo|kfp --registry HOST[/NS] [--output DIR] [--json]`."""

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


def _run(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    result = api.pipeline_run(args.file, resume=args.resume, concurrency=args.concurrency,
                              swarm=args.swarm, progress=show,
                              store=lambda: JobStore(notify=_warn), config=config)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.summary())
    if result.status == "succeeded":
        return 0
    failed = result.failed()
    first = result.steps[failed[0]] if failed else {}
    what = f"step {failed[0]} {first['status']}" if failed else result.status
    error = str(first.get("error") or "")
    if failed and error.startswith(first["status"]):  # "timed out in cell 2"
        detail = error[len(first["status"]):].rstrip()
    else:
        detail = f": {error}" if error else ""
    also = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    print(f"error: pipeline {result.id} {result.status}: {what}{detail}{also} (fix it, then "
          f"resume: jupyter containerize pipeline run {args.file} --resume {result.id}"
          f"{' --swarm' if args.swarm else ''})",
          file=sys.stderr)
    return 130 if result.status == "cancelled" else 1


def _export(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    result = api.pipeline_export(args.file, to=args.to, registry=args.registry,
                                 output=args.output, progress=show, config=config)
    print(json.dumps(result.to_json(), indent=1) if args.json else result.summary())
    return 0


def _pipeline(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    verbs = {"run": _run, "export": _export}
    return verbs[args.pipeline_verb](args, show, config)


HANDLERS = {"pipeline": _pipeline}
