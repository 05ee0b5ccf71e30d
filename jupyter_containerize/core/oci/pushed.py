"""Where we pushed which blobs, per registry host: the repositories a later push may mount
them from instead of sending them again."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from ..paths import cache_dir, write_atomic


def _pushed_path(host: str) -> Path:
    folder = cache_dir() / "registries"
    folder.mkdir(exist_ok=True)
    return folder / (hashlib.sha256(host.encode()).hexdigest()[:24] + ".json")


def repositories_holding(host: str, digests: Iterable[str]) -> list[str]:
    """Repositories of ``host`` we pushed any of these blobs to (mount sources)."""
    try:
        known = json.loads(_pushed_path(host).read_text())
    except (OSError, ValueError):
        return []
    out: list[str] = []
    for d in digests:
        repo = known.get(d)
        if repo and repo not in out:
            out.append(repo)
    return out


def remember_pushed(host: str, repo: str, digests: Iterable[str]) -> None:
    path = _pushed_path(host)
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({d: repo for d in digests})
    write_atomic(path, json.dumps(known, sort_keys=True).encode())
