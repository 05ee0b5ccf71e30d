"""The team's images and the kernels that run in them: ``images`` and ``kernels`` routes.

``GET images`` lists what the registry holds (``core.api.images``, read without pulling),
filtered by ``?q=``; ``GET kernels`` and ``POST kernels`` list and install kernelspecs whose
kernel runs inside an image. Pushes and pulls are jobs (``POST jobs``), since they take time.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import tornado.web
from jupyter_server.auth.decorator import authorized

from ..core import api
from ..core.config import ContainerizeConfig
from ..core.errors import ContainerizeError, RegistryError
from .handlers import ContainerizeHandler
from .verbs import BadRequest

SEARCHED = ("reference", "author", "notebook", "python", "tag")
KERNEL_FIELDS = ("ref", "name")
KERNEL_NAME = re.compile(r"[A-Za-z0-9._-]+")


def matches(row: dict[str, Any], query: str) -> bool:
    """Whether every word of ``query`` occurs in the row's reference, author, notebook or
    packages (case-insensitive)."""
    text = " ".join(
        [str(row.get(k) or "") for k in SEARCHED] + [str(p) for p in row.get("packages") or []]
    ).lower()
    return all(word in text for word in query.lower().split())


def _list_images(registry: str | None, config: ContainerizeConfig) -> list[dict[str, Any]]:
    """``api.images`` with the server's configuration."""
    try:
        return api.images(registry=registry, config=config)
    except RegistryError:
        raise
    except ContainerizeError as exc:  # what the registry said, whatever the kind: 502
        if exc.http_status == 503:  # the engine (no registry configured) is another matter
            raise
        raise RegistryError(exc.message, exc.hint) from exc


class ImagesHandler(ContainerizeHandler):
    """``GET images[?registry=HOST[:PORT][/NS]][&q=words]``: the team catalog."""

    @tornado.web.authenticated
    @authorized
    async def get(self) -> None:
        cfg = self.containerize_config
        registry = self.get_query_argument("registry", "").strip() or cfg.registry or None
        query = self.get_query_argument("q", "").strip()
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(None, _list_images, registry, cfg)
        shown = [r for r in rows if matches(r, query)] if query else rows
        self.finish(
            json.dumps(
                {"registry": registry or "", "query": query, "total": len(rows), "images": shown}
            )
        )


def _kernel_body(body: dict[str, Any]) -> dict[str, str]:
    """``{ref, name?}`` checked: a 400 names what is wrong."""
    unknown = set(body) - set(KERNEL_FIELDS)
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}", "send {ref, name?}")
    for field, value in body.items():
        if not isinstance(value, str):
            raise BadRequest(f"'{field}' must be a string", 'e.g. {"ref": "HOST/team/nb:tag"}')
    if not body.get("ref", "").strip():
        raise BadRequest("'ref' is missing", "give the image reference the kernel runs in")
    name = body.get("name", "")
    if name and not KERNEL_NAME.fullmatch(name):
        raise BadRequest(f"{name!r} is not a kernel name", "use letters, digits, . _ and -")
    return {k: v.strip() for k, v in body.items() if v.strip()}


def _install(ref: str, name: str | None, config: ContainerizeConfig) -> dict[str, Any]:
    """Install the kernelspec (pulling the image when the engine lacks it)."""
    folder = api.kernel_install(ref, name=name, config=config)
    kernel = Path(folder).name
    listed = {k["name"]: k for k in api.kernel_list(config=config)}
    return {"name": kernel, "resource_dir": folder, **listed.get(kernel, {})}


class KernelsHandler(ContainerizeHandler):
    """``GET kernels``: our kernelspecs; ``POST kernels {ref, name?}``: install one."""

    @tornado.web.authenticated
    @authorized
    def get(self) -> None:
        self.finish(json.dumps({"kernels": api.kernel_list(config=self.containerize_config)}))

    @tornado.web.authenticated
    @authorized
    async def post(self) -> None:
        body = _kernel_body(self.json_body())
        loop = asyncio.get_running_loop()
        kernel = await loop.run_in_executor(
            None, _install, body["ref"], body.get("name"), self.containerize_config
        )
        self.set_status(201)
        self.finish(json.dumps(kernel))
