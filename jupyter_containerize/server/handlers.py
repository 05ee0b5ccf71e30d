"""REST routes under ``/containerize/api/``: every one authenticated, authorized, and JSON.

Errors are translated once (STYLE convention 4): a ContainerizeError becomes its
``http_status`` with ``{message, hint, kind}``; tornado's own errors get the same shape.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import tornado.web
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.errors import ContainerizeError
from ..core.jobs.store import JobStore
from ..core.models import Job
from .jobs_runner import FINAL, JobRunner
from .kernel_capture import capture_in_kernel
from .verbs import BadRequest, check_allowed, check_options, needs_notebook

AUTH_RESOURCE = "containerize"
API = "/containerize/api"
EVENT_POLL = 0.25  # seconds between looks at the store while streaming events
HEARTBEAT = 15.0
T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread: the job store may wait on SQLite's lock (or repair
    itself); the event loop never does."""
    return await IOLoop.current().run_in_executor(None, functools.partial(fn, *args))


class ContainerizeHandler(ExtensionHandlerMixin, APIHandler):
    """Shared plumbing: the runner, the config, JSON bodies and the error shape."""

    auth_resource = AUTH_RESOURCE

    @property
    def runner(self) -> JobRunner:
        return self.extensionapp.runner  # type: ignore[attr-defined, no-any-return]

    @property
    def store(self) -> JobStore:
        return self.runner.store

    @property
    def containerize_config(self) -> ContainerizeConfig:
        return self.extensionapp.containerize_config  # type: ignore[attr-defined, no-any-return]

    def json_body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise BadRequest("the request body is not JSON", "send a JSON object") from exc
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object", 'e.g. {"kind": "build"}')
        return body

    def job_json(self, job: Job) -> dict[str, Any]:
        data = job.to_json()
        data["path"] = self.extensionapp.relative_path(job.notebook)  # type: ignore[attr-defined]
        return data

    async def listed(self, kind: str | None) -> list[dict[str, Any]]:
        notebook = self.get_query_argument("notebook", None)
        wanted = str(self.extensionapp.resolve(notebook)) if notebook else None  # type: ignore[attr-defined]
        jobs = await off_loop(self.store.list, kind)
        return [self.job_json(j) for j in jobs if wanted is None or j.notebook == wanted]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ContainerizeError):
            self.set_status(exc.http_status)
            payload = exc.to_json()
        elif isinstance(exc, tornado.web.HTTPError):
            payload = {"message": exc.log_message or self._reason, "hint": _hint(status_code)}
        else:
            payload = {"message": self._reason, "hint": "see the Jupyter server log"}
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, ContainerizeError):
            self.log.info("containerize: %s", value.one_line())
            return
        super().log_exception(typ, value, tb)


def _hint(status: int) -> str:
    return {
        403: "log in to Jupyter, or send the server's token",
        404: "check the URL; is the jupyter_containerize server extension enabled?",
    }.get(status, "")


class InfoHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        from .._version import __version__

        cfg = self.containerize_config
        self.finish(
            {
                "version": __version__,
                "allow_build": cfg.allow_build,
                "allow_push": cfg.allow_push,
                "allow_serve": cfg.allow_serve,
                "registry": cfg.registry,
            }
        )


class EnvHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        kernel_id = self.get_query_argument("kernel_id", "")
        if not kernel_id:
            raise BadRequest("env needs ?kernel_id=", "pass the id of the notebook's kernel")
        spec = await capture_in_kernel(
            self.serverapp.kernel_manager,
            kernel_id,
            timeout=self.extensionapp.capture_timeout,  # type: ignore[attr-defined]
        )
        spec.imported = sorted(api.user_imports(spec))  # not the kernel's own machinery
        self.finish(json.dumps(spec.to_json()))


class DriftHandler(ContainerizeHandler):
    """Has the kernel's environment changed since the notebook's lock was written?"""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        kernel_id = self.get_query_argument("kernel_id", "")
        path = self.get_query_argument("notebook", "")
        if not kernel_id or not path:
            raise BadRequest(
                "drift needs ?kernel_id= and ?notebook=",
                "pass the id of the notebook's kernel and the notebook's path in the server",
            )
        notebook = self.extensionapp.notebook_path(path)  # type: ignore[attr-defined]
        spec = await capture_in_kernel(
            self.serverapp.kernel_manager,
            kernel_id,
            timeout=self.extensionapp.capture_timeout,  # type: ignore[attr-defined]
        )
        found = await asyncio.to_thread(api.drift, notebook, spec, config=self.containerize_config)
        self.finish(json.dumps(found))


class JobsHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        kind = self.get_query_argument("kind", None)
        self.finish(json.dumps({"jobs": await self.listed(kind)}))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body()
        unknown = set(body) - {"kind", "notebook", "options"}
        if unknown:
            raise BadRequest(
                f"unknown field(s): {', '.join(sorted(unknown))}", "send {kind, notebook, options}"
            )
        asked = body.get("kind")
        kind = str(asked)  # a known kind once check_options has not said 400
        check_allowed(kind, self.containerize_config)
        options = check_options(asked, body.get("options"))
        check_allowed(kind, self.containerize_config, options)  # build --push needs allow_push
        notebook = self._notebook(kind, body.get("notebook"))
        if kind == "serve":
            self.extensionapp.resolve(options["model"], outside_ok=True)  # type: ignore[attr-defined]
        spec = None
        if options.get("kernel_id"):
            spec = await capture_in_kernel(
                self.serverapp.kernel_manager,
                options["kernel_id"],
                timeout=self.extensionapp.capture_timeout,  # type: ignore[attr-defined]
            )
        job = await off_loop(self.runner.submit, kind, notebook, options, spec)
        self.set_status(202)
        self.set_header("Location", f"{self.base_url.rstrip('/')}{API}/jobs/{job.id}")
        self.finish(json.dumps(self.job_json(job)))

    def _notebook(self, kind: str, path: Any) -> Path | None:
        """The job's notebook; push and pull may name one (their history) or none."""
        if path is None and not needs_notebook(kind):
            return None
        if not isinstance(path, str) or not path:
            raise BadRequest("'notebook' is missing", "give the notebook's path in the server")
        return self.extensionapp.notebook_path(path)  # type: ignore[attr-defined, no-any-return]


class JobHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.finish(json.dumps(self.job_json(await off_loop(self.store.get, job_id))))

    @tornado.web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        self.finish(json.dumps(self.job_json(await off_loop(self.runner.cancel, job_id))))


class EventsHandler(ContainerizeHandler):
    """Server-sent events: ``log`` lines, ``job`` state and progress, then ``end``."""

    @tornado.web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        await off_loop(self.store.get, job_id)  # 404 before the stream starts
        since = _int(
            self.get_query_argument("since", None) or self.request.headers.get("Last-Event-ID")
        )
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            await self._stream(job_id, since)
        except StreamClosedError:
            return
        self.finish()

    async def _stream(self, job_id: str, since: int) -> None:
        last_state, quiet = "", 0.0
        while True:
            for seq, line in await off_loop(self.store.logs, job_id, since):
                since = seq
                self._event("log", {"seq": seq, "line": line}, event_id=str(seq))
            job = await off_loop(self.store.get, job_id)
            state = json.dumps([job.status, job.progress, job.updated])
            if state != last_state:
                last_state = state
                self._event("job", self.job_json(job))
            if job.status in FINAL:
                # the lines written between the read above and the job's end come first
                for seq, line in await off_loop(self.store.logs, job_id, since):
                    since = seq
                    self._event("log", {"seq": seq, "line": line}, event_id=str(seq))
                self._event("end", {"status": job.status})
                await self.flush()
                return
            if quiet >= HEARTBEAT:
                self.write(": keep-alive\n\n")
                quiet = 0.0
            await self.flush()
            await asyncio.sleep(EVENT_POLL)
            quiet += EVENT_POLL

    def _event(self, name: str, data: Any, event_id: str | None = None) -> None:
        head = f"id: {event_id}\n" if event_id else ""
        self.write(f"{head}event: {name}\ndata: {json.dumps(data)}\n\n")


def _int(value: str | None) -> int:
    try:
        return max(int(value or 0), 0)
    except ValueError as exc:
        raise BadRequest("'since' must be a log sequence number", "e.g. ?since=0") from exc


class RunsHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"runs": await self.listed("run")}))
