"""What the magic reads from its kernel: the saved notebook of the session, and whether a name
given to ``serve`` is a live object or a file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..core.errors import ContainerizeError

NO_NOTEBOOK = (
    "this kernel does not know which notebook it belongs to (no __session__ or "
    "__vsc_ipynb_file__): pass the notebook path, e.g. %containerize build analysis.ipynb"
)


def session_notebook(namespace: dict[str, Any], cwd: str | Path | None = None) -> Path | None:
    """The saved notebook of this kernel's session, or None when the kernel cannot tell."""
    here = Path(cwd or os.getcwd())
    for key in ("__vsc_ipynb_file__", "__session__"):
        value = namespace.get(key)
        if not isinstance(value, str) or not value.endswith(".ipynb"):
            continue
        path = Path(value).expanduser()
        for candidate in (path, here / path, here / path.name):
            if candidate.is_absolute() and candidate.is_file():
                return candidate
    return None


def serve_target(name: str, namespace: dict[str, Any], choose: str = "") -> tuple[str, Any, str]:
    """``(kind, target, note)`` for ``serve NAME``: a bound identifier is the live object.

    ``choose`` is ``"object"`` or ``"file"`` (``--object`` / ``--file``); the note says which
    one was taken when NAME is both a variable and a file.
    """
    bound = name.isidentifier() and name in namespace
    exists = Path(name).expanduser().exists()
    if choose == "object":
        if not bound:
            raise ContainerizeError(f"{name} is not a variable of this kernel",
                                    hint="define it first, or pass --file to serve a file")
        return "object", namespace[name], ""
    if choose == "file" or not bound:
        return "file", Path(name).expanduser(), ""
    note = ""
    if exists:
        note = (f"{name} is both a variable of this kernel and a file: serving the variable "
                f"(pass --file to serve the file)")
    return "object", namespace[name], note
