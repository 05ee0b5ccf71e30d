"""A pipeline as a Kubeflow pipeline: a pipeline spec compiled by the KFP SDK's compiler.

Each step is a container component in its pinned image. Its command is a small ``sh`` script:
each input artifact the KFP launcher hands it is copied to its path in the notebook's folder,
papermill runs from the image's tool environment with the ``python3`` kernelspec under
``timeout`` (a task of a KFP pipeline has no deadline of its own), and each declared output and
the executed notebook are copied to the output artifacts' paths. Retries are the task's retry
policy, CPU and memory its requests and limits, ``needs`` its ``after`` and the files between
steps its inputs from the writing task's outputs; caching is off (a run of a notebook is never
taken from a cache). Artifacts go to the pipeline root of the KFP installation.

The components are component specs loaded by the KFP SDK, the pipeline is compiled by its
compiler, and the written file is loaded back by the SDK and checked (tasks, dependencies,
images) before the export says it is done.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .export_task import ExportError, Task
from .spec import Pipeline

EXECUTED = "executed_notebook"


def _identifier(text: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return name if name and not name[0].isdigit() else f"f_{name}"


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def component_spec(task: Task) -> tuple[dict[str, Any], dict[tuple[str, str], str],
                                        dict[str, str]]:
    """The step's component spec, its input names (by (step, path)) and output names (by
    path)."""
    taken = {EXECUTED}
    inputs = {(s, rel): _unique(_identifier(f"{s}_{rel}"), taken) for s, rel in task.inputs}
    outputs = {rel: _unique(_identifier(rel), taken) for rel in task.outputs}
    n_in = len(task.inputs)
    copy_in = [f'"${i + 1}"' for i in range(n_in)]
    copy_out = [f'"${n_in + i + 1}"' for i in range(len(task.outputs))]
    executed = f'"${n_in + len(task.outputs) + 1}"'
    script = task.shell(copy_in, copy_out, executed, timeout=True)
    args: list[Any] = [{"inputPath": inputs[key]} for key in task.inputs]
    args += [{"outputPath": outputs[rel]} for rel in task.outputs]
    args.append({"outputPath": EXECUTED})
    spec = {
        "name": task.name,
        "description": f"notebook {Path(task.notebook).name} with papermill in its image",
        "inputs": [{"name": name, "type": "Artifact"} for name in inputs.values()],
        "outputs": [*({"name": name, "type": "Artifact"} for name in outputs.values()),
                    {"name": EXECUTED, "type": "Artifact"}],
        "implementation": {"container": {"image": task.image,
                                         "command": ["sh", "-c", script, task.name, *args]}},
    }
    return spec, inputs, outputs


def _pipeline_function(pipe: Pipeline, steps: list[Task]) -> Any:
    from kfp import components, dsl

    made = {t.name: component_spec(t) for t in steps}
    loaded = {name: components.load_component_from_text(yaml.safe_dump(spec))
              for name, (spec, _, _) in made.items()}

    def body() -> None:
        done: dict[str, Any] = {}
        for task in steps:
            _, inputs, _ = made[task.name]
            kwargs = {inputs[(s, rel)]: done[s].outputs[made[s][2][rel]]
                      for s, rel in task.inputs}
            op = loaded[task.name](**kwargs)
            op.set_display_name(task.name)
            op.set_caching_options(False)
            if task.needs:
                op.after(*(done[n] for n in task.needs))
            if task.retries:
                op.set_retry(num_retries=task.retries)
            if task.cpus is not None:
                op.set_cpu_request(f"{task.cpus:g}")
                op.set_cpu_limit(f"{task.cpus:g}")
            if task.memory is not None:
                op.set_memory_request(task.memory)
                op.set_memory_limit(task.memory)
            if task.gpus:
                op.set_accelerator_type("nvidia.com/gpu")
                op.set_accelerator_limit(task.gpus)
            done[task.name] = op

    body.__name__ = re.sub(r"\W", "_", pipe.name)
    body.__annotations__.clear()  # the SDK reads a return annotation as the pipeline's output
    return dsl.pipeline(name=_kfp_name(pipe.name),
                        description=f"{pipe.file.name}: notebooks in their frozen images")(body)


def _kfp_name(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "pipeline"


def check(path: Path, steps: list[Task]) -> list[str]:
    """Load the compiled file back with the KFP SDK and compare it with the steps."""
    from kfp import components

    try:
        loaded = components.load_component_from_file(str(path))
    except Exception as exc:  # noqa: BLE001 - what the SDK said, as a line
        return [f"the SDK cannot load it back: {str(exc).splitlines()[0] if str(exc) else exc}"]
    spec = loaded.pipeline_spec
    tasks = spec.root.dag.tasks
    errors = []
    shown = {t.task_info.name: key for key, t in tasks.items()}
    for step in steps:
        key = shown.get(step.name)
        if key is None:
            errors.append(f"step {step.name} is no task")
            continue
        wanted = {shown.get(n) for n in step.needs}
        if not wanted <= set(tasks[key].dependent_tasks):
            errors.append(f"task {key} does not wait for {', '.join(sorted(map(str, wanted)))}")
        executor = spec.components[tasks[key].component_ref.name].executor_label
        image = spec.deployment_spec["executors"][executor]["container"]["image"]
        if image != step.image:
            errors.append(f"task {key} runs {image}, not {step.image}")
    return errors


def export(pipe: Pipeline, steps: list[Task], folder: Path) -> Path:
    """Compile ``<folder>/<name>.kfp.yaml`` (a KFP pipeline spec) once it checks; returns its
    path."""
    from kfp import compiler

    function = _pipeline_function(pipe, steps)
    target = folder / f"{_kfp_name(pipe.name)}.kfp.yaml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".kfp-") as tmp:
            draft = Path(tmp) / target.name
            try:
                compiler.Compiler().compile(function, str(draft))
            except (ValueError, TypeError, KeyError) as exc:
                raise ExportError(f"the KFP compiler refuses the pipeline of {pipe.file.name}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else exc!r}",
                                  hint="rename the step or file it names (letters, digits, -)"
                                  ) from None
            errors = check(draft, steps)
            if errors:
                raise ExportError(f"the Kubeflow pipeline of {pipe.file.name} does not check: "
                                  f"{errors[0]}", hint="report this: the export should never "
                                                       "write an invalid pipeline")
            draft.replace(target)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}",
                          hint="give --output a folder you can write to") from None
    return target
