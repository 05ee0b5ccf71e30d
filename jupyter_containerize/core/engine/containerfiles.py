"""Files into and out of a container: copies in as the notebook user, snapshots of a folder,
and the files a run created or changed copied back out. Files move with put/get archive
only, so a remote engine works the same."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import docker.errors
from docker.models.containers import Container

from ..errors import RunError
from .containers import UID

NOISE = {"__pycache__", ".ipynb_checkpoints", ".git", ".virtual_documents"}
# folders of the image a copy must never take over (their owner and mode stay as they are)
SYSTEM_DIRS = {"tmp", "home", "home/jovyan", "opt", "usr", "var", "etc", "srv", "mnt", "root"}


@dataclass
class FileState:
    size: int
    mtime: float
    sha256: str


def _add(tar: tarfile.TarFile, name: str, data: bytes | None, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.uid = info.gid = UID
    info.uname = info.gname = "jovyan"
    info.mtime = int(time.time())
    info.mode = mode
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def put_bytes(container: Container, path: str, data: bytes) -> None:
    """Write one file owned by the notebook user, creating its parent folders."""
    put_tree(container, path, None, data)


def put_tree(container: Container, target: str, source: Path | None, data: bytes = b"") -> None:
    """Copy a host file or folder (or ``data``) to ``target`` in the container, as uid 1000."""
    parts = PurePosixPath(target).parts[1:]
    buffer = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for depth in range(1, len(parts)):
            prefix = "/".join(parts[:depth])
            if prefix not in SYSTEM_DIRS:
                _add(tar, prefix, None, 0o755)
        name = "/".join(parts)
        if source is None:
            _add(tar, name, data, 0o644)
        elif source.is_dir():
            _add(tar, name, None, 0o755)
            for item in sorted(source.rglob("*")):
                rel = f"{name}/{item.relative_to(source).as_posix()}"
                if item.is_dir():
                    _add(tar, rel, None, 0o755)
                else:
                    _add(tar, rel, item.read_bytes(), 0o644)
        else:
            _add(tar, name, source.read_bytes(), 0o644)
    buffer.seek(0)
    try:
        container.put_archive("/", buffer)
    except docker.errors.APIError as exc:
        raise RunError(f"could not copy {target} into the container: {exc.explanation}") from exc


def _fetch(container: Container, path: str) -> IO[bytes] | None:
    try:
        stream, _stat = container.get_archive(path)
    except docker.errors.NotFound:
        return None
    spool = tempfile.SpooledTemporaryFile(max_size=64 << 20)
    for chunk in stream:
        spool.write(chunk)
    spool.seek(0)
    return spool


def read_file(container: Container, path: str) -> bytes | None:
    """One file's bytes, or None when it does not exist."""
    spool = _fetch(container, path)
    if spool is None:
        return None
    with tarfile.open(fileobj=spool) as tar:
        for member in tar:
            if member.isfile():
                handle = tar.extractfile(member)
                return handle.read() if handle else None
    return None


def _walk(container: Container, root: str) -> Iterator[tuple[str, tarfile.TarInfo, IO[bytes]]]:
    spool = _fetch(container, root)
    if spool is None:
        return
    with tarfile.open(fileobj=spool) as tar:
        for member in tar:
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not member.isfile() or not rel or NOISE & set(rel.split("/")):
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                yield rel, member, handle


def _digest(handle: IO[bytes]) -> str:
    digest = hashlib.sha256()
    while block := handle.read(1 << 20):
        digest.update(block)
    return digest.hexdigest()


def snapshot(container: Container, root: str) -> dict[str, FileState]:
    """path -> (size, mtime, sha256) for every file under ``root``."""
    return {
        rel: FileState(member.size, float(member.mtime), _digest(handle))
        for rel, member, handle in _walk(container, root)
    }


def copy_changed(
    container: Container, root: str, before: dict[str, FileState], dest: Path
) -> list[dict[str, Any]]:
    """Copy every file created or changed under ``root`` into ``dest``; returns artifacts."""
    found: list[dict[str, Any]] = []
    for rel, member, handle in _walk(container, root):
        data = handle.read()
        sha = hashlib.sha256(data).hexdigest()
        old = before.get(rel)
        if old is not None and old.sha256 == sha:
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        found.append({"path": rel, "size": member.size, "sha256": sha})
    return found
