"""The lock exported to a file beside it (``freeze --export FORMAT``)."""

from __future__ import annotations

from pathlib import Path

from ..env.lockfile import read_lock
from .export import export_filename, export_lock

_SUFFIX = ".lock.json"


def exported_path(lock_file: str | Path, fmt: str) -> Path:
    """Where the ``fmt`` export of ``lock_file`` (``<stem>.lock.json``) goes: beside it, under
    the format's conventional name; an unknown ``fmt`` is refused in one line."""
    lock_file = Path(lock_file)
    name = lock_file.name
    stem = name[: -len(_SUFFIX)] if name.endswith(_SUFFIX) else lock_file.stem
    return lock_file.with_name(export_filename(fmt, stem))


def export_beside(lock_file: str | Path, fmt: str) -> Path:
    """Write the lock as ``fmt`` beside it (atomically); returns the file's path."""
    path = exported_path(lock_file, fmt)
    data = export_lock(read_lock(lock_file), fmt)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
