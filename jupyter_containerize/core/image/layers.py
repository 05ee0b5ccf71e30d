"""Image layers made outside the engine: deterministic tars and the image config over them.

A layer is a tar whose bytes depend only on its inputs: sorted names, fixed mtimes, fixed
owners and modes, no host paths. An image is the base's layers plus ours, described by a
config; the archive that carries it into the engine (``docker load``) is
:mod:`~jupyter_containerize.core.engine.archive`, whose names this module also offers to the
stages that assemble images.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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


class _HashingWriter:
    """A write-only file that hashes what passes through it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.size = 0

    def tell(self) -> int:
        return self.size

    def write(self, b: Any) -> int:
        self.digest.update(b)
        self.fh.write(b)
        self.size += len(b)
        return len(b)


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
    with open(tmp, "wb", buffering=1 << 20) as fh:
        writer = _HashingWriter(fh)
        with tarfile.open(fileobj=writer, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for name in sorted(by_name):
                _add(tar, name, by_name[name], mtime)
    tmp.replace(out)
    return Layer("sha256:" + writer.digest.hexdigest(), out, writer.size)


def _add(tar: tarfile.TarFile, name: str, e: Entry, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.uid, info.gid = e.owner
    info.uname = info.gname = ""
    info.mode = e.mode
    if e.kind == "dir":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif e.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = e.target
        tar.addfile(info)
    elif e.data is not None:
        info.size = len(e.data)
        tar.addfile(info, io.BytesIO(e.data))
    else:
        assert e.source is not None
        info.size = e.source.stat().st_size
        with open(e.source, "rb") as fh:
            tar.addfile(info, fh)


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
