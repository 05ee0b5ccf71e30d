"""Our own store of blobs by digest (``<cache>/blobs/sha256/<hex>``): every layer and config
we made, read from an engine or read from a registry, verified by digest when read."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

from ..paths import cache_dir, write_atomic


def blob_dir() -> Path:
    path = cache_dir() / "blobs" / "sha256"
    path.mkdir(parents=True, exist_ok=True)
    return path


def blob_path(digest: str) -> Path | None:
    """The file holding ``digest``'s bytes, when our store has it."""
    path = blob_dir() / digest.split(":", 1)[-1]
    return path if path.exists() else None


def add_blob_file(path: Path, digest: str) -> Path:
    """Keep a file we made (its digest known) in the store: a hard link, else a copy."""
    dest = blob_dir() / digest.split(":", 1)[-1]
    if dest.exists():
        return dest
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    return dest


def add_blob_bytes(data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    dest = blob_dir() / digest.split(":", 1)[1]
    if not dest.exists():
        write_atomic(dest, data)
    return digest


def read_blob(digest: str) -> bytes | None:
    """A small blob's bytes from our store, checked; a damaged copy is dropped (None)."""
    path = blob_path(digest)
    if path is None:
        return None
    data = path.read_bytes()
    if "sha256:" + hashlib.sha256(data).hexdigest() == digest:
        return data
    path.unlink(missing_ok=True)
    return None
