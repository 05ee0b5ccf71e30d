"""One function per verb. Every front end calls these and nothing else.

Each verb takes keyword options spelled as the CLI spells them and an optional ``progress``
callable that receives :class:`~jupyter_containerize.core.progress.Event` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .models import BuildResult, Deployment, EnvironmentSpec, RunRecord

Progress = Callable[[Any], None]


def capture(*, python: str | None = None, notebook: str | Path | None = None) -> EnvironmentSpec:
    """Read an environment from a Python executable (or the notebook's kernel's)."""
    from .image import build

    return build.capture_for(python=python, notebook=notebook)


def freeze(
    notebook: str | Path,
    *,
    python: str | None = None,
    lock: str = "full",
    spec: EnvironmentSpec | None = None,
    dockerfile: str | Path | None = None,
    requirements: bool = False,
    check: bool = False,
    platform: str = "linux/amd64",
) -> Path:
    """Capture + lock beside the notebook; returns the lock path."""
    from .image import build

    return build.freeze(
        notebook,
        python=python,
        lock=lock,
        spec=spec,
        dockerfile=dockerfile,
        requirements=requirements,
        check=check,
        platform=platform,
    )


def build(
    notebook: str | Path,
    *,
    python: str | None = None,
    base: str | None = None,
    lock: str = "full",
    locked: bool = False,
    platform: str = "linux/amd64",
    tag: str | None = None,
    no_cache: bool = False,
    builder: str = "auto",
    dry_run: bool = False,
    spec: EnvironmentSpec | None = None,
    strip_outputs: bool = False,
    allow_flagged_outputs: bool = False,
    author: str | None = None,
    progress: Progress | None = None,
    config: Any = None,
    push: str | None = None,
) -> BuildResult:
    """Freeze (reusing an unchanged lock) and build the notebook image; ``push`` also pushes
    it there (with no engine answering, builds and pushes without one)."""
    from .image import build as _build

    return _build.build(
        notebook,
        python=python,
        base=base,
        lock=lock,
        locked=locked,
        platform=platform,
        tag=tag,
        no_cache=no_cache,
        builder=builder,
        dry_run=dry_run,
        spec=spec,
        strip_outputs=strip_outputs,
        allow_flagged_outputs=allow_flagged_outputs,
        author=author,
        progress=progress,
        config=config,
        push=push,
    )


def run(notebook: str | Path, **options: Any) -> RunRecord:
    """Build if needed, then execute the notebook with papermill inside the image."""
    from .run import execute as _run

    return _run.run(notebook, **options)


def serve(model: str | Path | None = None, **options: Any) -> Deployment:
    """Build a serving image for a model and start it."""
    from .deploy import serve as _serve

    return _serve.serve(model, **options)


def stop(name: str) -> str:
    """Stop and remove a deployment."""
    from .deploy import local as deploy

    return deploy.stop(name)


def deployments() -> list[Deployment]:
    """The local deployments with the model each serves now."""
    from .deploy import local as deploy

    return list(deploy.deployments())


def push(image: str, *, registry: str | None = None, progress: Progress | None = None) -> str:
    """Push to the team registry; returns the reference pinned by digest."""
    from .share import registry as _registry

    return _registry.push(image, registry=registry, progress=progress)


def pull(ref: str, *, progress: Progress | None = None) -> str:
    """Pull from a registry; returns the reference pinned by digest."""
    from .share import registry as _registry

    return _registry.pull(ref, progress=progress)


def images(*, registry: str | None = None, config: Any = None) -> list[dict[str, Any]]:
    """The team's images with what their labels say, read without pulling.

    ``config`` (a ContainerizeConfig) supplies the registry and ``team_repositories`` when
    they are not given; the server passes its own."""
    from .share import catalog

    return catalog.images(registry, config=config)


def login(registry: str, *, username: str, password_stdin: Any) -> str:
    """The same as `docker login`: stored where Docker stores credentials."""
    from .share import registry as _registry

    return _registry.login(registry, username, password_stdin)


def kernel_install(ref: str, *, name: str | None = None) -> str:
    """A kernelspec whose kernel runs inside the image."""
    from .share import kernels

    return kernels.install(ref, name=name)


def kernel_list() -> list[dict[str, Any]]:
    from .share import kernels

    return kernels.list_kernels()


def kernel_remove(name: str) -> str:
    from .share import kernels

    return kernels.remove_kernel(name)
