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
    """``%load_ext jupyter_containerize``: the magic, with the ipywidgets panel when the kernel
    has ipywidgets (the two front ends meet only here)."""
    import importlib.util

    from .magic.magics import ContainerizeMagics, Widgets

    widgets = None
    if importlib.util.find_spec("ipywidgets") is not None:
        from .widget import ContainerizePanel, ProgressView

        widgets = Widgets(panel=ContainerizePanel, progress=ProgressView)
    ipython.register_magics(ContainerizeMagics(ipython, widgets=widgets))
