"""The lock file beside the notebook: its name, its canonical bytes, reading and writing it,
and what a person reads of it (the changes between two locks, a requirements.txt view)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import ContainerizeError, NotFoundError
from ..models import normalize

LOCK_VERSION = 1


def lock_path(notebook: str | Path) -> Path:
    """``<notebook stem>.lock.json`` beside the notebook."""
    notebook = Path(notebook)
    return notebook.with_name(notebook.stem + ".lock.json")


def lock_bytes(lock: dict[str, Any]) -> bytes:
    """The lock's canonical bytes: sorted keys, two-space indent, one final newline."""
    return (json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def lock_sha256(lock: dict[str, Any]) -> str:
    return hashlib.sha256(lock_bytes(lock)).hexdigest()


def write_lock(lock: dict[str, Any], path: str | Path) -> Path:
    """Write the lock's canonical bytes (atomically: a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(lock_bytes(lock))
    tmp.replace(path)
    return path


def read_lock(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    hint = "run `jupyter containerize freeze NOTEBOOK` to write it"
    if not path.is_file():
        raise NotFoundError(f"lock {path} does not exist", hint=hint)
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ContainerizeError(f"lock {path} is not valid JSON", hint=hint) from exc
    if not isinstance(lock, dict) or lock.get("lock_version") != LOCK_VERSION:
        raise ContainerizeError(f"lock {path} is not a version {LOCK_VERSION} lock", hint=hint)
    return lock


def diff_locks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human lines for what changed: ``+ name ver``, ``- name ver``, ``~ name a -> b``."""
    lines = []
    for label, a, b in (
        ("python", old["python"].get("version"), new["python"].get("version")),
        ("platform", old.get("platform"), new.get("platform")),
        ("mode", old.get("mode"), new.get("mode")),
    ):
        if a != b:
            lines.append(f"~ {label} {a} -> {b}")
    before = {normalize(p["name"]): p for p in old.get("packages", [])}
    after = {normalize(p["name"]): p for p in new.get("packages", [])}
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if now is None:
            lines.append(f"- {was['name']} {was['version']}")  # type: ignore[index]
        elif was is None:
            lines.append(f"+ {now['name']} {now['version']}")
        elif was["version"] != now["version"]:
            lines.append(f"~ {now['name']} {was['version']} -> {now['version']}")
        elif was["requirement"] != now["requirement"]:
            lines.append(f"~ {now['name']} {now['version']}: {_req_text(was)} -> {_req_text(now)}")
    return lines


def _req_text(package: dict[str, Any]) -> str:
    req = package["requirement"]
    if not isinstance(req, dict):
        return str(req)
    path = req["path"] if req["path"].startswith(("/", ".")) else f"./{req['path']}"
    return ("-e " if package.get("source") == "editable" else "") + path


def requirements_view(lock: dict[str, Any]) -> str:
    """The lock's pins as a plain requirements.txt (paths relative to the notebook's folder)."""
    head = f"# {lock['mode']} lock for Python {lock['python']['version']} on {lock['platform']}"
    lines = [head] + [_req_text(p) for p in lock.get("packages", [])]
    return "\n".join(lines) + "\n"
