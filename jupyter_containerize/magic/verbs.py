"""What ``%containerize VERB`` does for each verb.

capture, freeze, build, run and serve capture this kernel's environment in its own process
(unless ``--python`` names another interpreter) and return what the cell shows: the spec, the
lock path, the image reference, a RunRecord, a Deployment; push and pull the reference pinned
by digest. The other verbs print what the CLI prints, with the same text (``core.progress``,
the models' ``summary`` and ``row``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from IPython.core.error import UsageError

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.errors import LockDriftError
from ..core.models import BuildResult, Deployment, EnvironmentSpec, image_row
from ..core.progress import freeze_summary
from .session import serve_target

Show = Callable[[Any], None]


class Host(Protocol):
    """The magic as the verbs see it."""

    settings: ContainerizeConfig
    shell: Any

    def notebook(self, given: str | None = None) -> Path: ...

    def session_notebook(self) -> Path | None: ...

    def live_spec(self, notebook: Path | None = None) -> EnvironmentSpec: ...


def _spec(magic: Host, args: argparse.Namespace, notebook: Path) -> EnvironmentSpec | None:
    """This kernel's environment, unless --python names another interpreter."""
    if getattr(args, "python", None) or getattr(args, "locked", False):
        return None
    return magic.live_spec(notebook)


def capture(magic: Host, args: argparse.Namespace, show: Show) -> Any:
    if args.python:
        return api.capture(python=args.python, notebook=args.notebook, config=magic.settings)
    return magic.live_spec(Path(args.notebook) if args.notebook else None)


def freeze(magic: Host, args: argparse.Namespace, show: Show) -> str:
    notebook = magic.notebook(args.notebook)
    try:
        path = api.freeze(notebook, python=args.python, base=args.base, lock=args.lock,
                          platform=args.platform, dockerfile=args.dockerfile,
                          requirements=args.requirements, check=args.check,
                          export=args.export, spec=_spec(magic, args, notebook),
                          config=magic.settings)
    except LockDriftError as exc:
        for line in exc.data.get("diff", []) or []:
            print(f"  {line}")
        raise
    if not args.quiet:
        print("\n".join(freeze_summary(json.loads(path.read_text()))))
    if args.export and not args.check:
        return str(api.exported_lock(path, args.export))
    return str(path)


def _environment(magic: Host, args: argparse.Namespace, notebook: Path, show: Show,
                 **options: Any) -> BuildResult:
    """The notebook's image from this kernel's environment (``options``: build's own)."""
    return api.build(notebook, python=args.python, base=args.base, lock=args.lock,
                     platform=args.platform, spec=_spec(magic, args, notebook), progress=show,
                     config=magic.settings, **options)


def build(magic: Host, args: argparse.Namespace, show: Show) -> str:
    notebook = magic.notebook(args.notebook)
    print(f"notebook: {notebook} (as saved)")
    res = _environment(magic, args, notebook, show, locked=args.locked, tag=args.tag,
                       no_cache=args.no_cache, builder=args.builder, dry_run=args.dry_run,
                       push=args.push, strip_outputs=args.strip_outputs,
                       allow_flagged_outputs=args.allow_flagged_outputs, author=args.author)
    if not args.quiet:
        print("\n".join(res.summary()))
    return str(res.reference)


def run(magic: Host, args: argparse.Namespace, show: Show) -> Any:
    notebook = magic.notebook(args.notebook)
    params = api.parameters(args.parameters)
    if args.sweep:
        return api.sweep(notebook, parameters=params, zip=args.zip,
                         concurrency=args.concurrency, best=args.best, python=args.python,
                         base=args.base, lock=args.lock, platform=args.platform,
                         image=args.image, timeout=args.timeout, cpus=args.cpus,
                         memory=args.memory, env=args.env, gpus=args.gpus, data=args.data,
                         spec=None if args.image else _spec(magic, args, notebook),
                         progress=show, config=magic.settings)
    return api.run(notebook, python=args.python, base=args.base, lock=args.lock,
                   platform=args.platform, parameters=params, image=args.image,
                   output=args.output, artifacts=args.artifacts, timeout=args.timeout,
                   cpus=args.cpus, memory=args.memory, env=args.env, gpus=args.gpus,
                   data=args.data, report=args.report,
                   spec=None if args.image else _spec(magic, args, notebook), progress=show,
                   config=magic.settings)


def serve(magic: Host, args: argparse.Namespace, show: Show) -> Deployment:
    """``serve NAME``: a bound identifier is the live object, otherwise NAME is a path."""
    options: dict[str, Any] = dict(
        port=args.port, host=args.host, model_name=args.model_name, token=args.token,
        skops_trust=args.skops_trust, replicas=args.replicas, check=args.check,
        export=args.export, progress=show, config=magic.settings)
    if args.rollback:
        return api.serve(name=args.name, rollback=True, **options)
    notebook = Path(args.notebook) if args.notebook else magic.session_notebook()
    kind, target, note = "file", args.model, ""
    if args.model:
        choose = "object" if args.object else "file" if args.file else ""
        kind, target, note = serve_target(args.model, magic.shell.user_ns, choose)
    if note:
        print(note)
    elif kind == "object" and not args.quiet:
        print(f"serving the live object {args.model} "
              f"({type(target).__module__}.{type(target).__qualname__}), pickled by value")
    image = args.image
    if notebook is not None and not image and not args.python:
        if not args.quiet:
            print(f"environment: this kernel's, for {notebook} (as saved)")
        image = _environment(magic, args, notebook, show).reference
    else:
        options.update(python=args.python, base=args.base, lock=args.lock,
                       platform=args.platform)
    if kind == "object":
        name = args.name or api.deployment_name(args.model)
        return api.serve_object(target, notebook, name=name, image=image, **options)
    return api.serve(target, notebook=notebook, image=image, name=args.name, **options)


def login(magic: Host, args: argparse.Namespace, show: Show) -> str:
    """``login HOST``: the password is asked by the front end, never put on the line."""
    username = args.username or input("Username: ")
    password = getpass.getpass("Password: ")
    message = api.login(args.registry, username=username, password=password,
                        config=magic.settings)
    print(message)
    return message


# --- the verbs that print what the CLI prints ----------------------------------------------

def _exit(verb: str, code: int) -> None:
    sys.stdout.flush()
    if code:
        raise UsageError(f"{verb} failed with exit code {code} (see the output above)")


def doctor(magic: Host, args: argparse.Namespace, show: Show) -> None:
    _exit("doctor", api.doctor(print, config=magic.settings))


def base(magic: Host, args: argparse.Namespace, show: Show) -> None:
    _exit("base", api.base(bootstrap=args.bootstrap, python=args.python, force=args.force,
                           progress=show, config=magic.settings))


def runs(magic: Host, args: argparse.Namespace, show: Show) -> None:
    jobs = api.runs(limit=args.limit, config=magic.settings)
    print(json.dumps([j.to_json() for j in jobs], indent=1) if args.json
          else "\n".join(job.row() for job in jobs))


def prune(magic: Host, args: argparse.Namespace, show: Show) -> None:
    done = api.prune(runs=args.runs, older_than=args.older_than, images=args.images,
                     progress=show, config=magic.settings)
    if "runs" in done:
        print(f"removed {done['runs']} run records")
    if "images" in done:
        print(f"removed {len(done['images'])} images, freed {done['freed'] / 1e6:.1f} MB")


def stop(magic: Host, args: argparse.Namespace, show: Show) -> None:
    print(f"removed {api.stop(args.name, config=magic.settings)}")


def deployments(magic: Host, args: argparse.Namespace, show: Show) -> None:
    found = api.deployments(config=magic.settings)
    if args.json:
        print(json.dumps([d.to_json() for d in found], indent=1))
    else:
        print("\n".join([Deployment.HEADER, *(d.row() for d in found)]) if found
              else "no deployments")


def push(magic: Host, args: argparse.Namespace, show: Show) -> str:
    """The image pushed, pinned by digest (what the cell shows)."""
    return api.push(args.image, registry=args.registry, progress=show, config=magic.settings)


def pull(magic: Host, args: argparse.Namespace, show: Show) -> str:
    """The image pulled, pinned by digest (what the cell shows)."""
    return api.pull(args.ref, verify=args.verify, progress=show, config=magic.settings)


def images(magic: Host, args: argparse.Namespace, show: Show) -> None:
    if args.keep:
        entry = api.keep(args.keep, config=magic.settings)
        print(f"kept {entry['reference']} ({entry['id'][:19]}): prune leaves it alone")
    if args.unkeep:
        done = api.unkeep(args.unkeep, config=magic.settings)
        print(f"{'no longer keeping' if done else 'was not kept:'} {args.unkeep}")
    if args.keep or args.unkeep:
        return
    rows = api.images(registry=args.registry, config=magic.settings)
    print(json.dumps(rows, indent=1) if args.json
          else "\n".join(image_row(row) for row in rows) or "no images")


def kernel(magic: Host, args: argparse.Namespace, show: Show) -> None:
    cfg = magic.settings
    if args.kernel_verb == "install":
        print(api.kernel_install(args.ref, name=args.name, display_name=args.display_name,
                                 progress=show, config=cfg))
    elif args.kernel_verb == "list":
        found = api.kernel_list(config=cfg)
        print(json.dumps(found, indent=1) if args.json else "\n".join(
            f"{k['name']}  {k['image']}  {k['resource_dir']}" for k in found))
    else:
        print(f"removed {api.kernel_remove(args.name, config=cfg)}")


def key(magic: Host, args: argparse.Namespace, show: Show) -> str:
    """``key create``: the public key's path (what the cell shows); the private key stays in
    its 0600 file, named once so it can be configured as ``signing_key``."""
    made = api.key_create(kind=args.kind, folder=args.folder, config=magic.settings)
    print(f"keyid {made['keyid']} ({made['kind']}); sign pushes with "
          f"%config ContainerizeConfig.signing_key = {made['private']!r}")
    return str(made["public"])


def pipeline(magic: Host, args: argparse.Namespace, show: Show) -> Any:
    """``pipeline run FILE``: the pipeline's result (each step's runs); a failure is said in
    one line and the result is still returned (what resumes it is in it)."""
    if args.pipeline_verb == "export":
        exported = api.pipeline_export(Path(args.file).expanduser(), to=args.to,
                                       registry=args.registry, output=args.output,
                                       progress=show, config=magic.settings)
        print(json.dumps(exported.to_json(), indent=1) if args.json else exported.summary())
        return exported
    result = api.pipeline_run(Path(args.file).expanduser(), resume=args.resume,
                              concurrency=args.concurrency, swarm=args.swarm, progress=show,
                              config=magic.settings)
    print(json.dumps(result.to_json(), indent=1) if args.json else result.summary())
    return result


def schedule(magic: Host, args: argparse.Namespace, show: Show) -> Any:
    """``schedule add|list|pause|resume|remove|export``; ``schedule run`` (a loop that never
    ends by itself) belongs to a terminal or the server, not to a cell."""
    cfg, verb = magic.settings, args.schedule_verb
    if verb == "add":
        return api.schedule_add(
            magic.notebook(args.notebook), cron=args.cron, timezone=args.timezone,
            image=args.image, newest=args.newest, python=args.python,
            parameters=api.parameters(args.parameters), timeout=args.timeout,
            overlap=args.overlap, missed=args.missed, webhook=args.webhook, notify=args.notify,
            webhook_token_env=args.webhook_token_env, export=args.export, progress=show,
            config=cfg)
    if verb == "list":
        found = api.schedule_list(config=cfg)
        print("\n".join(s.row() for s in found) or "no schedules")
        return found
    if verb == "export":
        return api.schedule_export(args.schedule, args.folder, config=cfg)
    if verb == "run":
        raise UsageError("`schedule run` never ends by itself: run `jupyter containerize "
                         "schedule run` in a terminal, or let the Jupyter server run schedules")
    fn = {"pause": api.schedule_pause, "resume": api.schedule_resume,
          "remove": api.schedule_remove}[verb]
    return fn(args.schedule, config=cfg)


VERBS: dict[str, Callable[[Host, argparse.Namespace, Show], Any]] = {
    "capture": capture, "freeze": freeze, "build": build, "run": run, "serve": serve,
    "login": login, "doctor": doctor, "base": base, "runs": runs, "prune": prune, "stop": stop,
    "deployments": deployments, "push": push, "pull": pull, "images": images, "kernel": kernel,
    "key": key, "pipeline": pipeline, "schedule": schedule,
}
