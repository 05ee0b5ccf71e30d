"""CLI: `push`, `pull`, `images`, `login`, `kernel install|list|remove` and `key create`
(sharing)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from typing import Any

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.models import image_row

Show = Callable[[Any], None]


def _push(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    print(api.push(args.image, registry=args.registry, progress=show, config=config))
    return 0


def _pull(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    print(api.pull(args.ref, verify=args.verify or None, progress=show, config=config))
    return 0


def _images(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    if args.keep or args.unkeep:
        if args.keep:
            entry = api.keep(args.keep, config=config)
            print(f"kept {entry['reference']} ({entry['id'][:19]}): prune leaves it alone")
        if args.unkeep:
            done = api.unkeep(args.unkeep, config=config)
            print(f"{'no longer keeping' if done else 'was not kept:'} {args.unkeep}")
        return 0
    rows = api.images(registry=args.registry, config=config)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for row in rows:
        signed = f"  signed {','.join(k[:16] for k in row['signers'])}" if row["signers"] else ""
        print(image_row(row) + signed + ("  sbom" if row["sbom"] else ""))
    if not rows:
        print("no images", file=sys.stderr)
    return 0


def _login(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    username = args.username or (input("Username: ") if sys.stdin.isatty() else "")
    if args.password_stdin:
        password = sys.stdin.read()
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = ""
    print(api.login(args.registry, username=username, password=password, config=config))
    return 0


def _kernel(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    if args.kernel_verb == "install":
        print(api.kernel_install(args.ref, name=args.name, display_name=args.display_name,
                                 progress=show, config=config))
    elif args.kernel_verb == "list":
        found = api.kernel_list(config=config)
        if args.json:
            print(json.dumps(found, indent=1))
        for k in [] if args.json else found:
            print(f"{k['name']}  {k['image']}  {k['resource_dir']}")
    else:
        print(f"removed {api.kernel_remove(args.name, config=config)}")
    return 0


def _key(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    made = api.key_create(kind=args.kind, folder=args.folder, config=config)
    print(made["public"])
    print(f"keyid {made['keyid']} ({made['kind']})")
    print(f"sign pushes with it: c.ContainerizeConfig.signing_key = {made['private']!r}; "
          "hand the .pub to whoever verifies (ContainerizeConfig.trusted_keys)", file=sys.stderr)
    return 0


HANDLERS = {"push": _push, "pull": _pull, "images": _images, "login": _login, "kernel": _kernel,
            "key": _key}
