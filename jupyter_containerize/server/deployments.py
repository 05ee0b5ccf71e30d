"""Deployments seen from the browser: the list, and a proxy for a test request.

``GET deployments`` answers what runs now, as ``jupyter containerize deployments`` does
(``core.api.deployments``); where a ``serve`` job of this server started one, its entry also
names that job and the notebook's path (the serve jobs themselves: ``GET jobs?kind=serve``).
The browser cannot in general reach a container's port (remote engine, a hub, a firewall), so
``POST deployments/NAME/invoke`` forwards one request to the deployment and returns its answer.
"""

from __future__ import annotations

import json
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from ..core import api
from ..core.errors import ContainerizeError, NotFoundError, PayloadTooLargeError
from .handlers import ContainerizeHandler, off_loop

ROUTES = ("invocations", "ping", "v2/health/ready", "v2/models/{name}/infer")
INVOKE_TIMEOUT = 60.0


class DeploymentUnreachableError(ContainerizeError):
    http_status = 502


def deployments(handler: ContainerizeHandler) -> list[dict[str, Any]]:
    """The running deployments; each with the serve job of this server that started it (the
    newest succeeded one of that name) and its notebook's path, or None for both."""
    started: dict[str, dict[str, Any]] = {}
    for job in handler.store.list(kind="serve"):
        name = (job.result or {}).get("name")
        if job.status == "succeeded" and name and name not in started:
            started[name] = {"job": job.id, "path": handler.job_json(job)["path"]}
    running = api.deployments(config=handler.containerize_config)
    return [
        {**d.to_json(), **started.get(d.name, {"job": None, "path": None})} for d in running
    ]


class DeploymentsHandler(ContainerizeHandler):
    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish(json.dumps({"deployments": await off_loop(deployments, self)}))


class InvokeHandler(ContainerizeHandler):
    """POST a body to a deployment's route (``?route=invocations`` by default)."""

    @tornado.web.authenticated
    @authorized
    async def post(self, name: str) -> None:
        route = self.get_query_argument("route", "invocations")
        allowed = [r.format(name=name) for r in ROUTES]
        if route not in allowed:
            raise ContainerizeError(f"route {route!r} is not proxied", f"use one of {allowed}")
        found = [d for d in await off_loop(deployments, self) if d["name"] == name]
        if not found:
            raise NotFoundError(f"no deployment named {name!r}", "serve a model first")
        limit = self.containerize_config.request_max_bytes
        if len(self.request.body) > limit:
            raise PayloadTooLargeError(
                f"request body over {limit} bytes", "raise ContainerizeConfig.request_max_bytes"
            )
        method = "GET" if route in ("ping", "v2/health/ready") else "POST"
        await self._forward(found[0]["url"].rstrip("/") + "/" + route, method)

    async def _forward(self, url: str, method: str) -> None:
        try:
            response = await AsyncHTTPClient().fetch(
                url,
                method=method,
                body=self.request.body if method == "POST" else None,
                headers={"Content-Type": self._content_type()},
                request_timeout=INVOKE_TIMEOUT,
                raise_error=False,
                allow_nonstandard_methods=True,
            )
        except (OSError, HTTPClientError) as exc:
            raise DeploymentUnreachableError(
                f"the deployment at {url} did not answer: {exc}",
                "is it still running? see `jupyter containerize deployments`",
            ) from exc
        if response.code == 599:
            raise DeploymentUnreachableError(
                f"the deployment at {url} did not answer: {response.error}",
                "is it still running? see `jupyter containerize deployments`",
            )
        self.set_status(response.code)
        self.set_header("Content-Type", response.headers.get("Content-Type", "application/json"))
        self.finish(response.body)

    def _content_type(self) -> str:
        return self.request.headers.get("Content-Type", "application/json")
