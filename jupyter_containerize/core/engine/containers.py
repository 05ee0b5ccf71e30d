"""Container-side engine helpers for runs: create, copy files in and out, wait, logs, cleanup.

Files move with put/get archive only, so a remote engine works the same.
Every container carries ``io.jupyter-containerize.managed=true`` so a crash leaves something
``prune`` can find.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import DeviceRequest

from .. import labels
from ..errors import RunError
from . import client as engine
from . import podman

UID = 1000
NOISE = {"__pycache__", ".ipynb_checkpoints", ".git", ".virtual_documents"}
# folders of the image a copy must never take over (their owner and mode stay as they are)
SYSTEM_DIRS = {"tmp", "home", "home/jovyan", "opt", "usr", "var", "etc", "srv", "mnt", "root"}


@dataclass
class FileState:
    size: int
    mtime: float
    sha256: str


def device_requests(gpus: str | None) -> list[DeviceRequest]:
    """``--gpus`` as the docker CLI spells it: ``all``, a count, or ``device=0,1``."""
    if not gpus:
        return []
    spec = gpus.strip()
    if spec.startswith('"') and spec.endswith('"'):
        spec = spec[1:-1]
    if spec == "all":
        return [DeviceRequest(count=-1, capabilities=[["gpu"]])]
    if spec.isdigit():
        return [DeviceRequest(count=int(spec), capabilities=[["gpu"]])]
    if spec.startswith("device="):
        ids = [d for d in spec[len("device="):].split(",") if d]
        return [DeviceRequest(device_ids=ids, capabilities=[["gpu"]])]
    raise RunError(f"--gpus {gpus!r} is not understood", hint="use all, a count, or device=0,1")


def create(
    image: str, command: list[str], *, name: str, labels_: dict[str, str],
    environment: dict[str, str], working_dir: str | None = None, cpus: float | None = None,
    memory: str | None = None, gpus: str | None = None,
) -> Container:
    """A created (not started) container labelled as ours."""
    options: dict[str, Any] = {
        "name": name, "labels": {labels.MANAGED: "true", **labels_},
        "environment": environment, "detach": True,
    }
    if working_dir:
        options["working_dir"] = working_dir
    if cpus:
        options["nano_cpus"] = int(float(cpus) * 1e9)
    if memory:
        options["mem_limit"] = memory
    if gpus:
        options["device_requests"] = device_requests(gpus)
        podman.refuse_gpus()
    try:
        return engine.client().containers.create(image, command, **options)
    except docker.errors.ImageNotFound as exc:
        raise RunError(f"image {image} is not in the engine", hint="build it first") from exc
    except docker.errors.APIError as exc:
        raise RunError(f"the engine refused the container: {exc.explanation}") from exc


def start(container: Container) -> None:
    try:
        container.start()
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        lacks = podman.lacking(explanation)
        if lacks is not None:
            raise RunError(f"the container did not start: {lacks[0]}", hint=lacks[1]) from exc
        hint = "the image lacks papermill's tool environment; rebuild it with `build`"
        if "gpu" in explanation.lower():
            hint = "this engine has no GPU runtime: drop --gpus or install the NVIDIA toolkit"
        raise RunError(f"the container did not start: {explanation}", hint=hint) from exc


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


def wait(container: Container, timeout: float | None, cancel: threading.Event | None) -> int | str:
    """Exit code, or ``"timed out"`` / ``"cancelled"`` (the container then still runs)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            return "cancelled"
        step = 1.0
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timed out"
            step = max(0.05, min(step, left))
        try:
            result = container.wait(timeout=step)
            return int(result.get("StatusCode", 1))
        except (requests.exceptions.RequestException, docker.errors.APIError) as exc:
            if isinstance(exc, docker.errors.NotFound):
                return 137
            continue


def kill(container: Container) -> None:
    try:
        container.kill()
    except docker.errors.APIError:
        pass


def remove(container: Container) -> None:
    try:
        container.remove(force=True)
    except docker.errors.APIError:
        pass


def is_running(container_id: str) -> bool:
    try:
        container = engine.client().containers.get(container_id)
    except docker.errors.NotFound:
        return False
    return container.status in ("running", "created", "restarting")


def follow_logs(container: Container, on_line: Callable[[str], None]) -> threading.Thread:
    """Stream the container's output line by line to ``on_line`` in a daemon thread."""

    def pump() -> None:
        pending = b""
        try:
            for chunk in container.logs(stream=True, follow=True, stdout=True, stderr=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    on_line(line.decode("utf-8", "replace").rstrip("\r"))
        except (docker.errors.APIError, requests.exceptions.RequestException):
            pass
        if pending:
            on_line(pending.decode("utf-8", "replace"))

    thread = threading.Thread(target=pump, name=f"logs-{container.short_id}", daemon=True)
    thread.start()
    return thread


def remove_labelled(label_filters: dict[str, str]) -> int:
    """Remove our containers carrying these labels (tests, prune)."""
    filters = [f"{labels.MANAGED}=true"] + [f"{k}={v}" for k, v in label_filters.items()]
    found = engine.client().containers.list(all=True, filters={"label": filters})
    for container in found:
        remove(container)
    return len(found)
