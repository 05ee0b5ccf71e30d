"""CLI: `schedule add|list|pause|resume|remove|export|run`."""

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


def _store() -> JobStore:
    return JobStore(notify=lambda line: print(f"warning: {line}", file=sys.stderr))


def _add(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    params = api.parameters(args.parameters)
    sched = api.schedule_add(
        args.notebook, cron=args.cron, timezone=args.timezone, image=args.image,
        newest=args.newest, python=args.python, parameters=params, timeout=args.timeout,
        overlap=args.overlap, missed=args.missed, webhook=args.webhook, notify=args.notify,
        webhook_token_env=args.webhook_token_env, export=args.export, progress=show,
        store=_store(), config=config)
    if args.json:
        print(json.dumps(sched.to_json(), indent=1))
        return 0
    d = sched.definition
    image = "the newest at each tick" if d.newest else f"{d.image} ({d.image_id[:19]})"
    print(f"schedule {sched.id}: {d.cron!r} {d.timezone}, next {sched.state.get('next')}")
    print(f"  {d.kind + ':':<9} {d.target}")
    if d.steps:
        for step, pinned in d.steps.items():
            print(f"  {step}: {pinned['image']} ({pinned['image_id'][:19]})")
    else:
        print(f"  image:    {image}")
    if sched.exported:
        print(f"  cronjob:  {sched.exported}")
    return 0


def _list(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    found = api.schedule_list(store=_store(), config=config)
    if args.json:
        print(json.dumps([s.to_json() for s in found], indent=1))
    elif not found:
        print("no schedules (add one with `jupyter containerize schedule add NB --cron EXPR`)")
    for sched in [] if args.json else found:
        print(sched.row())
    return 0


def _change(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    verb = args.schedule_verb
    fn = {"pause": api.schedule_pause, "resume": api.schedule_resume,
          "remove": api.schedule_remove}[verb]
    sched = fn(args.schedule, store=_store(), config=config)
    done = {"pause": "paused", "resume": "active", "remove": "removed"}[verb]
    print(f"schedule {sched.id}: {done}" + (f", next {sched.state.get('next')}"
                                            if verb == "resume" else ""))
    return 0


def _export(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    print(api.schedule_export(args.schedule, args.folder, store=_store(), config=config))
    return 0


def _run(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    api.schedule_run(stop_after=args.stop_after, progress=show, store=_store(), config=config)
    return 0


_VERBS = {"add": _add, "list": _list, "pause": _change, "resume": _change,
          "remove": _change, "export": _export, "run": _run}


def _schedule(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    return _VERBS[args.schedule_verb](args, show, config)


HANDLERS = {"schedule": _schedule}
