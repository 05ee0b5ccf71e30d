"""CLI: `serve`, `stop` and `deployments`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.models import Deployment

Show = Callable[[Any], None]


def _serve(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    result = api.serve(
        args.model, notebook=args.notebook, image=args.image, python=args.python,
        base=args.base, lock=args.lock, platform=args.platform, name=args.name, port=args.port,
        host=args.host, model_name=args.model_name, token=args.token,
        skops_trust=args.skops_trust, replicas=args.replicas, rollback=args.rollback,
        check=args.check, export=args.export, progress=show, config=config,
    )
    print(json.dumps(result.to_json(), indent=1) if args.json else "\n".join(result.summary()))
    return 1 if result.failed_checks() else 0


def _stop(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    print(f"removed {api.stop(args.name, config=config)}")
    return 0


def _deployments(args: argparse.Namespace, show: Show, config: ContainerizeConfig) -> int:
    found = api.deployments(config=config)
    if args.json:
        print(json.dumps([d.to_json() for d in found], indent=1))
        return 0
    if not found:
        print("no deployments", file=sys.stderr)
        return 0
    print(Deployment.HEADER)
    for d in found:
        print(d.row())
    return 0


HANDLERS = {"serve": _serve, "stop": _stop, "deployments": _deployments}
