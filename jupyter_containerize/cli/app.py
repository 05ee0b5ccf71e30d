"""`jupyter containerize VERB`: the verbs of the core API for terminals and CI/CD.

The parser is made from the table of verbs and options (``core.options``) with the defaults
the configuration gives: ``main`` loads ``jupyter_containerize_config.*`` once and hands that
one configuration to every verb. Every failure is one line on stderr with the fix, and a
non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..core import api
from ..core.commandline import command_parser
from ..core.config import ContainerizeConfig, load_config
from ..core.errors import ContainerizeError, LockDriftError
from ..core.progress import event_text, freeze_summary
from . import pipeline, run, schedule, serve, share

Show = Callable[[Any], None]
Handler = Callable[[argparse.Namespace, Show, ContainerizeConfig], int]


def _progress(quiet: bool) -> Show:
    def show(event: Any) -> None:
        text = None if quiet else event_text(event)
        if text is not None:
            print(text[0], file=sys.stderr, end=text[1])

    return show


def parser(config: ContainerizeConfig | None = None) -> argparse.ArgumentParser:
    return command_parser("jupyter containerize",
                          "Freeze, run, serve and share notebooks as images.", config)


def main(argv: list[str] | None = None) -> int:
    config = load_config()
    args = parser(config).parse_args(argv)
    try:
        return int(HANDLERS[args.verb](args, _progress(args.quiet), config) or 0)
    except ContainerizeError as exc:
        log = exc.data.get("log")
        if isinstance(log, str) and log.strip() and not args.quiet:
            for line in log.strip().splitlines()[-20:]:
                print(f"  | {line}", file=sys.stderr)
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def _capture(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    spec = api.capture(python=args.python, notebook=args.notebook, config=config)
    print(json.dumps(spec.to_json(), indent=1))
    return 0


def _freeze(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    try:
        path = api.freeze(args.notebook, python=args.python, base=args.base, lock=args.lock,
                          platform=args.platform, dockerfile=args.dockerfile,
                          requirements=args.requirements, check=args.check,
                          export=args.export, config=config)
    except LockDriftError as exc:
        for line in exc.data.get("diff", []) or []:
            print(line)
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    if not args.quiet:
        for line in freeze_summary(json.loads(path.read_text())):
            print(line, file=sys.stderr)
    print(path)
    if args.export and not args.check:
        print(api.exported_lock(path, args.export))  # the last line: the exported file
    return 0


def _build(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    res = api.build(args.notebook, python=args.python, base=args.base, lock=args.lock,
                    platform=args.platform, locked=args.locked, tag=args.tag,
                    no_cache=args.no_cache, builder=args.builder, dry_run=args.dry_run,
                    push=args.push, strip_outputs=args.strip_outputs,
                    allow_flagged_outputs=args.allow_flagged_outputs, author=args.author,
                    progress=show, config=config)
    if not args.quiet:
        for line in res.summary():
            print(line, file=sys.stderr)
    print(res.reference)
    return 0


def _base(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    return api.base(bootstrap=args.bootstrap, python=args.python, force=args.force,
                    progress=show, config=config)


def _doctor(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    return api.doctor(print, config=config)


HANDLERS: dict[str, Handler] = {
    "capture": _capture, "freeze": _freeze, "build": _build, "base": _base, "doctor": _doctor,
    **run.HANDLERS, **serve.HANDLERS, **share.HANDLERS, **pipeline.HANDLERS,
    **schedule.HANDLERS,
}


if __name__ == "__main__":
    sys.exit(main())
