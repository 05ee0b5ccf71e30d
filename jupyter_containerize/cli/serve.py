"""CLI: `serve`, `stop` and `deployments`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any


def add_parsers(sub: Any, build_options: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("serve", help="serve a model in its notebook's environment")
    p.add_argument("model", nargs="?", help="model file (e.g. a run's model.joblib) or a "
                   "directory with predict.py")
    p.add_argument("--notebook", help="notebook whose kernel environment the model needs")
    p.add_argument("--image", help="environment image to serve in, instead of building one")
    build_options(p)
    p.add_argument("--name", help="deployment name (default: from the notebook or model)")
    p.add_argument("--port", help="host port, 1-65535 (default: a free one, kept)")
    p.add_argument("--host", default="127.0.0.1", help="host address; 0.0.0.0 exposes it")
    p.add_argument("--model-name", help="V2 model name (default: the deployment name)")
    p.add_argument("--token", help="require Authorization: Bearer TOKEN on inference routes")
    p.add_argument("--skops-trust", action="append", metavar="TYPE", default=[],
                   help="a type a .skops model may load (its full dotted name); repeatable")
    p.add_argument("--replicas", type=int, help="a Docker Swarm service of N replicas")
    p.add_argument("--rollback", action="store_true",
                   help="return the swarm deployment --name to its previous model")
    p.add_argument("--check", action="store_true",
                   help="test the SageMaker and V2 contracts against the deployment")
    p.add_argument("--export", metavar="DIR", help="also write Kubernetes manifests")
    p.add_argument("--json", action="store_true", help="print the deployment as JSON")

    p = sub.add_parser("stop", help="stop and remove a deployment")
    p.add_argument("name")

    p = sub.add_parser("deployments", help="list deployments and the model each serves now")
    p.add_argument("--json", action="store_true")


def _serve(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core import api

    if args.rollback:
        from ..core.deploy.serve import valid_name
        from ..core.deploy.swarm import rollback
        from ..core.errors import ContainerizeError

        if not args.name:
            raise ContainerizeError("--rollback needs --name", hint="serve --rollback --name NAME")
        result: Any = rollback(valid_name(args.name))
    else:
        result = api.serve(
            args.model, notebook=args.notebook, image=args.image, name=args.name,
            port=args.port, host=args.host, model_name=args.model_name, token=args.token,
            replicas=args.replicas, check=args.check, export=args.export, python=args.python,
            base=args.base, lock=args.lock, platform=args.platform, progress=show,
            skops_trust=args.skops_trust,
        )
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        _summary(result)
    failed = [c for c in (getattr(result, "checks", None) or []) if not c["ok"]]
    return 1 if failed else 0


def _summary(result: Any) -> None:
    print(f"deployment {result.name}: {result.status}, model sha256 {result.model_sha256[:12]}")
    print(f"  image: {result.image}")
    if getattr(result, "note", ""):
        print(f"  {result.note}")
    swap = getattr(result, "swap", None)
    if swap:
        extra = f", {swap['failed']} of {swap.get('sent', '?')} probe requests failed" \
            if swap["mode"] == "replaced" else ", no request failed"
        print(f"  model swap: {swap['mode']} in {swap['seconds']:.2f} s{extra}")
    for check in getattr(result, "checks", None) or []:
        mark = "pass" if check["ok"] else "FAIL"
        print(f"  {mark}  {check['name']:<28} {check['detail']}")
    urls = getattr(result, "urls", None) or [result.url]
    for url in urls:
        print(url)


def _stop(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.deploy.local import stop

    print(f"removed {stop(args.name)}")
    return 0


def _deployments(args: argparse.Namespace, show: Callable[[Any], None]) -> int:
    from ..core.deploy.local import deployments

    found = deployments()
    if args.json:
        print(json.dumps([d.to_json() for d in found], indent=1))
        return 0
    if not found:
        print("no deployments", file=sys.stderr)
        return 0
    print(f"{'NAME':<20} {'STATUS':<22} {'MODEL SHA256':<14} {'URL':<28} IMAGE")
    for d in found:
        print(f"{d.name:<20} {d.status:<22} {d.model_sha256[:12]:<14} {d.url:<28} {d.image}")
    return 0


VERBS = {"serve": _serve, "stop": _stop, "deployments": _deployments}
