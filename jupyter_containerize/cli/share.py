"""CLI: `push`, `pull`, `images`, `login` and `kernel install|list|remove` (sharing)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("push", help="push an image to the team registry; prints it pinned")
    p.add_argument("image")
    p.add_argument("--registry", help="HOST[:PORT][/NAMESPACE] (default: the configured one)")

    p = sub.add_parser("pull", help="pull an image; prints it pinned by digest")
    p.add_argument("reference")

    p = sub.add_parser("images", help="the team's images, from the registry without pulling")
    p.add_argument("--registry", help="HOST[:PORT][/NAMESPACE] (default: the configured one; "
                                      "none: this engine's images)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--keep", metavar="REF", help="keep this local image: prune never removes it")
    p.add_argument("--unkeep", metavar="REF", help="stop keeping it")

    p = sub.add_parser("login", help="log in to a registry, as `docker login` does")
    p.add_argument("registry", metavar="HOST")
    p.add_argument("-u", "--username")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    p = sub.add_parser("kernel", help="kernelspecs whose kernel runs inside an image")
    ksub = p.add_subparsers(dest="kernel_verb", required=True)
    k = ksub.add_parser("install", help="install a kernelspec for an image")
    k.add_argument("reference")
    k.add_argument("--name")
    k.add_argument("--display-name")
    k = ksub.add_parser("list", help="list the kernelspecs `kernel install` made")
    k.add_argument("--json", action="store_true")
    k = ksub.add_parser("remove", help="remove one")
    k.add_argument("name")


def _push(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.share.registry import push

    print(push(args.image, registry=args.registry, progress=show))
    return 0


def _pull(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.share.registry import pull

    print(pull(args.reference, progress=show))
    return 0


def _images(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.image import prune

    if args.keep or args.unkeep:
        if args.keep:
            entry = prune.keep(args.keep)
            print(f"kept {entry['reference']} ({entry['id'][:19]}): prune leaves it alone")
        if args.unkeep:
            done = prune.unkeep(args.unkeep)
            print(f"{'no longer keeping' if done else 'was not kept:'} {args.unkeep}")
        return 0
    from ..core.share.catalog import images

    rows = images(args.registry)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        packages = ",".join(row["packages"][:5])
        model = f" model {row['model'].get('sha256', '')[:12]}" if row["model"] else ""
        print(f"{row['reference']}  {row['created'][:19]}  {row['size'] / 1e6:.0f} MB  "
              f"py {row['python'] or '?'}  {row['author'] or '?'}  {row['notebook'] or '-'}  "
              f"{packages}{model}")
    if not rows:
        print("no images", file=sys.stderr)
    return 0


def _login(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.share.registry import login

    username = args.username or (input("Username: ") if sys.stdin.isatty() else "")
    if args.password_stdin:
        password = sys.stdin.read()
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = ""
    print(login(args.registry, username, password))
    return 0


def _kernel(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.share import kernels

    if args.kernel_verb == "install":
        path = kernels.install(args.reference, name=args.name, display_name=args.display_name,
                               progress=show)
        print(path)
    elif args.kernel_verb == "list":
        found = kernels.list_kernels()
        if args.json:
            print(json.dumps(found, indent=1))
        for k in [] if args.json else found:
            print(f"{k['name']}  {k['image']}  {k['resource_dir']}")
    else:
        print(f"removed {kernels.remove_kernel(args.name)}")
    return 0


VERBS = {"push": _push, "pull": _pull, "images": _images, "login": _login, "kernel": _kernel}
