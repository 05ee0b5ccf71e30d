"""`jupyter containerize VERB`: the verbs of the core API for terminals and CI/CD.

Every failure is one line on stderr with the fix, and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from ..core.errors import ContainerizeError

_CELL_MARK = re.compile(r"^(Executing|Ending) Cell \d+-*$")


def _progress(quiet: bool) -> Callable[[Any], None]:
    def show(event: Any) -> None:
        if quiet:
            return
        if event.kind == "log" and _CELL_MARK.match(event.message.strip()):
            return
        if event.kind == "phase":
            print(f"==> {event.message}", file=sys.stderr)
        elif event.kind == "progress" and event.total:
            width = 30
            done = int(width * event.current / event.total)
            bar = "#" * done + "-" * (width - done)
            end = "\n" if event.current >= event.total else "\r"
            print(f"  [{bar}] {event.current}/{event.total} {event.phase}"[:100],
                  file=sys.stderr, end=end)
        else:
            print(f"  {event.message}", file=sys.stderr)

    return show


def _build_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--python", help="Python executable of the environment to freeze")
    p.add_argument("--base", help="base image (default: one for the kernel's Python)")
    p.add_argument("--lock", choices=["full", "imported"], default="full")
    p.add_argument("--platform", default="linux/amd64")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="jupyter containerize",
                                 description="Freeze, run, serve and share notebooks as images.")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    sub = ap.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("capture", help="print the environment of a Python as JSON")
    p.add_argument("--python")
    p.add_argument("notebook", nargs="?")

    p = sub.add_parser("freeze", help="capture + lock beside the notebook")
    p.add_argument("notebook")
    _build_options(p)
    p.add_argument("--dockerfile", metavar="DIR", help="also write Dockerfile + context (eject)")
    p.add_argument("--requirements", action="store_true", help="also write a requirements view")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 when the kernel no longer matches the lock")

    p = sub.add_parser("build", help="freeze + build the notebook image")
    p.add_argument("notebook")
    _build_options(p)
    p.add_argument("--locked", action="store_true", help="build from the committed lock as is")
    p.add_argument("--tag")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--builder", choices=["auto", "layers", "classic"], default="auto")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--push", metavar="REF",
                   help="also push the image to REF (HOST/NAME:TAG); with no engine answering, "
                        "build and push without one")
    p.add_argument("--strip-outputs", action="store_true")
    p.add_argument("--allow-flagged-outputs", action="store_true")
    p.add_argument("--author")

    p = sub.add_parser("base", help="base images")
    p.add_argument("--bootstrap", action="store_true",
                   help="build one offline from Debian packages (mmdebstrap)")
    p.add_argument("--python", help="X.Y version or an interpreter path to carry in")
    p.add_argument("--force", action="store_true", help="bootstrap even when one exists")

    sub.add_parser("doctor", help="check engine, base images, CA/proxy and registry")
    from .more import add_parsers

    add_parsers(sub, _build_options)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(_dispatch(args) or 0)
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


def _dispatch(args: argparse.Namespace) -> int | None:
    from ..core import api

    show = _progress(args.quiet)
    if args.verb == "capture":
        spec = api.capture(python=args.python, notebook=args.notebook)
        print(json.dumps(spec.to_json(), indent=1))
    elif args.verb == "freeze":
        return _freeze(args)
    elif args.verb == "build":
        res = api.build(args.notebook, python=args.python, base=args.base, lock=args.lock,
                        locked=args.locked, platform=args.platform, tag=args.tag,
                        no_cache=args.no_cache, builder=args.builder, dry_run=args.dry_run,
                        strip_outputs=args.strip_outputs,
                        allow_flagged_outputs=args.allow_flagged_outputs, author=args.author,
                        progress=show, push=args.push)
        _build_summary(res, args.quiet)
        print(res.reference)
    elif args.verb == "base":
        from ..core.doctor import base_command

        return base_command(args.bootstrap, args.python, show, args.force)
    elif args.verb == "doctor":
        from ..core.doctor import doctor

        return doctor(print)
    else:
        from .more import dispatch

        return dispatch(args, show)
    return 0


def _freeze(args: argparse.Namespace) -> int:
    from ..core import api
    from ..core.errors import LockDriftError

    try:
        path = api.freeze(args.notebook, python=args.python, lock=args.lock,
                          dockerfile=args.dockerfile, requirements=args.requirements,
                          check=args.check, platform=args.platform)
    except LockDriftError as exc:
        for line in exc.data.get("diff", []) or []:
            print(line)
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return 1
    lock = json.loads(path.read_text())
    if not args.quiet:
        print(f"Python {lock['python']['version']}, {len(lock['packages'])} distributions "
              f"({lock['mode']} lock)", file=sys.stderr)
        for line in lock.get("warnings", []) + lock.get("mapped", []):
            print(f"  warning: {line}", file=sys.stderr)
    print(path)
    return 0


def _build_summary(res: Any, quiet: bool) -> None:
    if quiet:
        return
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in res.timings.items())
    what = "reused" if res.cached else f"built ({res.builder})"
    print(f"{what}: Python {res.python}; {timing}", file=sys.stderr)
    for w in res.warnings:
        print(f"  warning: {w}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
