"""jupyter-containerize: freeze a notebook's kernel into a container image, run, serve, share."""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.extension import ContainerizeExtension

    return [{"module": "jupyter_containerize", "app": ContainerizeExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "jupyter-containerize"}]


def load_ipython_extension(ipython: Any) -> None:
    from .magic.magics import ContainerizeMagics

    ipython.register_magics(ContainerizeMagics)
