"""One function per verb. Every front end calls these and nothing else.

Each verb's keyword options are the ones :data:`~jupyter_containerize.core.options.VERBS`
declares for it (a unit test holds them to the table); an option left out (None) takes the
table's default from the configuration, so what ``jupyter_containerize_config.py`` says is the
default of every front end alike. Every verb takes ``config`` (the front end's
:class:`~jupyter_containerize.core.config.ContainerizeConfig`; the process's one when None) and
passes it to the stage functions that read settings; the long ones take an optional
``progress`` callable that receives :class:`~jupyter_containerize.core.progress.Event`
objects.

Below the verbs: the few reads a front end needs besides them (a live kernel's environment,
a notebook's parameters, the run options checked before anything starts).

Longer than the other modules on purpose: it is the one door of every front end into the core,
and a reader sees every verb's signature in one file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from .config import ContainerizeConfig, resolve
from .errors import ContainerizeError
from .jobs.store import JobStore
from .models import BuildResult, Deployment, EnvironmentSpec, Job, RunRecord
from .options import VERBS

Progress = Callable[[Any], None]
Config = ContainerizeConfig | None


def _default(verb: str, name: str, value: Any, cfg: ContainerizeConfig) -> Any:
    """``value``, or the table's default for the option when it was left out."""
    return VERBS[verb].option(name).default_for(cfg) if value is None else value


# --- environment and images --------------------------------------------------------------------

def capture(*, notebook: str | Path | None = None, python: str | None = None,
            config: Config = None) -> EnvironmentSpec:
    """Read an environment from a Python executable (or the notebook's kernel's)."""
    from .env.freezing import capture_for

    return capture_for(python=python, notebook=notebook, config=resolve(config))


def freeze(
    notebook: str | Path, *, python: str | None = None, base: str | None = None,
    lock: str | None = None, platform: str | None = None, dockerfile: str | Path | None = None,
    requirements: bool = False, check: bool = False, export: str | None = None,
    spec: EnvironmentSpec | None = None, config: Config = None,
) -> Path:
    """Capture + lock beside the notebook; returns the lock path. The lock does not depend on
    the base image: ``base`` is taken, as by every verb that makes an environment, and unused.
    ``export`` (a format of ``options.EXPORT_FORMATS``) also writes the lock in that format
    beside it (:func:`exported_lock` names the file)."""
    from .attest.exportfile import export_beside, exported_path
    from .image import build as _build

    cfg = resolve(config)
    if export is not None:
        exported_path(notebook, export)  # an unknown format stops before anything is written
    path = _build.freeze(
        notebook, python=python, lock=_default("freeze", "lock", lock, cfg),
        platform=_default("freeze", "platform", platform, cfg), spec=spec,
        dockerfile=dockerfile, requirements=requirements, check=check, config=cfg,
    )
    if export is not None and not check:
        export_beside(path, export)
    return path


def exported_lock(lock_file: str | Path, fmt: str) -> Path:
    """The file ``freeze --export FMT`` writes beside the lock ``lock_file``."""
    from .attest.exportfile import exported_path

    return exported_path(lock_file, fmt)


def build(
    notebook: str | Path, *, python: str | None = None, base: str | None = None,
    lock: str | None = None, platform: str | None = None, locked: bool = False,
    tag: str | None = None, no_cache: bool = False, builder: str | None = None,
    dry_run: bool = False, push: str | None = None, strip_outputs: bool = False,
    allow_flagged_outputs: bool = False, author: str | None = None,
    spec: EnvironmentSpec | None = None, progress: Progress | None = None, config: Config = None,
) -> BuildResult:
    """Freeze (reusing an unchanged lock) and build the notebook image; ``push`` also pushes
    it there (with no engine answering, builds and pushes without one)."""
    from .image import build as _build

    cfg = resolve(config)
    if push and cfg.signing_key:
        from .share.signing import check_signing_key

        check_signing_key(cfg)  # before building: a key that cannot sign stops here
    result = _build.build(
        notebook, python=python, base=_default("build", "base", base, cfg),
        lock=_default("build", "lock", lock, cfg), locked=locked,
        platform=_default("build", "platform", platform, cfg), tag=tag, no_cache=no_cache,
        builder=_default("build", "builder", builder, cfg), dry_run=dry_run, spec=spec,
        strip_outputs=strip_outputs, allow_flagged_outputs=allow_flagged_outputs,
        author=author, progress=progress, config=cfg, push=push,
    )
    if push and result.digest and cfg.signing_key:  # signed like `push` signs
        from .share.signing import sign_built

        sign_built(push, [result.image_id, result.config_digest, result.manifest_digest],
                   result.digest, progress=progress, config=cfg)
    return result


def drift(notebook: str | Path, spec: EnvironmentSpec, *,
          config: Config = None) -> dict[str, Any]:
    """How the lock beside ``notebook`` differs from the one ``spec`` (a live kernel) gives
    now; nothing is written."""
    from .env.drift import drift as _drift

    return _drift(notebook, spec)


def base(*, bootstrap: bool = False, python: str | None = None, force: bool = False,
         progress: Progress | None = None, config: Config = None) -> int:
    """List the base images (printed); ``bootstrap``: reuse one for that Python or build it
    offline."""
    from .doctor import base_command

    return base_command(bootstrap, python, progress or (lambda _e: None), force,
                        config=resolve(config))


def doctor(out: Callable[[str], Any] = print, *, config: Config = None) -> int:
    """Check engine, base images, CA/proxy, index and registry; one line each to ``out``."""
    from .doctor import doctor as _doctor

    return _doctor(out, config=resolve(config))


# --- runs --------------------------------------------------------------------------------------

def run(
    notebook: str | Path, *, python: str | None = None, base: str | None = None,
    lock: str | None = None, platform: str | None = None,
    parameters: dict[str, Any] | None = None, image: str | None = None,
    output: str | None = None, artifacts: str | None = None, timeout: Any = None,
    cpus: Any = None, memory: str | None = None, env: list[str] | None = None,
    gpus: str | None = None, data: list[str] | None = None, report: str | None = None,
    spec: EnvironmentSpec | None = None, progress: Progress | None = None,
    cancel: threading.Event | None = None, store: JobStore | None = None,
    extra_labels: dict[str, str] | None = None, config: Config = None,
) -> RunRecord:
    """Build if needed, then execute the notebook with papermill inside the image. The image
    is built for the default platform (a run executes on this engine)."""
    from .run import execute as _run

    cfg = resolve(config)
    return _run.run(
        notebook, parameters=parameters, image=image, output=output, artifacts=artifacts,
        timeout=_default("run", "timeout", timeout, cfg), cpus=cpus, memory=memory, env=env,
        gpus=gpus, report=report, data=data, python=python,
        base=_default("run", "base", base, cfg), lock=_default("run", "lock", lock, cfg),
        progress=progress, cancel=cancel, store=store,
        extra_labels=extra_labels or dict(cfg.extra_labels), spec=spec, config=cfg,
    )


def sweep(
    notebook: str | Path, *, parameters: dict[str, Any], zip: bool = False,
    concurrency: int = 2, best: str | None = None, python: str | None = None,
    base: str | None = None, lock: str | None = None, platform: str | None = None,
    image: str | None = None, timeout: Any = None, cpus: Any = None, memory: str | None = None,
    env: list[str] | None = None, gpus: str | None = None, data: list[str] | None = None,
    spec: EnvironmentSpec | None = None, progress: Progress | None = None,
    cancel: threading.Event | None = None, store: JobStore | None = None,
    extra_labels: dict[str, str] | None = None, config: Config = None,
) -> Any:
    """``run --sweep``: one run per combination of ``parameters`` (name -> "V1,V2,..." or a
    list), at most ``concurrency`` at once, in one image; returns the sweep's result (each
    run's record id, status, parameters and metrics, the best by ``best``)."""
    from .run import sweep as _sweep

    cfg = resolve(config)
    return _sweep.sweep(
        notebook, parameters, zipped=zip, concurrency=concurrency, best=best, image=image,
        python=python, base=_default("run", "base", base, cfg),
        lock=_default("run", "lock", lock, cfg),
        run_options={"timeout": _default("run", "timeout", timeout, cfg), "cpus": cpus,
                     "memory": memory, "env": env, "gpus": gpus, "data": data,
                     "extra_labels": extra_labels or dict(cfg.extra_labels)},
        progress=progress, cancel=cancel, store=store, spec=spec, config=cfg)


def pipeline_run(
    file: str | Path, *, resume: str | None = None, concurrency: int | None = None,
    swarm: bool = False, progress: Progress | None = None,
    cancel: threading.Event | None = None,
    store: JobStore | Callable[[], JobStore] | None = None, config: Config = None,
) -> Any:
    """``pipeline run FILE``: every step of the pipeline file in its frozen image, in
    dependency order, ``concurrency`` at once (default: the file's, else 2); with ``resume``,
    only the steps that did not succeed in that pipeline run; with ``swarm``, each step a
    replicated job on the Docker Swarm this engine manages. Returns the pipeline's result
    (each step's runs, status and artifacts); every mistake in the file raises before anything
    starts (``store`` may be a function that opens the store, called after the checks)."""
    from .pipeline import runner as _pipeline

    return _pipeline.run(file, resume=resume, concurrency=concurrency, swarm=swarm,
                         progress=progress,
                         cancel=cancel, store=store, config=resolve(config))


def pipeline_export(
    file: str | Path, *, to: str | None = None, registry: str | None = None,
    output: str | Path | None = None, progress: Progress | None = None, config: Config = None,
) -> Any:
    """``pipeline export FILE --to argo|kfp --registry HOST[/NS]``: the pipeline file checked
    as ``pipeline run`` checks it, each environment built once and pushed to ``registry``, and
    the pipeline written into ``output`` (default: the file's folder) as an Argo Workflow or a
    compiled Kubeflow pipeline naming each image by digest, once the document validates.
    Returns the export's result (``.path``, ``.images``); every mistake raises before anything
    is built."""
    from .pipeline import export as _export

    return _export.export(file, to=to or "", registry=registry, output=output,
                          progress=progress, config=resolve(config))


def parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """``-p NAME VALUE`` pairs as a command line gives them: names checked, values typed as
    papermill types them."""
    from .run import options as runoptions

    return {name: runoptions.parse_parameter(value)
            for name, value in runoptions.parameter_pairs(pairs).items()}


def check_run_options(*, timeout: Any = None, cpus: Any = None, memory: Any = None,
                      gpus: str | None = None, parameters: dict[str, Any] | None = None) -> None:
    """Every run option checked before the job store, the engine or a build is touched."""
    from .engine.containers import device_requests
    from .run import options as runoptions

    runoptions.check(timeout, cpus, memory, parameters)
    if gpus:
        device_requests(gpus)


def container_running(container: str) -> bool:
    """Whether a run's container still runs (a server restart follows it again)."""
    from .engine.containers import is_running

    return is_running(container)


def runs(*, limit: int = 20, store: JobStore | None = None, config: Config = None) -> list[Job]:
    """The runs the CLI, the magic, the widget and the server made, newest first."""
    return (store or JobStore()).list(kind="run", limit=limit)


def prune(*, runs: bool = False, older_than: str = "30d", images: bool = False,
          progress: Progress | None = None, store: JobStore | None = None,
          config: Config = None) -> dict[str, Any]:
    """Remove run records older than ``older_than`` (``runs``) and the images this project
    built that nothing uses or keeps (``images``; the default when neither is asked for).

    Returns ``{"runs": records removed}`` and/or ``{"images": [...], "freed": bytes}``."""
    done: dict[str, Any] = {}
    if runs:
        done["runs"] = (store or JobStore()).prune(_age(older_than))
    if images or not runs:
        from .image.prune import prune_images

        freed, removed = prune_images(progress=progress)
        done.update(images=removed, freed=freed)
    return done


def _age(text: str) -> float:
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    try:
        return float(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError) as exc:
        raise ContainerizeError(f"--older-than {text!r} is not an age",
                                hint="use a number and d, h, m or s, e.g. 30d") from exc


# --- serving -----------------------------------------------------------------------------------

def serve(
    model: str | Path | None = None, *, notebook: str | Path | None = None,
    image: str | None = None, python: str | None = None, base: str | None = None,
    lock: str | None = None, platform: str | None = None, name: str | None = None,
    port: Any = None, host: str | None = None, model_name: str | None = None,
    token: str | None = None, skops_trust: list[str] | None = None,
    replicas: int | None = None, rollback: bool = False, check: bool = False,
    export: str | Path | None = None, progress: Progress | None = None, config: Config = None,
) -> Deployment:
    """Build a serving image for a model and start it; ``rollback`` returns the swarm
    deployment ``name`` to its previous model instead."""
    from .deploy import serve as _serve

    cfg = resolve(config)
    if rollback:
        from .deploy.swarm import rollback as _rollback

        if not name:
            raise ContainerizeError("--rollback needs --name", hint="serve --rollback --name NAME")
        return _rollback(_serve.valid_name(name))
    return _serve.serve(
        model, notebook=notebook, image=image, name=name, port=port,
        host=_default("serve", "host", host, cfg), model_name=model_name, token=token,
        replicas=replicas, check=check, export=export, python=python,
        base=_default("serve", "base", base, cfg), lock=_default("serve", "lock", lock, cfg),
        platform=_default("serve", "platform", platform, cfg), progress=progress, config=cfg,
        skops_trust=skops_trust,
    )


def serve_object(obj: Any, notebook: str | Path | None = None, *, name: str,
                 image: str | None = None, progress: Progress | None = None,
                 config: Config = None, **options: Any) -> Deployment:
    """Serve a live object of a kernel (pickled by value); ``options`` are :func:`serve`'s."""
    from .deploy import serve as _serve

    return _serve.serve_object(obj, notebook, name=name, image=image,
                               progress=progress, config=resolve(config), **options)


def deployment_name(text: str) -> str:
    """The deployment name a variable or a file name gives."""
    from .deploy.serve import default_name

    return default_name(text)


def stop(name: str, *, config: Config = None) -> str:
    """Stop and remove a deployment."""
    from .deploy import local as deploy

    return deploy.stop(name)


def deployments(*, config: Config = None) -> list[Deployment]:
    """The local deployments with the model each serves now."""
    from .deploy import local as deploy

    return list(deploy.deployments())


# --- sharing -----------------------------------------------------------------------------------

def push(image: str, *, registry: str | None = None, progress: Progress | None = None,
         config: Config = None) -> str:
    """Push to the team registry; returns the reference pinned by digest."""
    from .share import registry as _registry

    cfg = resolve(config)
    return _registry.push(image, registry=_default("push", "registry", registry, cfg),
                          progress=progress, config=cfg)


def pull(ref: str, *, verify: bool | None = None, progress: Progress | None = None,
         config: Config = None) -> str:
    """Pull from a registry; returns the reference pinned by digest. With ``verify`` (default:
    ``require_signed``) only an image signed by one of the trusted keys is pulled."""
    from .share import registry as _registry

    cfg = resolve(config)
    return _registry.pull(ref, verify=_default("pull", "verify", verify, cfg), progress=progress,
                          config=cfg)


def images(*, registry: str | None = None, config: Config = None) -> list[dict[str, Any]]:
    """The team's images with what their labels say, read without pulling (with no registry
    given or configured, this engine's images we made)."""
    from .share import catalog

    cfg = resolve(config)
    return catalog.images(_default("images", "registry", registry, cfg), config=cfg)


def keep(ref: str, *, config: Config = None) -> dict[str, str]:
    """Keep a local image: prune never removes it. Returns its reference and id."""
    from .image import prune as _prune

    return _prune.keep(ref)


def unkeep(ref: str, *, config: Config = None) -> bool:
    """Stop keeping it; False when it was not kept."""
    from .image import prune as _prune

    return _prune.unkeep(ref)


def login(registry: str, *, username: str, password: str | IO[str],
          config: Config = None) -> str:
    """The same as `docker login`: stored where Docker stores credentials."""
    from .share import registry as _registry

    return _registry.login(registry, username, password, config=resolve(config))


def kernel_install(ref: str, *, name: str | None = None, display_name: str | None = None,
                   progress: Progress | None = None, config: Config = None) -> str:
    """A kernelspec whose kernel runs inside the image; returns its folder."""
    from .share import kernels

    return kernels.install(ref, name=name, display_name=display_name, progress=progress,
                           config=resolve(config))


def kernel_list(*, config: Config = None) -> list[dict[str, Any]]:
    """The kernelspecs `kernel install` made."""
    from .share import kernels

    return kernels.list_kernels()


def kernel_remove(name: str, *, config: Config = None) -> str:
    """Remove one; returns its folder."""
    from .share import kernels

    return kernels.remove_kernel(name)


def key_create(*, kind: str | None = None, folder: str | Path | None = None,
               config: Config = None) -> dict[str, str]:
    """A key pair that signs pushed images (set ContainerizeConfig.signing_key to its .key);
    returns the public key's path, the key id and the kind. The passphrase, when any, comes
    from $JUPYTER_CONTAINERIZE_KEY_PASSPHRASE."""
    from .share import signing

    cfg = resolve(config)
    return signing.create_key(_default("key create", "kind", kind, cfg), folder)


# --- what a kernel's front ends read -----------------------------------------------------------

# --- schedules ---------------------------------------------------------------------------------

def schedule_add(
    notebook: str | Path, *, cron: str, timezone: str | None = None, image: str | None = None,
    newest: bool = False, python: str | None = None, parameters: dict[str, Any] | None = None,
    timeout: Any = None, overlap: str | None = None, missed: str | None = None,
    webhook: str | None = None, notify: str | None = None,
    webhook_token_env: str | None = None, export: str | Path | None = None,
    progress: Progress | None = None, store: JobStore | None = None, config: Config = None,
) -> Any:
    """Run ``notebook`` on the ``cron`` ticks (in ``timezone``) in the image built now (or
    ``image``; with ``newest`` the newest at each tick). Everything is checked first (a
    ``webhook`` must answer); returns the schedule (``.to_json()``, ``.row()``); ``export``
    also writes its Kubernetes CronJob there."""
    from .schedule import define

    cfg = resolve(config)
    return define.add(
        notebook, cron, timezone or "UTC", image=image, newest=newest, python=python,
        parameters=parameters, timeout=_default("schedule add", "timeout", timeout, cfg),
        overlap=_default("schedule add", "overlap", overlap, cfg),
        missed=_default("schedule add", "missed", missed, cfg), webhook_url=webhook,
        notify=notify or "always", webhook_token_env=webhook_token_env,
        export=None if export is None else str(export), store=store, progress=progress,
        config=cfg)


def schedule_list(*, store: JobStore | None = None, config: Config = None) -> list[Any]:
    """Every schedule that is not removed, newest first."""
    from .schedule import store as schedules

    return schedules.listed(store or JobStore())


def schedule_pause(schedule: str, *, store: JobStore | None = None, config: Config = None) -> Any:
    from .schedule import define

    return define.pause(store or JobStore(), schedule)


def schedule_resume(schedule: str, *, store: JobStore | None = None,
                    config: Config = None) -> Any:
    """Active again; ticks that fell while it was paused are not run."""
    from .schedule import define

    return define.resume(store or JobStore(), schedule)


def schedule_remove(schedule: str, *, store: JobStore | None = None,
                    config: Config = None) -> Any:
    """No more ticks; its runs stay in the store."""
    from .schedule import define

    return define.remove(store or JobStore(), schedule)


def schedule_export(schedule: str, folder: str | Path, *, store: JobStore | None = None,
                    config: Config = None) -> Path:
    """Write the schedule as a Kubernetes CronJob manifest (validated) in ``folder``."""
    from .schedule import define

    return define.export(store or JobStore(), schedule, folder)


def schedule_run(*, stop_after: Any = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None, store: JobStore | None = None,
                 config: Config = None) -> None:
    """Run the store's schedules in this process until ``stop_after`` seconds, ``cancel``
    or Ctrl-C (which stops the running ticks' runs: they end cancelled)."""
    from .schedule import foreground

    foreground.run(stop_after=stop_after, progress=progress, cancel=cancel,
                   store=store or JobStore(), config=resolve(config))


def scheduler(store: JobStore, *, log: Callable[[str], None] | None = None,
              config: Config = None) -> Any:
    """A scheduler of ``store``'s schedules for a long-lived front end (the server):
    ``.start()`` and ``.stop()``."""
    from .schedule.scheduler import Scheduler

    return Scheduler(store, config=resolve(config), log=log)

def kernel_modules() -> set[str]:
    """The top-level modules imported in this process (not the standard library)."""
    from .env.capture import imported_modules

    return set(imported_modules())


def vendored(module: object) -> bool:
    """A module that lives inside another distribution's folder (that one is what counts)."""
    from .env.capture import vendored_module

    return vendored_module(module)


def capture_live(imported: list[str]) -> EnvironmentSpec:
    """This process's environment, with ``imported`` as its imports (a live kernel)."""
    from .env.capture import capture_environment

    return EnvironmentSpec.from_json(capture_environment(imported))


def user_imports(spec: EnvironmentSpec) -> list[str]:
    """A live kernel's imports without the kernel's own machinery."""
    from .env.lock import user_imports as _user_imports

    return _user_imports(spec, [])


def notebook_imports(notebook: str | Path) -> set[str]:
    """The modules a notebook's code imports; empty when it cannot be read."""
    from .env.notebook import imports_from_notebook, load_notebook

    try:
        return set(imports_from_notebook(load_notebook(notebook)))
    except ContainerizeError:
        return set()


def notebook_parameters(notebook: str | Path) -> dict[str, str]:
    """The parameters cell's names and defaults, each as Python source (an expression as
    written)."""
    from .env.notebook import Expression, load_notebook, parameters_cell

    values = parameters_cell(load_notebook(notebook))
    return {name: str(v) if isinstance(v, Expression) else repr(v) for name, v in values.items()}
