"""Drift: has the kernel's environment changed since the notebook was last frozen?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..models import EnvironmentSpec
from ..options import DEFAULT_PLATFORM
from .freezing import next_lock
from .lock import diff_locks, lock_path, read_lock


def drift(notebook: str | Path, spec: EnvironmentSpec) -> dict[str, Any]:
    """Compare the lock beside ``notebook`` with the lock ``spec`` would give now.

    The new lock keeps the existing lock's mode and platform and is never written.
    Returns ``{"frozen": False}`` without a lock, else ``frozen``, ``drifted``,
    ``changes`` (diff_locks lines), ``lock`` (the lock file's name) and ``mode`` (the lock's
    mode, which a rebuild keeps).
    """
    nb_path = Path(notebook).resolve()
    path = lock_path(nb_path)
    if not path.exists():
        return {"frozen": False}
    old = read_lock(path)
    mode = old.get("mode") or "full"
    platform = old.get("platform") or DEFAULT_PLATFORM
    # what drifted is versions and sources: the files' hashes are not looked up
    new = next_lock(nb_path, spec, mode=mode, platform=platform, old=old, hashes=False)
    changes = diff_locks(old, new)
    return {
        "frozen": True,
        "drifted": bool(changes),
        "changes": changes,
        "lock": path.name,
        "mode": mode,
    }
