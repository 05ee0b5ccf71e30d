"""CLI verbs beyond freeze/build: run, serve, sharing and housekeeping (added as they land)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    return None


def dispatch(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    raise SystemExit(f"error: verb {args.verb} is not available")
