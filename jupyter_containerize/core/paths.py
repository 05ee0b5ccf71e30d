"""Where we keep things on the host: caches and the data directory."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("JUPYTER_CONTAINERIZE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jupyter-containerize"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    root = os.environ.get("JUPYTER_CONTAINERIZE_DATA_DIR")
    if not root:
        from jupyter_core.paths import jupyter_data_dir

        root = os.path.join(jupyter_data_dir(), "containerize")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename, so a
    reader (another process) never sees half a file."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
