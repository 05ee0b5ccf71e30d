"""The Jupyter Server extension app: config, the job store and runner, the routes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, Unicode, default

from ..core import api
from ..core.config import CONFIG_FILE_NAME, ContainerizeConfig
from ..core.errors import ContainerizeError, NotebookError, NotFoundError
from ..core.jobs.store import JobStore, data_dir
from ..core.models import Job
from . import deployments, handlers, options, schedules, sharing
from .jobs_runner import JobRunner

API = handlers.API
JOB_ID = r"(?P<job_id>[\w-]+)"
REATTACH_POLL = 2.0


class ContainerizeExtension(ExtensionApp):
    """``jupyter_containerize``: REST over core.api; ``c.ContainerizeConfig.*`` configures it,
    read from ``jupyter_containerize_config.{json,py}`` (the file every front end reads) and
    from the server's own configuration."""

    name = "jupyter_containerize"
    load_other_extensions = True

    job_store_path = Unicode(
        "", help="SQLite file of runs and jobs; empty uses the Jupyter data directory."
    ).tag(config=True)
    max_concurrent_jobs = Int(2, help="Jobs that run at once; more wait in a queue.").tag(
        config=True
    )
    capture_timeout = Float(
        60.0, help="Seconds a kernel may take to answer the environment capture."
    ).tag(config=True)

    run_schedules = Bool(
        True, help="Run the schedules' ticks in this server (off: a `schedule run` elsewhere "
        "runs them)."
    ).tag(config=True)

    @default("config_file_name")
    def _config_file_name(self) -> str:
        return CONFIG_FILE_NAME

    def initialize_settings(self) -> None:
        self.containerize_config = ContainerizeConfig(config=self.config)
        store = JobStore(self.job_store_path or None, notify=self.log.warning)
        self.runner = JobRunner(
            store,
            lambda p: self.resolve(p, outside_ok=True),
            self.max_concurrent_jobs,
            self.log,
            config=self.containerize_config,
        )
        for job in store.recover(_safe_running):
            self._reattach(job)
        # schedules' ticks: one scheduler per store (another process may hold it: we wait)
        self.scheduler = api.scheduler(store, log=self.log.info, config=self.containerize_config)
        if self.run_schedules:
            self.scheduler.start()

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes())

    async def stop_extension(self) -> None:
        self.scheduler.stop(cancel_runs=True, timeout=30)
        self.runner.shutdown()

    @property
    def root_dir(self) -> Path:
        contents = getattr(self.serverapp, "contents_manager", None)
        root = getattr(contents, "root_dir", None) or getattr(self.serverapp, "root_dir", ".")
        return Path(str(root)).resolve()

    def resolve(self, path: str, outside_ok: bool = False) -> Path:
        """A server path (as Lab names files) as a real path inside the root directory.

        With ``outside_ok``, absolute paths under our data directory (run artifacts) pass too.
        """
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = self.root_dir / path.lstrip("/")
        candidate = candidate.resolve()
        bases = [self.root_dir] + ([data_dir().resolve()] if outside_ok else [])
        if not any(candidate.is_relative_to(base) for base in bases):
            raise ContainerizeError(
                f"{path!r} is outside the server's root directory",
                "give a path relative to the file browser's root",
            )
        return candidate

    def notebook_path(self, path: str, pipelines: bool = False) -> Path:
        """The notebook at ``path`` (with ``pipelines``, a pipeline file is taken too)."""
        notebook = self.resolve(path)
        if pipelines and notebook.suffix.lower() in (".yaml", ".yml"):
            if not notebook.is_file():
                raise NotFoundError(f"no pipeline file {path!r}", "save the file first")
            return notebook
        if notebook.suffix != ".ipynb":
            what = "a notebook or a pipeline file" if pipelines else "a notebook"
            raise NotebookError(f"{path!r} is not {what}", "give the path of an .ipynb file"
                                + (" or of a pipeline's .yaml file" if pipelines else ""))
        if not notebook.is_file():
            raise NotFoundError(f"no notebook {path!r}", "save the notebook first")
        return notebook

    def relative_path(self, notebook: str | None) -> str | None:
        """The Lab path of a stored (absolute) notebook path, when it is under the root."""
        if not notebook:
            return None
        try:
            return Path(notebook).resolve().relative_to(self.root_dir).as_posix()
        except ValueError:
            return None

    def _reattach(self, job: Job) -> None:
        """Follow a job whose container outlived a server restart until it ends."""
        thread = threading.Thread(
            target=_watch,
            args=(self.runner.store, job),
            daemon=True,
            name=f"containerize-reattach-{job.id}",
        )
        thread.start()


def routes() -> list[tuple[str, Any]]:
    """Every route of the extension (the auth test walks this list)."""
    return [
        (rf"{API}/info", handlers.InfoHandler),
        (rf"{API}/options", options.OptionsHandler),
        (rf"{API}/env", handlers.EnvHandler),
        (rf"{API}/drift", handlers.DriftHandler),
        (rf"{API}/jobs", handlers.JobsHandler),
        (rf"{API}/jobs/{JOB_ID}", handlers.JobHandler),
        (rf"{API}/jobs/{JOB_ID}/events", handlers.EventsHandler),
        (rf"{API}/runs", handlers.RunsHandler),
        (rf"{API}/deployments", deployments.DeploymentsHandler),
        (rf"{API}/deployments/(?P<name>[\w.-]+)/invoke", deployments.InvokeHandler),
        (rf"{API}/images", sharing.ImagesHandler),
        (rf"{API}/kernels", sharing.KernelsHandler),
        (rf"{API}/schedules", schedules.SchedulesHandler),
        (rf"{API}/schedules/(?P<schedule_id>[0-9a-f]+)", schedules.ScheduleHandler),
    ]


def _safe_running(container: str) -> bool:
    """Whether a container still runs (False when the engine cannot say)."""
    try:
        return api.container_running(container)
    except Exception:  # a watcher thread must end the job whatever the engine does
        return False


def _watch(store: JobStore, job: Job) -> None:
    store.append_log(job.id, "server restarted: following the container that still runs")
    while _safe_running(job.container or ""):
        time.sleep(REATTACH_POLL)
    store.update(
        job.id,
        status="failed",
        error={
            "message": "the container ended while the server was restarting",
            "hint": "its outputs are in the container's run folder; run again to collect them",
        },
    )
