"""A pipeline exported for a cluster: Argo Workflows or Kubeflow Pipelines.

The file is checked exactly as ``pipeline run`` checks it, each distinct environment is built
once exactly as the runner builds it, and each image is pushed to ``--registry`` so every step
names its image by digest (``REGISTRY/NAME@sha256:...``): a cluster pulls images from a
registry, never from this engine, so there is no export without one. Each step becomes a task
that runs papermill from the image's tool environment with the ``python3`` kernelspec, in the
notebook's folder in the image (the project folder the image carries), with the step's
parameters, timeout, retries and resources; ``needs`` become dependencies and the files passed
between steps become artifacts. ``export_argo`` and ``export_kfp`` write and check the
documents with the tools of those projects (an optional extra of this package).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..config import ContainerizeConfig, resolve
from ..errors import ContainerizeError
from ..progress import Event, Reporter
from ..run.execute import WORKDIR
from . import export_argo, export_kfp
from .errors import PipelineError
from .export_task import ExportError, Task
from .spec import Pipeline, load
from .spec import interpreters as step_interpreters

TARGETS = ("argo", "kfp")
HINT_EXTRA = "pip install 'jupyter-containerize[pipelines-export]'"


@dataclass
class ExportResult:
    to: str
    file: str  # the pipeline file
    name: str
    path: str  # the document written
    images: dict[str, str] = field(default_factory=dict)  # step -> pinned image
    built: dict[str, str] = field(default_factory=dict)  # step -> local image

    def to_json(self) -> dict[str, Any]:
        return {"to": self.to, "file": self.file, "name": self.name, "path": self.path,
                "images": self.images, "built": self.built}

    def summary(self) -> str:
        width = max([len(n) for n in self.images] + [4])
        lines = [f"{'STEP':<{width}}  IMAGE"]
        lines += [f"{n:<{width}}  {ref}" for n, ref in self.images.items()]
        what = "Argo Workflow" if self.to == "argo" else "Kubeflow pipeline"
        lines.append(f"{what} {self.name}: {self.path}")
        return "\n".join(lines)


def check_target(to: Any) -> str:
    if to is None or to == "":
        raise PipelineError("pipeline export needs a target",
                            hint="add --to argo (an Argo Workflow) or --to kfp (a Kubeflow "
                                 "pipeline)")
    if to not in TARGETS:
        raise PipelineError(f"--to {to!r} is not a target a pipeline exports to",
                            hint="use --to argo (an Argo Workflow) or --to kfp (a Kubeflow "
                                 "pipeline)")
    return str(to)


def check_registry(registry: str | None, to: str) -> str:
    if not registry or not str(registry).strip():
        raise PipelineError(
            f"--to {to} needs --registry: a cluster pulls each step's image from a registry, "
            "by digest", hint="add --registry HOST[/NAMESPACE] (log in first with "
                              "jupyter containerize login HOST)")
    return str(registry).strip().rstrip("/")


def check_extra(to: str) -> None:
    """One line when the tools that write and check the document are not installed."""
    module = "hera" if to == "argo" else "kfp"
    try:
        if to == "argo":
            import hera.workflows.models  # noqa: F401
        else:
            import kfp.compiler  # noqa: F401
    except ImportError:
        raise ExportError(f"--to {to} needs the {module} package to write and validate the "
                          "document, and it is not installed", hint=HINT_EXTRA) from None


def quantity(memory: str | None) -> str | None:
    """A run's memory limit (``512m``: bytes, or k/m/g, 1024-based) as a Kubernetes quantity."""
    if memory is None:
        return None
    from ..run import options as runoptions

    size = int(runoptions.parse_memory(memory) or 0)
    for unit, factor in (("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def gpu_count(pipe: Pipeline, name: str, gpus: str | None) -> int | None:
    if gpus is None:
        return None
    if gpus.isdigit() and int(gpus) > 0:
        return int(gpus)
    raise PipelineError(f"{pipe.file.name}: step {name!r}: gpus: {gpus} names this host's "
                        "devices, which a cluster cannot", hint="give a number of GPUs, e.g. "
                                                                "gpus: 1, to export")


def _push(name: str, image: str, registry: str, progress: Callable[[Any], None] | None,
          cfg: ContainerizeConfig) -> str:
    from ..share import registry as share

    try:
        return share.push(image, registry, progress, config=cfg)
    except ContainerizeError as exc:
        raise ExportError(f"step {name}: image {image} cannot be pushed to {registry}: "
                          f"{exc.message}", hint=exc.hint or "log in with jupyter containerize "
                                                             f"login {registry.split('/')[0]}"
                          ) from None


def tasks(file: str | Path, to: str, registry: str | None,
          progress: Callable[[Any], None] | None, cfg: ContainerizeConfig
          ) -> tuple[Pipeline, list[Task], dict[str, str]]:
    """The checked pipeline, its steps as tasks with pushed images (in dependency order), and
    each step's local image."""
    from .images import build as build_images

    target = check_registry(registry, to)
    check_extra(to)
    pipe = load(file)
    interpreters = step_interpreters(pipe)
    gpus = {n: gpu_count(pipe, n, s.gpus) for n, s in pipe.steps.items()}
    rep = Reporter(progress)
    images, envs = build_images(pipe, list(pipe.order), interpreters, cfg, progress, rep)
    rep.log(f"pipeline: {envs} environment image(s) for {len(images)} step(s)")
    pinned: dict[str, str] = {}
    for image in dict.fromkeys(images[n] for n in pipe.order):
        first = next(n for n in pipe.order if images[n] == image)
        rep.emit(Event("phase", f"pipeline: pushing the image of step {first} to {target}",
                       phase="pipeline"))
        pinned[image] = _push(first, image, target, progress, cfg)
    out = []
    for name in pipe.order:
        step = pipe.steps[name]
        timeout = step.timeout if step.timeout is not None else cfg.run_timeout
        out.append(Task(
            name=name, image=pinned[images[name]],
            notebook=str(PurePosixPath(WORKDIR) / step.notebook.name),
            parameters=dict(step.parameters), needs=list(step.needs),
            inputs=list(step.inputs), outputs=list(step.outputs),
            timeout=int(-(-float(timeout) // 1)) if timeout else None, retries=step.retries,
            cpus=step.cpus, memory=quantity(step.memory), gpus=gpus[name]))
    return pipe, out, images


def export(file: str | Path, *, to: str, registry: str | None = None,
           output: str | Path | None = None, progress: Callable[[Any], None] | None = None,
           config: ContainerizeConfig | None = None) -> ExportResult:
    """Write the pipeline in ``file`` as an Argo Workflow (``to="argo"``) or a compiled
    Kubeflow pipeline (``to="kfp"``) into ``output`` (default: the file's folder), once the
    document validates; every mistake raises before anything is built."""
    cfg = resolve(config)
    target = check_target(to)
    pipe, steps, built = tasks(file, target, registry, progress, cfg)
    folder = Path(output) if output else pipe.file.parent
    writer = export_argo.export if target == "argo" else export_kfp.export
    path = writer(pipe, steps, folder)
    return ExportResult(to=target, file=str(pipe.file), name=pipe.name, path=str(path),
                        images={t.name: t.image for t in steps}, built=built)


__all__ = ["ExportError", "ExportResult", "Task", "export"]
