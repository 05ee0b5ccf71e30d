"""The command line made from the table of verbs: the CLI's parser, and so the magic's."""

from __future__ import annotations

import argparse
from typing import Any

from .options import GROUPS, VERBS
from .optionspec import Option


def add_argument(parser: argparse.ArgumentParser, opt: Option, config: Any = None) -> None:
    """One option as an argparse argument, its default read from ``config``."""
    kwargs: dict[str, Any] = {"help": opt.help or None}
    if opt.metavar is not None:
        kwargs["metavar"] = opt.metavar
    if opt.choices:
        kwargs["choices"] = list(opt.choices)
    default = opt.default_for(config)
    if opt.kind == "bool":
        kwargs["action"] = "store_true"
    elif opt.kind == "list":
        kwargs.update(action="append", default=list(default or ()))
    elif opt.kind == "object":  # NAME VALUE pairs, repeatable
        kwargs.update(action="append", nargs=2, default=[])
    else:
        if opt.kind == "int":
            kwargs["type"] = int  # numbers stay text: the verb checks them with a hint
        kwargs["default"] = default
    if opt.positional:
        if opt.optional_positional:
            kwargs["nargs"] = "?"
        parser.add_argument(opt.name, **kwargs)
        return
    flags = [opt.short] if opt.short else []
    parser.add_argument(*flags, opt.flag, dest=opt.name, **kwargs)


def command_parser(prog: str, description: str, config: Any = None) -> argparse.ArgumentParser:
    """Every verb of :data:`VERBS` as a subcommand (``kernel install`` nested under ``kernel``),
    with ``-q`` and the defaults ``config`` gives."""
    top = argparse.ArgumentParser(prog=prog, description=description)
    top.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    sub = top.add_subparsers(dest="verb", required=True)
    groups: dict[str, Any] = {}
    for name, spec in VERBS.items():
        if " " in name:
            group, leaf = name.split(" ", 1)
            if group not in groups:
                parent = sub.add_parser(group, help=GROUPS[group])
                groups[group] = parent.add_subparsers(dest=f"{group}_verb", required=True)
            p = groups[group].add_parser(leaf, help=spec.help)
        else:
            p = sub.add_parser(name, help=spec.help)
        for opt in spec.options:
            if opt.cli:
                add_argument(p, opt, config)
    return top
