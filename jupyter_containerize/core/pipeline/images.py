"""A pipeline's images: each distinct environment built once, and the images pinned for a
pipeline (a pinned run builds nothing and runs each step in its pinned image and its kept
notebook)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import ContainerizeConfig, resolve
from ..progress import Event, Reporter
from .errors import PipelineError
from .spec import Pipeline, Step
from .spec import interpreters as step_interpreters


def _environment(step: Step, interpreter: str, lock: str) -> tuple[str, ...]:
    """What decides a step's environment image, short of freezing it."""
    key: tuple[str, ...] = (interpreter, str(step.notebook.parent), lock)
    if lock == "imported":
        from ..env.notebook import imports_from_notebook, load_notebook

        key += tuple(sorted(imports_from_notebook(load_notebook(step.notebook))))
    return key


def build(pipe: Pipeline, names: list[str], interpreters: dict[str, str],
          cfg: ContainerizeConfig, progress: Callable[[Any], None] | None,
          rep: Reporter) -> tuple[dict[str, str], int]:
    """Each step's image: each distinct environment built once."""
    from ..image import build

    images: dict[str, str] = {}
    built: dict[tuple[str, ...], str] = {}
    for name in names:
        step = pipe.steps[name]
        lock = step.lock or cfg.lock_mode or "full"
        key = _environment(step, interpreters[name], lock)
        if key not in built:
            rep.emit(Event("phase", f"pipeline: building the environment of step {name}",
                           phase="pipeline"))
            built[key] = build.build(step.notebook, python=interpreters[name], lock=lock,
                                     base=cfg.base_image or None, progress=progress,
                                     config=cfg).reference
        images[name] = built[key]
    return images, len(built)


def pin(pipe: Pipeline, progress: Callable[[Any], None] | None = None,
        config: ContainerizeConfig | None = None) -> dict[str, dict[str, str]]:
    """Every step's image, built (or reused) now: step -> ``image`` (the reference) and
    ``image_id``; what a pinned run takes instead of building."""
    from ..engine import client as engine

    cfg = resolve(config)
    images, _ = build(pipe, list(pipe.order), step_interpreters(pipe), cfg, progress,
                      Reporter(progress))
    pinned = {}
    for name, ref in images.items():
        found = engine.get_image(ref)
        pinned[name] = {"image": ref, "image_id": str(found.id) if found else ref}
    return pinned


def apply(pipe: Pipeline, pinned: dict[str, dict[str, str]]) -> dict[str, str]:
    """The images ``pinned`` gives the steps of ``pipe``, and each step's kept notebook."""
    missing = [n for n in pipe.order if n not in pinned]
    if missing:
        raise PipelineError(f"step {missing[0]!r} was not in {pipe.file.name} when its images "
                            "were pinned", hint="add the schedule again to pin every step")
    for name, step in pipe.steps.items():
        kept = pinned[name].get("notebook")
        if kept and Path(kept).is_file():
            pipe.steps[name] = replace(step, notebook=Path(kept))
    return {n: pinned[n].get("image_id") or pinned[n]["image"] for n in pipe.order}
