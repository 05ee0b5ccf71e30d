"""CLI verbs beyond freeze/build, each family in a module of its own.

A verb module defines ``add_parsers(sub, build_options)`` and ``VERBS``: a dict from verb name
to ``handler(args, show) -> int``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from . import run, serve, share

VERB_MODULES = (run, serve, share)


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    for module in VERB_MODULES:
        module.add_parsers(sub, build_options)


def dispatch(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    for module in VERB_MODULES:
        handler = module.VERBS.get(args.verb)
        if handler is not None:
            return int(handler(args, show) or 0)
    raise SystemExit(f"error: verb {args.verb} is not available")
