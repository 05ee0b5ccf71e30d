"""Image layers made outside the engine: deterministic tars and the image config over them.

A layer is a tar whose bytes depend only on its inputs: sorted names, fixed mtimes, fixed
owners and modes, no host paths. An image is the base's layers plus ours, described by a
config; the archive that carries it into the engine (``docker load``) is
:mod:`~jupyter_containerize.core.engine.archive`, whose names this module also offers to the
stages that assemble images.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.archive import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    ArchivePlan,
    ImageSpec,
    Layer,
    config_bytes,
    full_name,
    image_id,
    manifest_bytes,
    oci_manifest,
    plan_archive,
    stream_archive,
    write_archive,
)
from .tarwrite import TarWriter

ROOT = (0, 0)
USER = (1000, 1000)


@dataclass
class Entry:
    """One member of a layer: a file (from disk or bytes), a directory or a symlink."""

    name: str
    source: Path | None = None
    data: bytes | None = None
    kind: str = "file"  # file | dir | symlink
    target: str = ""
    mode: int = 0o644
    owner: tuple[int, int] = ROOT


def _parents(names: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            out.add("/".join(parts[:i]))
    return out


def write_layer(
    entries: list[Entry], out: Path, mtime: int, dir_owner: dict[str, tuple[int, int]] | None = None
) -> Layer:
    """Write a deterministic layer tar; returns its diff ID (sha256 of the tar)."""
    by_name = {e.name.strip("/"): e for e in entries}
    for parent in _parents(by_name) - set(by_name):
        owner = (dir_owner or {}).get(parent, ROOT)
        by_name[parent] = Entry(parent, kind="dir", mode=0o755, owner=owner)
    tmp = out.with_suffix(".partial")
    with open(tmp, "wb") as fh:
        tar = TarWriter(fh)
        for name in sorted(by_name):
            _add(tar, name, by_name[name], mtime)
        tar.close()
    tmp.replace(out)
    return Layer(tar.digest, out, tar.size)


def _add(tar: TarWriter, name: str, e: Entry, mtime: int) -> None:
    if e.kind == "dir":
        tar.directory(name, e.mode, e.owner, mtime)
    elif e.kind == "symlink":
        tar.symlink(name, e.target, e.mode, e.owner, mtime)
    elif e.data is not None:
        tar.data(name, e.data, e.mode, e.owner, mtime)
    else:
        assert e.source is not None
        tar.file(name, e.source, e.mode, e.owner, mtime)


def tree_entries(
    root: Path, prefix: str, owner: tuple[int, int] = ROOT, rewrite: Any = None
) -> list[Entry]:
    """Entries for every file below ``root``, placed under ``prefix`` in the image.

    ``rewrite(relpath, path) -> bytes | None`` may replace a file's content (shebangs).
    """
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                entries.append(_link(root, full, prefix, owner))
            else:
                rel = os.path.normpath(os.path.join(rel_dir, d))
                entries.append(Entry(f"{prefix}/{rel}", kind="dir", mode=0o755, owner=owner))
        for f in sorted(filenames):
            full = os.path.join(dirpath, f)
            if os.path.islink(full):
                entries.append(_link(root, full, prefix, owner))
                continue
            rel = os.path.normpath(os.path.join(rel_dir, f))
            mode = 0o755 if os.stat(full).st_mode & stat.S_IXUSR else 0o644
            data = rewrite(rel, Path(full)) if rewrite else None
            entries.append(
                Entry(f"{prefix}/{rel}", source=Path(full), data=data, mode=mode, owner=owner)
            )
    return entries


def _link(root: Path, full: str, prefix: str, owner: tuple[int, int]) -> Entry:
    rel = os.path.relpath(full, root)
    return Entry(
        f"{prefix}/{rel}", kind="symlink", target=os.readlink(full), mode=0o777, owner=owner
    )


def image_config(
    base_attrs: dict[str, Any],
    layers: list[Layer],
    *,
    env: dict[str, str],
    user: str,
    workdir: str,
    labels: dict[str, str],
    cmd: list[str],
    created: str,
) -> dict[str, Any]:
    """The image config: the base's settings, our environment, labels and layer list."""
    base_cfg = base_attrs.get("Config") or {}
    merged_env = dict(v.split("=", 1) for v in base_cfg.get("Env") or [] if "=" in v)
    merged_env.update(env)
    base_diffs = list(base_attrs["RootFS"]["Layers"])
    history = [
        {"created": created, "created_by": "base image", "empty_layer": False} for _ in base_diffs
    ]
    history += [
        {"created": created, "created_by": f"jupyter-containerize: {la.comment}"} for la in layers
    ]
    return {
        "architecture": base_attrs.get("Architecture", "amd64"),
        "os": base_attrs.get("Os", "linux"),
        "created": created,
        "config": {
            "User": user,
            "Env": [f"{k}={v}" for k, v in merged_env.items()],
            "WorkingDir": workdir,
            # the base's labels are inherited, as a Dockerfile build inherits them
            "Labels": dict(sorted({**(base_cfg.get("Labels") or {}), **labels}.items())),
            "Cmd": cmd,
        },
        "rootfs": {"type": "layers", "diff_ids": base_diffs + [la.diff_id for la in layers]},
        "history": history,
    }


__all__ = [
    "OCI_CONFIG", "OCI_INDEX", "OCI_LAYER", "OCI_MANIFEST", "USER", "ArchivePlan", "Entry",
    "ImageSpec", "Layer", "config_bytes", "full_name", "image_config", "image_id",
    "manifest_bytes", "oci_manifest", "plan_archive", "stream_archive", "tree_entries",
    "write_archive", "write_layer",
]
