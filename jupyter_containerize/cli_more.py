"""CLI verbs beyond freeze/build, each family in a module of its own.

A verb module defines ``add_parsers(sub, build_options)`` and ``VERBS``: a dict from verb name
to ``handler(args, show) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

VERB_MODULES = ("cli_run", "cli_serve", "cli_share")


def _modules() -> list[Any]:
    found = []
    for name in VERB_MODULES:
        try:
            found.append(importlib.import_module(f"{__package__}.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{name}":
                raise
    return found


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    for module in _modules():
        module.add_parsers(sub, build_options)


def dispatch(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    for module in _modules():
        handler = module.VERBS.get(args.verb)
        if handler is not None:
            return int(handler(args, show) or 0)
    raise SystemExit(f"error: verb {args.verb} is not available")
