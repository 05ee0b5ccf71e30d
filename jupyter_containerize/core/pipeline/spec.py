"""The pipeline file: read, checked against ``schema.json``, then checked as a whole.

Every mistake stops the pipeline before anything starts, as one line that names the file, the
step and the fix: YAML that does not parse or gives a key twice, anything the schema refuses
(an unknown key, a value of the wrong type), two steps of one name, a ``needs`` naming no
step, needs that go round in a cycle, an input from a step that is not upstream or that does
not declare the file among its ``outputs``, a notebook that is missing or not a notebook, a
parameter its notebook does not declare, a timeout, CPU count or memory limit a run would
refuse. The interpreters each step is frozen from are checked by :func:`interpreters`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ContainerizeError
from . import graph
from .errors import PipelineError
from .schemacheck import check_schema

DEFAULT_CONCURRENCY = 2
MAX_CONCURRENCY = 64


@dataclass
class Step:
    name: str
    notebook: Path  # resolved
    python: str | None = None  # as given (relative paths resolved against the file's folder)
    lock: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    needs: list[str] = field(default_factory=list)
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (step, path)
    outputs: list[str] = field(default_factory=list)
    timeout: float | None = None
    retries: int = 0
    cpus: float | None = None
    memory: str | None = None
    gpus: str | None = None

    def fingerprint(self) -> str:
        """What decides what the step computes: its notebook's bytes, its parameters, what it
        reads and writes, its interpreter and lock mode (not its timeout, retries or
        resources)."""
        import hashlib
        import json

        what = {"notebook": hashlib.sha256(self.notebook.read_bytes()).hexdigest(),
                "parameters": self.parameters, "inputs": [list(i) for i in self.inputs],
                "outputs": self.outputs, "python": self.python, "lock": self.lock}
        text = json.dumps(what, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "notebook": str(self.notebook), "python": self.python,
                "lock": self.lock, "parameters": self.parameters, "needs": self.needs,
                "inputs": [f"{s}/{p}" for s, p in self.inputs], "outputs": self.outputs,
                "timeout": self.timeout, "retries": self.retries, "cpus": self.cpus,
                "memory": self.memory, "gpus": self.gpus}


@dataclass
class Pipeline:
    file: Path  # resolved
    name: str
    steps: dict[str, Step]  # in the file's order
    order: list[str]  # every step after the steps it needs
    upstream: dict[str, set[str]]
    concurrency: int | None = None

    def needs(self) -> dict[str, list[str]]:
        return {name: list(step.needs) for name, step in self.steps.items()}


# --- reading -----------------------------------------------------------------------------------

def _loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise PipelineError(
                    f"line {key_node.start_mark.line + 1}: the key {key!r} is given twice in "
                    "one mapping", hint="keep one of them")
            seen[key] = True
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)  # type: ignore[no-any-return]

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


def read(file: str | Path) -> Any:
    """The file's YAML, parsed; a missing or unreadable file or bad YAML is one line."""
    import yaml

    path = Path(file)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise PipelineError(f"pipeline file {path} {what}",
                            hint="pass the path of a pipeline's YAML file, e.g. pipeline.yaml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"{path} cannot be read: {str(exc).splitlines()[0]}",
                            hint="pass a readable UTF-8 text file") from exc
    try:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except PipelineError as exc:
        raise PipelineError(f"{path.name} {exc.message}", hint=exc.hint) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PipelineError(f"{path.name}{where}: not valid YAML: {problem}",
                            hint="fix the YAML there (indentation, a missing ':' or quote)"
                            ) from None


def _relative(file: Path, where: str, key: str, text: str) -> str:
    """A file path relative to a notebook's folder, normalised (``./a`` is ``a``)."""
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or "\\" in text or str(path) in ("", "."):
        raise PipelineError(
            f"{file.name}: {where}: {key} {text!r} is not a path inside the notebook's folder",
            hint="give a relative path without .., e.g. numbers.csv or out/model.json")
    return str(path)


def _run_option(file: Path, where: str, key: str, value: Any) -> Any:
    from ..run import options as runoptions

    checks = {"timeout": runoptions.check_timeout, "cpus": runoptions.check_cpus,
              "memory": runoptions.parse_memory}
    examples = {"timeout": "timeout: 600", "cpus": "cpus: 0.5", "memory": "memory: 512m"}
    try:
        checks[key](value)
    except ContainerizeError as exc:
        said = exc.message.lstrip("-")
        raise PipelineError(f"{file.name}: {where}: {said}",
                            hint=f"e.g. {examples[key]}, or leave it out") from None
    return value


def _step(file: Path, raw: dict[str, Any], defaults: dict[str, Any]) -> Step:
    from ..env.notebook import load_notebook, parameters_cell

    name = raw["name"]
    where = f"step {name!r}"
    notebook = (file.parent / raw["notebook"]).resolve()
    if not notebook.is_file():
        raise PipelineError(
            f"{file.name}: {where}: notebook {raw['notebook']} does not exist "
            f"(looked for {notebook})",
            hint="give the notebook's path relative to the pipeline file")
    try:
        source = load_notebook(notebook)
    except ContainerizeError as exc:
        raise PipelineError(f"{file.name}: {where}: {exc.message}", hint=exc.hint) from None
    parameters = dict(raw.get("parameters") or {})
    if parameters:
        declared = parameters_cell(source)
        unknown = [n for n in parameters if n not in declared]
        if unknown:
            names = ", ".join(declared) or "none: no cell is tagged parameters"
            raise PipelineError(
                f"{file.name}: {where}: parameter {unknown[0]} is not declared by "
                f"{notebook.name} (declared: {names})",
                hint="set only parameters of the notebook's cell tagged parameters, or add "
                     "it there")
        from ..run import options as runoptions

        try:
            runoptions.check_parameter_values(parameters)
        except ContainerizeError as exc:
            raise PipelineError(f"{file.name}: {where}: {exc.message}", hint=exc.hint) from None
    python = raw.get("python", defaults.get("python"))
    if python and ("/" in python or python.startswith((".", "~"))):
        python = str(file.parent / Path(python).expanduser())  # an absolute path stays as is
    gpus = raw.get("gpus")
    if gpus is not None:
        from ..engine.containers import device_requests

        try:
            device_requests(str(gpus))
        except ContainerizeError as exc:
            raise PipelineError(f"{file.name}: {where}: {exc.message.lstrip('-')}",
                                hint="e.g. gpus: all, gpus: 1 or gpus: device=0,1") from None
    for key in ("timeout", "cpus", "memory"):
        if raw.get(key) is not None:
            _run_option(file, where, key, raw[key])
    inputs = []
    for text in raw.get("inputs") or []:
        source_step, _, rel = text.partition("/")
        inputs.append((source_step, _relative(file, where, "input", rel)))
    outputs = [_relative(file, where, "output", o) for o in raw.get("outputs") or []]
    if len(set(outputs)) != len(outputs):
        raise PipelineError(f"{file.name}: {where}: 'outputs' lists a file twice",
                            hint="list each once")
    return Step(
        name=name, notebook=notebook, python=python, lock=raw.get("lock", defaults.get("lock")),
        parameters=parameters, needs=list(raw.get("needs") or []), inputs=inputs,
        outputs=outputs, timeout=raw.get("timeout"), retries=int(raw.get("retries") or 0),
        cpus=raw.get("cpus"), memory=None if raw.get("memory") is None else str(raw["memory"]),
        gpus=None if gpus is None else str(gpus),
    )


def _check_graph(file: Path, steps: dict[str, Step]) -> tuple[list[str], dict[str, set[str]]]:
    names = list(steps)
    for step in steps.values():
        for need in step.needs:
            if need == step.name:
                raise PipelineError(f"{file.name}: step {step.name!r} needs itself",
                                    hint=f"remove {need} from its needs")
            if need not in steps:
                close = difflib.get_close_matches(need, names, n=1)
                fix = (f"did you mean {close[0]}?" if close
                       else f"the steps are: {', '.join(names)}")
                raise PipelineError(
                    f"{file.name}: step {step.name!r} needs {need!r}, which is no step of the "
                    "pipeline", hint=fix)
    needs = {name: step.needs for name, step in steps.items()}
    loop = graph.cycle(needs)
    if loop:
        chain = " needs ".join(f"{n!r}" for n in loop)
        raise PipelineError(
            f"{file.name}: the steps' needs form a cycle: {chain}",
            hint=f"remove one of these needs (e.g. {loop[1]!r} from the needs of {loop[0]!r})")
    above = graph.upstream(needs)
    for step in steps.values():
        for source, rel in step.inputs:
            shown = f"{source}/{rel}"
            if source not in steps:
                raise PipelineError(
                    f"{file.name}: step {step.name!r} reads {shown}, but there is no step "
                    f"{source!r}", hint=f"name a file of an earlier step, STEP/PATH; the steps "
                                        f"are: {', '.join(names)}")
            if source == step.name:
                raise PipelineError(
                    f"{file.name}: step {step.name!r} reads {shown}, a file of its own",
                    hint="a step reads files of earlier steps only")
            if source not in above[step.name]:
                raise PipelineError(
                    f"{file.name}: step {step.name!r} reads {shown}, but {source!r} is not a "
                    "step it needs, so it may not have run yet",
                    hint=f"add {source} to the needs of {step.name}")
            if rel not in steps[source].outputs:
                declared = ", ".join(steps[source].outputs) or "none"
                raise PipelineError(
                    f"{file.name}: step {step.name!r} reads {shown}, a file no earlier step "
                    f"writes ({source!r} declares outputs: {declared})",
                    hint=f"add {rel} to the outputs of {source}, or read a file it declares")
    return graph.order(needs), above


def load(file: str | Path, source: str | Path | None = None) -> Pipeline:
    """The pipeline in ``file``, checked; raises :class:`PipelineError` at the first mistake.
    ``source``: read the text from there instead (a copy kept of ``file``), its relative
    paths still taken from ``file``'s folder."""
    path = Path(file).resolve() if Path(file).exists() else Path(file)
    data = read(source or path)
    check_schema(path, data)
    seen: set[str] = set()
    for raw in data["steps"]:
        if raw["name"] in seen:
            raise PipelineError(f"{path.name}: two steps are named {raw['name']!r}",
                                hint="give every step a name of its own")
        seen.add(raw["name"])
    defaults = {"python": data.get("python"), "lock": data.get("lock")}
    steps = {raw["name"]: _step(path, raw, defaults) for raw in data["steps"]}
    order, above = _check_graph(path, steps)
    return Pipeline(file=path, name=str(data.get("name") or path.stem), steps=steps,
                    order=order, upstream=above, concurrency=data.get("concurrency"))


def check_concurrency(value: Any) -> int:
    if (isinstance(value, bool) or not isinstance(value, int)
            or not 1 <= value <= MAX_CONCURRENCY):
        raise PipelineError(f"--concurrency {value!r} is not a number of steps at once",
                            hint=f"give a whole number from 1 to {MAX_CONCURRENCY}, e.g. 2")
    return value


def interpreters(pipeline: Pipeline) -> dict[str, str]:
    """Each step's interpreter: its ``python``, else its notebook's kernel's; each checked
    (it starts, it is Python 3.9 or newer), every failure one line naming the step."""
    from ..env.interpreter import check_python, kernel_interpreter

    found: dict[str, str] = {}
    probed: dict[str, str] = {}
    for name, step in pipeline.steps.items():
        try:
            exe = step.python or kernel_interpreter(step.notebook)
            if exe not in probed:
                probed[exe] = check_python(exe)
        except ContainerizeError as exc:
            raise PipelineError(f"{pipeline.file.name}: step {name!r}: {exc.message}",
                                hint=f"{exc.hint}; in the pipeline file that is the step's "
                                     "python: PATH") from None
        found[name] = probed[exe]
    return found
