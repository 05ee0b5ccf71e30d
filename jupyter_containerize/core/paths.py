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
