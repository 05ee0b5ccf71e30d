"""The ASGI application: routing, auth, limits, metrics; no web framework."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable, Optional

import numpy as np

from . import handlers
from .batching import MicroBatcher
from .errors import ClientError
from .http import Receive, Scope, Send, respond, respond_error, respond_json
from .inputs import Inputs
from .logs import ErrorsOnce, one_line
from .metrics import CONTENT_TYPE, Metrics
from .model import ServedModel
from .registry import Registry
from .security import HostCheck, bearer_matches, check_admin
from .settings import Settings

log = logging.getLogger("jupyter_containerize.serving")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("jupyter-containerize")
    except Exception:
        return "unknown"


_FIXED = {
    "/ping",
    "/invocations",
    "/metrics",
    "/v2",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/repository/index",
}


def route_of(method: str, path: str) -> tuple[str, Optional[str], str]:
    """(route template, model name or None, action) for a request path."""
    if path in _FIXED:
        return path, None, path
    parts = path.strip("/").split("/")
    if len(parts) >= 3 and parts[:2] == ["v2", "models"]:
        name, rest = parts[2], parts[3:]
        if len(rest) >= 2 and rest[0] == "versions":
            rest = rest[2:]
        action = rest[0] if rest else "metadata"
        if len(rest) <= 1 and action in ("metadata", "ready", "infer"):
            suffix = "" if action == "metadata" else f"/{action}"
            return f"/v2/models/{{name}}{suffix}", name, action
    if len(parts) == 3 and parts[0] == "endpoints" and parts[2] == "invocations":
        # the SageMaker runtime API's path: boto3's invoke_endpoint with endpoint_url set to
        # this server reaches the model named like the endpoint
        return "/endpoints/{name}/invocations", parts[1], "/invocations"
    if (
        len(parts) == 5
        and parts[:3] == ["v2", "repository", "models"]
        and parts[4] in ("load", "unload")
    ):
        return f"/v2/repository/models/{{name}}/{parts[4]}", parts[3], parts[4]
    return "other", None, "unknown"


_OPEN = {"/ping", "/v2/health/live", "/v2/health/ready", "/v2", "ready"}
# answered whatever the Host header: they tell nothing but whether the server is up
_HEALTH = {"/ping", "/v2/health/live", "/v2/health/ready", "ready"}
_POST = {"/invocations", "infer", "load", "unload", "/v2/repository/index"}
# what changes, or tells, which models are served: the admin token's alone
_ADMIN = {"load", "unload", "/v2/repository/index"}
# what a predict raises when the input, not the server, is wrong
CLIENT_MISTAKES = (ValueError, TypeError, KeyError, IndexError, OverflowError)


class ServingApp:
    """ASGI app serving one default model (and any loaded beside it)."""

    def __init__(self, settings: Settings, on_fatal: Optional[Callable[[str], None]] = None):
        self.settings = settings
        self.on_fatal = on_fatal
        self.metrics = Metrics()
        self.registry: Optional[Registry] = None  # made inside the event loop
        self.batcher: Optional[MicroBatcher] = None
        self.version = _version()
        self._token = settings.token.encode() if settings.token else None
        self._admin = settings.admin_token.encode() if settings.admin_token else None
        self.hosts = HostCheck(settings.allowed_hosts)
        self.errors = ErrorsOnce()
        self._tasks: set[asyncio.Task[Any]] = set()

    async def startup(self) -> None:
        self.registry = Registry(
            self.metrics, self.settings.model_name, self.settings.skops_trusted
        )
        self.batcher = MicroBatcher(
            self.settings.max_batch_size,
            self.settings.max_batch_wait_ms,
            self.metrics.observe_batch,
        )
        task = asyncio.get_running_loop().create_task(self._load_default())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if self.settings.reuse_port:
            # the port is shared with a server that answers: take requests only once ready
            await task

    async def _load_default(self) -> None:
        assert self.registry is not None
        ok = await self.registry.load_at_startup(self.settings.model_path, self.settings.model_name)
        if not ok and self.on_fatal is not None:
            self.on_fatal(self.registry.failure or "model failed to load")

    @property
    def models(self) -> Registry:
        """The model registry; the routes run only after start-up made it."""
        assert self.registry is not None, "the app has not started"
        return self.registry

    async def shutdown(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        if self.registry is not None:
            self.registry.close()

    async def predict(self, model: ServedModel, method: str, inputs: Inputs) -> np.ndarray:
        assert self.batcher is not None and self.registry is not None
        self.registry.remember_row(model.name, inputs.data)
        try:
            return await self.batcher.predict(model, method, inputs)
        except ClientError:
            raise
        except CLIENT_MISTAKES as exc:
            text = one_line(str(exc), 300)
            raise ClientError(400, f"the model cannot predict on this input: {text}") from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        route, name, action = route_of(scope["method"], scope["path"])
        status = 500
        try:
            status = await self._dispatch(scope, receive, send, name, action)
        except ClientError as exc:
            status = exc.status
            await respond_error(send, exc.status, exc.message)
        except Exception as exc:
            self.errors.report(scope["method"], route, exc)
            await respond_error(send, 500, "internal error while serving this request")
        finally:
            self.metrics.observe_request(
                scope["method"], route, status, time.perf_counter() - started
            )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.startup()
                failure = self._startup_failure()
                if failure:
                    await send({"type": "lifespan.startup.failed", "message": failure})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _startup_failure(self) -> Optional[str]:
        """Why a server sharing its port must not start listening (None: it may)."""
        if not self.settings.reuse_port or self.registry is None or self.registry.ready:
            return None
        return self.registry.failure or "the model failed to load"

    def _check_auth(self, scope: Scope) -> None:
        if self._token is None or bearer_matches(scope, self._token, self._admin):
            return
        raise ClientError(401, "this route needs the header Authorization: Bearer <token>")

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, name: Optional[str], action: str
    ) -> int:
        if action not in _HEALTH:
            self.hosts.check(scope)
        if action == "unknown":
            raise ClientError(404, f"no route {scope['path'][:200]}; see /v2 and /invocations")
        expected = "POST" if action in _POST else "GET"
        if scope["method"] != expected and not (expected == "GET" and scope["method"] == "HEAD"):
            raise ClientError(405, f"{scope['path']} takes {expected}")
        if action in _ADMIN:
            check_admin(scope, self._admin)
        elif action not in _OPEN:
            self._check_auth(scope)
        return await self._handle(scope, receive, send, name, action)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, name: Optional[str], action: str
    ) -> int:
        assert self.registry is not None
        registry = self.registry
        if action == "/invocations":
            await handlers.invocations(self, scope, receive, send, name)
        elif action == "infer":
            await handlers.infer(self, scope, receive, send, str(name))
        elif action == "load":
            await handlers.repository_load(self, scope, receive, send, str(name))
        elif action == "unload":
            await handlers.read_optional_json(self, scope, receive)
            raise ClientError(400, "unloading is not supported: load another model in its place")
        elif action in ("/ping", "/v2/health/ready", "ready"):
            if not registry.ready:
                raise ClientError(503, registry.failure or "the model is not loaded yet")
            if name is not None:
                registry.get(name)
            await respond_json(send, 200, {"ready": True})
        elif action == "/v2/health/live":
            await respond_json(send, 200, {"live": True})
        elif action == "/v2":
            await respond_json(send, 200, handlers.server_metadata(self.version))
        elif action == "metadata":
            await respond_json(send, 200, handlers.model_metadata(registry.get(str(name))))
        elif action == "/v2/repository/index":
            await handlers.read_optional_json(self, scope, receive)
            await respond_json(send, 200, handlers.repository_index(self))
        elif action == "/metrics":
            await respond(send, 200, self.metrics.render(), CONTENT_TYPE)
        return 200
