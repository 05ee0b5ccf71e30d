"""papermill in the image: executed notebook, artifacts, reproduction report.

A run is a job of kind ``run`` in the one store. Its container is created from the image,
the notebook (and any ``--data``) copied in, the working folder snapshotted, papermill started
from the tool environment with the image's ``python3`` kernelspec, and everything the notebook
wrote under the working folder copied back out. ``--env`` values reach the container's
environment only: the record, the store and every log line keep their names.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..engine import containerfiles, containers
from ..env.notebook import load_notebook, parameters_cell
from ..errors import RunError
from ..jobs.repair import MARKER
from ..jobs.store import JobStore, now_iso, run_dir
from ..models import RunRecord
from ..progress import Event, Reporter
from ..share.signing import verify_image
from . import metrics, reproduce
from . import options as runoptions
from . import outcome as outcome_

TOOL_PYTHON = "/opt/containerize/tool/bin/python"
KERNEL_JSON = "/opt/containerize/tool/share/jupyter/kernels/python3/kernel.json"
WORKDIR = "/home/jovyan/work"
OUT_DIR = "/tmp/containerize-out"
_CELL_LINE = re.compile(r"Executing Cell (\d+)-")
_CELL_END = re.compile(r"Ending Cell (\d+)-")
OOM_EXIT = 137  # SIGKILL: what the engine's OOM killer leaves


@dataclass
class RunState:
    record: RunRecord
    store: JobStore
    source: dict[str, Any]
    notebook: Path
    in_container: str
    output: Path
    artifacts: Path
    env: dict[str, str]
    data: list[tuple[Path, str]]
    reporter: Reporter
    extra_labels: dict[str, str] = field(default_factory=dict)
    total: int = 0
    clock: float = field(default_factory=time.monotonic)
    logs: threading.Thread | None = None
    memory: str = ""  # the limit as the user gave it, for messages
    # what each cell streamed (papermill's 1-based cell number), as the log said it
    streamed: dict[int, list[str]] = field(default_factory=dict)
    current: int | None = None

    def mask(self, value: Any) -> Any:
        """``value`` (text, or lists and dicts of it) with every ``--env`` value as ``***``."""
        if isinstance(value, str):
            for secret in self.env.values():
                if len(secret) >= 3:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, list):
            return [self.mask(v) for v in value]
        if isinstance(value, dict):
            return {k: self.mask(v) for k, v in value.items()}
        return value

    def log(self, line: str) -> None:
        line = self.mask(line)
        self.store.append_log(self.record.id, line)
        match = _CELL_LINE.search(line)
        if _CELL_END.search(line):
            self.current = None
        elif match is None and self.current is not None:
            self.streamed.setdefault(self.current, []).append(line)
        if match:
            cell = int(match.group(1))
            self.current = cell
            self.store.update(self.record.id, progress={"cell": cell, "total": self.total})
            self.reporter.emit(Event("progress", line.strip("- "), phase="run", current=cell,
                                     total=self.total, data={"cell": cell, "total": self.total}))
        else:
            self.reporter.log(line)


def run(
    notebook: str | Path, *, parameters: dict[str, Any] | None = None, image: str | None = None,
    output: str | None = None, artifacts: str | None = None, timeout: float | None = None,
    cpus: float | None = None, memory: str | None = None, env: list[str] | None = None,
    gpus: str | None = None, report: str | None = None, data: list[str] | None = None,
    python: str | None = None, base: str | None = None, lock: str = "full",
    progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
    store: JobStore | None = None, extra_labels: dict[str, str] | None = None,
    spec: Any = None, config: ContainerizeConfig | None = None, built: str | None = None,
) -> RunRecord:
    """Execute ``notebook`` with papermill inside its image; returns the finished RunRecord.
    ``built``: the image this process has just built for it (a sweep builds once).

    The record's status is succeeded, failed, timed out or cancelled; errors that stop a run
    before it starts (bad notebook, output not writable, no kernel in the image) raise.
    """
    cfg = resolve(config)
    if report not in (None, "html"):
        raise RunError(f"--report {report!r} is not a report format", hint="use --report html")
    checked = runoptions.check(timeout, cpus, memory, parameters)
    timeout, cpus, limit = checked.timeout, checked.cpus, checked.memory
    containers.device_requests(gpus)  # a --gpus the engine would not understand stops here
    if image:
        verify_image(image, config=cfg)  # under require_signed: trusted signature or refused
    state = prepare(
        Path(notebook), parameters or {}, output, artifacts, env, data, progress,
        store or JobStore(), extra_labels or dict(cfg.extra_labels),
    )
    state.memory = limit_text(memory)
    try:
        state.record.image = (image or built
                              or _build(state, python, base, lock, progress, spec, cfg))
        _execute(state, timeout, cpus, str(limit) if limit else None, gpus, cancel)
    except BaseException as exc:
        fail_early(state, exc)
        raise
    if report == "html":
        from .report import write_html

        state.record.html = str(write_html(state.output, state.record))
    return finish(state)


def prepare(
    notebook: Path, parameters: dict[str, Any], output: str | None, artifacts: str | None,
    env: list[str] | None, data: list[str] | None, progress: Callable[[Any], None] | None,
    store: JobStore, extra_labels: dict[str, str],
) -> RunState:
    source = load_notebook(notebook)
    env_values = runoptions.parse_env(env)
    declared = parameters_cell(source)
    unknown = sorted(set(parameters) - set(declared))
    reporter = Reporter(progress)
    if unknown:
        names = ", ".join(declared) or "none: the notebook has no cell tagged parameters"
        reporter.log(f"warning: unknown parameters {', '.join(unknown)} (declared: {names})")
    job = store.create("run", notebook=str(notebook.resolve()), params={
        "parameters": parameters, "env": sorted(env_values),
    })
    out = Path(output) if output else run_dir(job.id) / f"{notebook.stem}.out.ipynb"
    state = RunState(
        record=RunRecord(
            id=job.id, notebook=str(notebook.resolve()), image="", parameters=parameters,
            env_names=sorted(env_values), started=now_iso(), output=str(out.resolve()),
        ),
        store=store, source=dict(source), notebook=notebook.resolve(), in_container="",
        output=out.resolve(),
        artifacts=Path(artifacts) if artifacts else run_dir(job.id) / "artifacts",
        env=env_values, data=[runoptions.parse_data(item, WORKDIR) for item in data or []],
        reporter=reporter,
        extra_labels=extra_labels,
    )
    try:
        runoptions.check_output(state.output)
        runoptions.check_artifacts(state.artifacts, explicit=artifacts is not None)
    except RunError as exc:
        fail_early(state, exc)
        raise
    state.record.artifacts_dir = str(state.artifacts.resolve())
    return state


def _build(state: RunState, python: str | None, base: str | None, lock: str,
           progress: Callable[[Any], None] | None, spec: Any, cfg: ContainerizeConfig) -> str:
    from ..image import build

    state.store.update(state.record.id, status="running", progress={"phase": "build"})
    result = build.build(state.notebook, python=python, base=base, lock=lock, progress=progress,
                         spec=spec, config=cfg)
    return result.reference


def limit_text(memory: Any) -> str:
    if memory is None or memory == "":
        return ""
    return str(memory).strip().replace(" ", "")


def _execute(state: RunState, timeout: float | None, cpus: float | None, memory: str | None,
             gpus: str | None, cancel: threading.Event | None) -> None:
    image_labels = inspect_image(state)
    rel = notebook_in_image(image_labels, state.notebook)
    state.in_container = str(PurePosixPath(WORKDIR) / rel)
    params_path = f"{OUT_DIR}/parameters.yaml"
    out_path = f"{OUT_DIR}/{state.notebook.stem}.out.ipynb"
    command = papermill_command(state.in_container, out_path,
                                params_path if state.record.parameters else None)
    container = containers.create(
        state.record.image, command, name=f"containerize-run-{state.record.id}",
        labels_={labels.RUN_ID: state.record.id, **state.extra_labels},
        environment={**state.env, "JPY_SESSION_NAME": state.in_container},
        working_dir=WORKDIR, cpus=cpus, memory=memory, gpus=gpus,
    )
    state.record.container = container.id
    before: dict[str, Any] | None = None
    try:
        _copy_in(state, container, params_path)
        before = containerfiles.snapshot(container, WORKDIR)
        _start(state, container)
        outcome = containers.wait(container, timeout, cancel)
        if not isinstance(outcome, int):
            containers.kill(container)
        containers.wait(container, 30, None)
        _collect(state, container, out_path, before, _oom(state, container, outcome))
    except KeyboardInterrupt:
        # Ctrl-C: stop the notebook, keep what it printed and wrote; a second Ctrl-C while
        # the files come back is ignored (they are small and the container must go)
        with _sigint_ignored():
            containers.kill(container)
            containers.wait(container, 30, None)
            state.record.status = "cancelled"
            _collect(state, container, out_path, before or {}, "cancelled",
                     artifacts=before is not None)
    finally:
        containers.remove(container)


def papermill_command(notebook: str, output: str, parameters_file: str | None) -> list[str]:
    """papermill from the image's tool environment, run on ``notebook`` (a path in the
    container) in its own folder with the image's ``python3`` kernel."""
    command = [TOOL_PYTHON, "-m", "papermill", notebook, output, "-k", "python3",
               "--log-output", "--no-progress-bar", "--cwd", str(PurePosixPath(notebook).parent)]
    return command + (["-f", parameters_file] if parameters_file else [])


class _sigint_ignored:  # noqa: N801 - used as a context manager
    """SIGINT ignored inside (only the main thread may change signal handlers)."""

    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, signal.SIG_IGN)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _oom(state: RunState, container: Any, outcome: int | str) -> int | str:
    """``"out of memory"`` when the engine's OOM killer ended the run, else ``outcome``.

    The engine says so in the container's ``State.OOMKilled``; with a memory limit and no
    such flag (some engines on cgroup v2), a SIGKILL exit (137) we did not send says it too.
    """
    if not isinstance(outcome, int) or outcome == 0:
        return outcome
    try:
        container.reload()
        killed = bool(container.attrs.get("State", {}).get("OOMKilled"))
    except Exception:  # an engine that cannot say keeps the exit code
        killed = False
    if killed or (outcome == OOM_EXIT and state.memory):
        return "out of memory"
    return outcome


def notebook_in_image(image_labels: dict[str, str], notebook: Path) -> str:
    """Where the run puts ``notebook`` in the image's project folder: under its own name,
    beside the notebook the image was built for (another notebook of the same project, such
    as a pipeline's next step, does not take that one's place)."""
    built = image_labels.get(labels.NOTEBOOK)
    return str(PurePosixPath(built).parent / notebook.name) if built else notebook.name


def inspect_image(state: RunState) -> dict[str, str]:
    from ..engine import client as engine

    image = engine.get_image(state.record.image)
    if image is None:
        raise RunError(f"image {state.record.image} is not in the engine",
                       hint="build or pull it first")
    digests = image.attrs.get("RepoDigests") or []
    state.record.image_digest = digests[0].split("@", 1)[1] if digests else image.id
    return dict(image.labels or {})


def _copy_in(state: RunState, container: Any, params_path: str) -> None:
    if containerfiles.read_file(container, KERNEL_JSON) is None:
        raise RunError(
            f"image {state.record.image} has no python3 kernel for papermill ({KERNEL_JSON})",
            hint="build the image with `jupyter containerize build` or pass one that was",
        )
    containerfiles.put_tree(container, state.in_container, state.notebook)
    for host, target in state.data:
        containerfiles.put_tree(container, target, host)
    if state.record.parameters:
        import yaml

        try:
            text = yaml.safe_dump(state.record.parameters, allow_unicode=True)
        except yaml.YAMLError as exc:
            raise RunError(f"parameters cannot be passed to the notebook: {exc}") from exc
        containerfiles.put_bytes(container, params_path, text.encode())
    else:
        containerfiles.put_bytes(container, f"{OUT_DIR}/.keep", b"")
    cells = len(state.source.get("cells", []))
    state.total = cells + (1 if state.record.parameters else 0)


def _start(state: RunState, container: Any) -> None:
    state.store.update(state.record.id, status="running", container=container.id,
                       progress={"cell": 0, "total": state.total}, result=state.record.to_json())
    containers.start(container)
    state.record.status = "running"
    state.logs = containers.follow_logs(container, state.log)


def _collect(state: RunState, container: Any, out_path: str, before: dict[str, Any],
             outcome: int | str, artifacts: bool = True) -> None:
    if state.logs is not None:
        state.logs.join(timeout=5)
    executed = containerfiles.read_file(container, out_path)
    found = None
    if artifacts:
        state.artifacts.mkdir(parents=True, exist_ok=True)
        (state.artifacts / MARKER).write_text(state.record.id + "\n")
        found = containerfiles.copy_changed(container, WORKDIR, before, state.artifacts)
    conclude(state, executed, outcome, found)


def conclude(state: RunState, executed: bytes | None, outcome: int | str,
             found: list[dict[str, Any]] | None) -> None:
    """The record of a run that ended with ``outcome``: the executed notebook written (with
    what failing cells streamed), the files the run wrote (``found``, already copied into the
    artifacts folder; None when they could not be), its status, error and reproduction."""
    if executed is not None and outcome != 0:
        executed = outcome_.with_streamed(executed, state.streamed)
    if executed is not None:
        state.output.write_bytes(executed)
    else:
        state.record.output = None
    if found is not None:
        state.record.artifacts = found
    executed_nb = json.loads(executed) if executed else None
    state.record.status = outcome_.status(outcome)
    if outcome == "out of memory":
        state.record.error = outcome_.out_of_memory(state.memory, executed_nb)
    elif state.record.status == "failed":
        state.record.error = outcome_.error(executed_nb, outcome)
    if executed_nb is not None and state.record.status == "succeeded":
        state.record.reproduction = reproduce.compare(
            state.source, executed_nb, _changed_parameters(state))
    elif executed_nb is not None:
        state.record.error = (state.record.error
                              or outcome_.stopped(state.record.status, executed_nb))
    # what the notebook printed or raised is quoted in these: an --env value it showed is not
    state.record.reproduction = state.mask(state.record.reproduction)
    state.record.error = state.mask(state.record.error)


def _changed_parameters(state: RunState) -> list[str]:
    declared = parameters_cell(state.source)
    return sorted(k for k, v in state.record.parameters.items()
                  if k not in declared or declared[k] != v)


def fail_early(state: RunState, exc: BaseException) -> None:
    status = "cancelled" if isinstance(exc, KeyboardInterrupt) else "failed"
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    state.record.status = status
    state.record.error = {"message": message, "hint": getattr(exc, "hint", "")}
    finish(state, write_files=False)


def finish(state: RunState, write_files: bool = True) -> RunRecord:
    record = state.record
    record.ended = now_iso()
    record.duration = round(time.monotonic() - state.clock, 3)
    if record.output:
        record.metrics = metrics.collect(record.output)
    if write_files and record.output:
        text = json.dumps(record.to_json(), indent=1, sort_keys=True) + "\n"
        record_path(state.output).write_text(text)
    state.store.update(record.id, status=record.status, result=record.to_json(),
                       error=record.error, container=record.container)
    return record


def record_path(output: str | Path) -> Path:
    """``<output stem>.run.json`` beside the executed notebook."""
    return Path(output).with_suffix(".run.json")
