"""A pipeline as an Argo ``Workflow`` (``argoproj.io/v1alpha1``) with one DAG template.

Each step is a container template (papermill in the step's pinned image, in the notebook's
folder) with ``activeDeadlineSeconds`` for its timeout (each attempt), ``retryStrategy``
(``limit``: its retries; ``Always``: a failure or a timeout runs it again), CPU and memory
requests equal to their limits, and its files as artifacts: each declared output is an output
artifact at its path in the notebook's folder, each input an input artifact placed at the same
path in the reading step's folder, passed ``from`` the writing task; the executed notebook is
an output artifact too. The DAG's ``dependencies`` are the steps' ``needs``. Artifacts need the
cluster's artifact repository (the workflow controller's default, e.g. S3 or MinIO).

The document is checked before it is written: loaded into the Workflow model of the Argo
Workflows Python SDK (hera), whose dump must give back every field (an unknown or misspelt key
is dropped by the model, and so refused here), and its DAG checked for names that resolve.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .export_task import ExportError, Task, write
from .spec import Pipeline

API_VERSION = "argoproj.io/v1alpha1"
ENTRY = "pipeline"
MANAGED = {"app.kubernetes.io/managed-by": "jupyter-containerize"}
STEP_ANNOTATION = "jupyter-containerize/step"
NOTEBOOK_ARTIFACT = "notebook"


def _dns(text: str, limit: int = 63) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name) or "step"
    return name[:limit].rstrip("-")


def names(steps: list[Task]) -> dict[str, str]:
    """Each step's task and template name (lower-case letters, digits and -), unique."""
    out: dict[str, str] = {}
    for task in steps:
        base = _dns(task.name, 50)
        name, n = base, 2
        while name in out.values() or name == ENTRY:
            name, n = f"{base}-{n}", n + 1
        out[task.name] = name
    return out


def artifact(rel: str) -> str:
    """An artifact's name for a file path: letters, digits, - and _."""
    return "file-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", rel).strip("-") or "x")


def _resources(task: Task) -> dict[str, Any]:
    amounts: dict[str, str] = {}
    if task.cpus is not None:
        amounts["cpu"] = f"{task.cpus:g}"
    if task.memory is not None:
        amounts["memory"] = task.memory
    limits = dict(amounts)
    if task.gpus:
        limits["nvidia.com/gpu"] = str(task.gpus)
    out: dict[str, Any] = {}
    if amounts:
        out["requests"] = amounts
    if limits:
        out["limits"] = limits
    return out


def _template(task: Task, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "notebook", "image": task.image,
                                 "command": task.papermill(), "workingDir": task.folder}
    resources = _resources(task)
    if resources:
        container["resources"] = resources
    template: dict[str, Any] = {"name": name,
                                "metadata": {"annotations": {STEP_ANNOTATION: task.name}}}
    if task.inputs:
        template["inputs"] = {"artifacts": [
            {"name": artifact(f"{source}/{rel}"), "path": task.in_folder(rel)}
            for source, rel in task.inputs]}
    template["outputs"] = {"artifacts": [
        *({"name": artifact(rel), "path": task.in_folder(rel)} for rel in task.outputs),
        {"name": NOTEBOOK_ARTIFACT, "path": task.executed, "optional": True}]}
    if task.timeout:
        template["activeDeadlineSeconds"] = task.timeout
    if task.retries:
        template["retryStrategy"] = {"limit": task.retries, "retryPolicy": "Always"}
    template["container"] = container
    return template


def _dag_task(task: Task, named: dict[str, str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": named[task.name], "template": named[task.name]}
    if task.needs:
        entry["dependencies"] = [named[n] for n in task.needs]
    if task.inputs:
        entry["arguments"] = {"artifacts": [
            {"name": artifact(f"{source}/{rel}"),
             "from": f"{{{{tasks.{named[source]}.outputs.artifacts.{artifact(rel)}}}}}"}
            for source, rel in task.inputs]}
    return entry


def workflow(pipe: Pipeline, steps: list[Task]) -> dict[str, Any]:
    named = names(steps)
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"generateName": f"{_dns(pipe.name, 50)}-", "labels": dict(MANAGED),
                     "annotations": {"jupyter-containerize/pipeline": pipe.name,
                                     "jupyter-containerize/file": pipe.file.name}},
        "spec": {
            "entrypoint": ENTRY,
            "templates": [
                {"name": ENTRY, "dag": {"tasks": [_dag_task(t, named) for t in steps]}},
                *(_template(t, named[t.name]) for t in steps),
            ],
        },
    }


def _differences(given: Any, kept: Any, where: str = "") -> list[str]:
    """Paths of ``given`` that ``kept`` (the model's dump) lost or changed."""
    if isinstance(given, dict):
        if not isinstance(kept, dict):
            return [f"{where or '.'}: not a mapping in the model"]
        out = []
        for key, value in given.items():
            if key not in kept:
                out.append(f"{where}.{key}: not a field of the Workflow model")
            else:
                out += _differences(value, kept[key], f"{where}.{key}")
        return out
    if isinstance(given, list):
        if not isinstance(kept, list) or len(kept) != len(given):
            return [f"{where}: the model kept another list"]
        return [d for i, (a, b) in enumerate(zip(given, kept))
                for d in _differences(a, b, f"{where}[{i}]")]
    if given != kept and str(given) != str(kept):
        return [f"{where}: {given!r} became {kept!r}"]
    return []


def _dag_errors(doc: dict[str, Any]) -> list[str]:
    templates = {t["name"]: t for t in doc["spec"]["templates"]}
    errors = []
    if doc["spec"]["entrypoint"] not in templates:
        errors.append("the entrypoint names no template")
    tasks = templates.get(ENTRY, {}).get("dag", {}).get("tasks", [])
    known = {t["name"] for t in tasks}
    for t in tasks:
        if t["template"] not in templates:
            errors.append(f"task {t['name']} names no template")
        errors += [f"task {t['name']} depends on {d}, no task" for d in
                   t.get("dependencies", []) if d not in known]
        for art in t.get("arguments", {}).get("artifacts", []):
            source = art["from"].split(".")[1]
            if source not in known:
                errors.append(f"task {t['name']} takes {art['name']} from {source}, no task")
    return errors


def validate(doc: dict[str, Any]) -> list[str]:
    """What is wrong with ``doc`` as an Argo Workflow (empty: nothing)."""
    from hera.workflows.models import Workflow

    try:
        model = Workflow.model_validate(doc)
    except Exception as exc:  # noqa: BLE001 - the model's validation error, as lines
        return [line for line in str(exc).splitlines()[1:3] if line.strip()] or [str(exc)]
    kept = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return _differences(doc, kept) + _dag_errors(doc)


def export(pipe: Pipeline, steps: list[Task], folder: Path) -> Path:
    """Write ``<folder>/<name>.argo.yaml`` once the Workflow validates; returns its path."""
    doc = workflow(pipe, steps)
    errors = validate(doc)
    if errors:
        raise ExportError(f"the Argo Workflow of {pipe.file.name} does not validate: "
                          f"{errors[0]}", hint="report this: the export should never write an "
                                               "invalid Workflow")
    return write(folder / f"{_dns(pipe.name)}.argo.yaml",
                 yaml.safe_dump(doc, sort_keys=False, width=1000))
