"""One run of a notebook as a Docker Swarm replicated job: the same run record as a local run.

A swarm task cannot be given files before it starts, so a group of runs (a pipeline's steps)
share a working volume mounted at ``/pipeline`` in every task. Each run has its own folder
there: ``in/`` holds the notebook, the files it reads and its parameters, put in through a
container that is never started; the task copies ``in/work`` over the image's project folder,
notes every file's digest, runs papermill from the tool environment, and copies the executed
notebook and every file it created or changed into ``out/`` (also when it is stopped: SIGTERM
reaches papermill first). The files then come back out of the volume the same way they went in,
and the run is concluded as a local one is. Timeouts and Ctrl-C stop the job's task (SIGTERM,
then SIGKILL after the grace period: removing a job leaves a running task running) and remove it.

With the engine's local volume driver and no options, every task is placed on the manager
(the images and the volume are there); with a shared filesystem's options the tasks may run on
any node, which then needs the images from a registry.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..engine import containerfiles, containers, services, volumes
from ..engine.containers import Container
from ..errors import RunError
from ..jobs.repair import MARKER
from ..jobs.store import JobStore
from ..models import RunRecord
from . import execute
from . import options as runoptions
from .execute import OOM_EXIT, TOOL_PYTHON, WORKDIR, RunState

MOUNT = "/pipeline"
GRACE = 10.0  # seconds a stopped task has to copy its files out
QUIET = 0.3  # seconds without a log line before a finished job's logs count as read

# run in the task by the tool environment's python: BOX WORKDIR COMMAND (papermill's, as JSON)
TASK = r"""
import hashlib, json, os, shutil, signal, subprocess, sys
from pathlib import Path

box, work, command = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3])
noise = set(NOISE)


def files(root):
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in noise]
        for name in names:
            path = Path(folder, name)
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(root).as_posix(), path


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


shutil.copytree(box / "in" / "work", work, dirs_exist_ok=True)
before = {name: digest(path) for name, path in files(work)}
out = box / "out"
child = subprocess.Popen(command)
signal.signal(signal.SIGTERM, lambda *_: child.terminate())
code = child.wait()
for name, path in files(work):
    if before.get(name) != digest(path):
        target = out / "artifacts" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
(out / "exit").write_text(str(code))
sys.exit(code)
""".replace("NOISE", repr(sorted(containerfiles.NOISE)))


@dataclass
class SwarmWork:
    """A group of runs' working volume, and the container (never started) through which
    files go in and out of it."""

    volume: str
    helper: Container
    driver: str
    options: dict[str, str]
    constraints: list[str]

    @classmethod
    def open(cls, name: str, image: str, labels_: dict[str, str],
             config: ContainerizeConfig | None = None) -> SwarmWork:
        cfg = resolve(config)
        driver, options = cfg.swarm_volume_driver or "local", dict(cfg.swarm_volume_options)
        volumes.create(name, labels_, driver, options)
        try:
            helper = containers.create_detached(
                image, ["true"], name=f"{name}-files", labels={labels.MANAGED: "true",
                                                               **labels_},
                mounts=[volumes.mount(name, MOUNT, driver, options)])
        except BaseException:
            volumes.remove(name)
            raise
        # the volume of a local driver with no options is on this node only: so are the tasks
        shared = driver != "local" or bool(options)
        constraints = [] if shared else [f"node.id=={services.node_id()}"]
        return cls(name, helper, driver, options, constraints)

    def mount(self) -> Any:
        return volumes.mount(self.volume, MOUNT, self.driver, self.options)

    def close(self) -> None:
        containers.remove(self.helper)
        volumes.remove(self.volume)


def run(notebook: str | Path, *, image: str, work: SwarmWork,
        parameters: dict[str, Any] | None = None, data: list[str] | None = None,
        timeout: float | None = None, cpus: float | None = None, memory: str | None = None,
        progress: Callable[[Any], None] | None = None, cancel: threading.Event | None = None,
        store: JobStore | None = None, extra_labels: dict[str, str] | None = None,
        config: ContainerizeConfig | None = None) -> RunRecord:
    """Execute ``notebook`` in ``image`` as a swarm job; returns the finished RunRecord."""
    cfg = resolve(config)
    checked = runoptions.check(timeout, cpus, memory, parameters)
    state = execute.prepare(Path(notebook), parameters or {}, None, None, None, data, progress,
                            store or JobStore(), extra_labels or dict(cfg.extra_labels))
    state.memory = execute.limit_text(memory)
    state.record.image = image
    try:
        _execute(state, work, checked.timeout, checked.cpus, checked.memory, cancel)
    except BaseException as exc:
        execute.fail_early(state, exc)
        raise
    return execute.finish(state)


def _stage(state: RunState, work: SwarmWork, box: str, rel: str) -> None:
    """The notebook, the files it reads and its parameters into ``box/in``."""
    put = containerfiles.put_tree
    put(work.helper, f"{box}/in/work/{rel}", state.notebook)
    for host, target in state.data:
        inside = PurePosixPath(target)
        if not inside.is_relative_to(WORKDIR):
            raise RunError(f"{host} would go to {target}, outside the notebook's folder",
                           hint=f"on a swarm, files go under {WORKDIR}")
        put(work.helper, f"{box}/in/work/{inside.relative_to(WORKDIR)}", host)
    if state.record.parameters:
        import yaml

        text = yaml.safe_dump(state.record.parameters, allow_unicode=True)
        containerfiles.put_bytes(work.helper, f"{box}/in/parameters.yaml", text.encode())
    containerfiles.put_bytes(work.helper, f"{box}/out/.keep", b"")
    cells = len(state.source.get("cells", []))
    state.total = cells + (1 if state.record.parameters else 0)


def _execute(state: RunState, work: SwarmWork, timeout: float | None, cpus: float | None,
             memory: int | None, cancel: threading.Event | None) -> None:
    image_labels = execute.inspect_image(state)
    rel = execute.notebook_in_image(image_labels, state.notebook)
    state.in_container = str(PurePosixPath(WORKDIR) / rel)
    box = f"{MOUNT}/{state.record.id}"
    _stage(state, work, box, rel)
    command = execute.papermill_command(
        state.in_container, f"{box}/out/executed.ipynb",
        f"{box}/in/parameters.yaml" if state.record.parameters else None)
    tags = {labels.MANAGED: "true", labels.RUN_ID: state.record.id, **state.extra_labels}
    job = services.create_job(
        _task_image(state.record.image, work), f"containerize-run-{state.record.id}",
        [TOOL_PYTHON, "-c", TASK, box, WORKDIR, json.dumps(command)], labels=tags,
        env={"JPY_SESSION_NAME": state.in_container}, mounts=[work.mount()],
        constraints=work.constraints, cpus=cpus, memory=memory, grace=GRACE)
    state.record.container = job.id
    state.store.update(state.record.id, status="running", container=job.id,
                       progress={"cell": 0, "total": state.total}, result=state.record.to_json())
    state.record.status = "running"
    logs = _JobLogs(job, state.log)
    outcome: int | str = "cancelled"
    try:
        outcome = _wait(job, timeout, cancel, logs.follow)
    finally:
        if not isinstance(outcome, int):
            services.stop_job(job, GRACE)
            _wait_for_exit(work, box)
        logs.finish()
        services.remove_job(job)
    if outcome == OOM_EXIT and state.memory:
        outcome = "out of memory"
    state.artifacts.mkdir(parents=True, exist_ok=True)
    (state.artifacts / MARKER).write_text(state.record.id + "\n")
    found = containerfiles.copy_changed(work.helper, f"{box}/out/artifacts", {},
                                        state.artifacts)
    executed = containerfiles.read_file(work.helper, f"{box}/out/executed.ipynb")
    execute.conclude(state, executed, outcome, found)


def _task_image(image: str, work: SwarmWork) -> str:
    """What the job names as its image: on this node, the image's ID (a task given a name
    first tries to pull it, which costs seconds where no registry answers); on any node, the
    registry's digest when the image has one, else its name."""
    from ..engine import client as engine

    found = engine.get_image(image)
    if found is None:
        return image
    if work.constraints:
        return str(found.id)
    digests = found.attrs.get("RepoDigests") or []
    return str(digests[0]) if digests else image


class _JobLogs:
    """The job's output, line by line, into the run's log: from its task's container when
    that is on this node (the stream ends with the task), else from the swarm's service logs
    (which go on after the task: those are read until they have been quiet a moment)."""

    def __init__(self, job: Any, on_line: Callable[[str], None]) -> None:
        self.job, self.on_line = job, on_line
        self.thread: threading.Thread | None = None
        self.from_service = False
        self.heard = time.monotonic()

    def _line(self, line: str) -> None:
        self.heard = time.monotonic()
        self.on_line(line)

    def follow(self, task: dict[str, Any]) -> None:
        """Start following once the task has a container."""
        if self.thread is not None or not task.get("container"):
            return
        container = containers.get(task["container"])
        if container is not None:
            self.thread = containers.follow_logs(container, self._line)
        else:
            self.thread = services.follow_job_logs(self.job, self._line)
            self.from_service = True

    def finish(self) -> None:
        if self.thread is None:
            return
        if self.from_service:
            while time.monotonic() - self.heard < QUIET:
                time.sleep(QUIET / 3)
            self.thread.join(timeout=QUIET)
        else:
            self.thread.join(timeout=5)


def _wait(job: Any, timeout: float | None, cancel: threading.Event | None,
          on_task: Callable[[dict[str, Any]], None]) -> int | str:
    """The task's exit code, or ``"timed out"`` / ``"cancelled"`` (the task then still runs);
    a task the swarm could not start raises. ``on_task`` sees the task at each look."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            return "cancelled"
        if deadline is not None and time.monotonic() >= deadline:
            return "timed out"
        try:
            task = services.job_task(job)
        except KeyboardInterrupt:
            return "cancelled"
        if task is not None:
            on_task(task)
        if task is not None and task["state"] in services.ENDED:
            if task["exit"] is not None and task["state"] in ("complete", "failed") and (
                    task["state"] == "complete" or task["exit"] != 0):
                return int(task["exit"])
            raise RunError(f"the swarm did not run the job: {task['error'] or task['message']}",
                           hint="see `docker service ps` for the node and the reason")
        try:
            time.sleep(0.25)
        except KeyboardInterrupt:
            return "cancelled"


def _wait_for_exit(work: SwarmWork, box: str) -> None:
    """Until a stopped task has written its files out (or could not have)."""
    deadline = time.monotonic() + GRACE + 5
    while time.monotonic() < deadline:
        if containerfiles.read_file(work.helper, f"{box}/out/exit") is not None:
            return
        time.sleep(0.25)
