"""Image layers made outside the engine: deterministic tars and docker-archive assembly.

A layer is a tar whose bytes depend only on its inputs: sorted names, fixed mtimes, fixed
owners and modes, no host paths. An image is the base's layers plus ours, described by a
config; the archive is loaded into the engine (``docker load``). The archive carries an
OCI image layout and a docker ``manifest.json`` over the same uncompressed blobs, which every
kind of engine loads complete; what the engine provably holds is left out (imagestore), so a
rebuild sends only what changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import tarfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    from ..engine.imagestore import Holding

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


@dataclass
class Layer:
    diff_id: str
    path: Path | None
    size: int = 0
    comment: str = ""


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


@dataclass
class ImageSpec:
    """What goes into one image of an archive."""

    tag: str
    layers: list[Layer]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


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


def config_bytes(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass
class ArchivePlan:
    """What an archive carries: each blob once (bytes, a placeholder, or left out) and, per
    image, its OCI manifest (None where a left-out layer's size is unknown)."""

    blobs: list[tuple[str, Path | bytes | None]]  # (digest, source); None: placeholder
    manifests: list[tuple[ImageSpec, bytes | None]]
    sizes: dict[str, int] = field(default_factory=dict)  # every layer size it knows

    def manifest_digest(self, i: int) -> str | None:
        data = self.manifests[i][1]
        return "sha256:" + hashlib.sha256(data).hexdigest() if data is not None else None


def manifest_bytes(config: dict[str, Any], sizes: list[int]) -> bytes:
    """The OCI image manifest of ``config`` with uncompressed layers of these sizes: the same
    bytes a push sends, so the engine's and the registry's digests agree."""
    cfg = config_bytes(config)
    return oci_manifest(
        {"mediaType": OCI_CONFIG, "digest": image_id(config), "size": len(cfg)},
        [{"mediaType": OCI_LAYER, "digest": d, "size": n}
         for d, n in zip(config["rootfs"]["diff_ids"], sizes)],
    )


def oci_manifest(config: dict[str, Any], layers: list[dict[str, Any]],
                 annotations: dict[str, str] | None = None) -> bytes:
    """An OCI image manifest's exact bytes from its descriptors (each mediaType, digest,
    size, in that order)."""
    doc: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers,
    }
    if annotations:
        doc["annotations"] = dict(sorted(annotations.items()))
    return json.dumps(doc, separators=(",", ":")).encode()


def plan_archive(
    images: list[ImageSpec], holding: Holding, sources: dict[str, Path] | None = None,
    sizes: dict[str, int] | None = None,
) -> ArchivePlan:
    """Decide each blob's fate. A layer goes as bytes unless ``holding`` says the engine holds
    it; then it is an empty placeholder (a layer store skips it by chain ID) or left out (a
    containerd store reuses the exact blob). ``sources`` has the base layers' files; a layer
    that must be sent and has none raises LookupError."""
    sources, known = dict(sources or {}), dict(sizes or {})
    needed: dict[str, Path | None] = {}
    order: list[str] = []
    manifests: list[tuple[ImageSpec, bytes | None]] = []
    for img in images:
        diffs = img.config["rootfs"]["diff_ids"]
        n_base = len(diffs) - len(img.layers)
        for la in img.layers:
            if la.path is not None:
                sources.setdefault(la.diff_id, la.path)
                known[la.diff_id] = la.size
        for i, (diff, held) in enumerate(zip(diffs, holding.held(diffs))):
            if diff not in needed:
                order.append(diff)
                needed[diff] = None
            if not held:
                if diff not in sources:
                    where = "base" if i < n_base else "new"
                    raise LookupError(f"{where} layer {diff} is not in the engine")
                needed[diff] = sources[diff]
        for diff in diffs:
            if diff not in known and diff in sources:
                known[diff] = sources[diff].stat().st_size
            if diff not in known and diff in holding.blobs:
                known[diff] = holding.blobs[diff]
        have_all = all(d in known for d in diffs)
        manifests.append(
            (img, manifest_bytes(img.config, [known[d] for d in diffs]) if have_all else None)
        )
    blobs: list[tuple[str, Path | bytes | None]] = []
    for diff in order:
        path = needed[diff]
        if path is not None:
            blobs.append((diff, path))
        elif holding.placeholders:
            blobs.append((diff, None))
    return ArchivePlan(blobs, manifests, known)


def write_archive(out: Path, plan: ArchivePlan) -> None:
    """An archive every engine loads (``docker load``): an OCI image layout and a docker
    ``manifest.json`` naming the same uncompressed blobs."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _archive(tar, plan)


def stream_archive(plan: ArchivePlan) -> Iterator[bytes]:
    """The same archive as :func:`write_archive`, produced while the engine reads it: no
    copy of the layers is written to disk first."""
    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb", buffering=1 << 20) as fh:
                with tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    _archive(tar, plan)
        except BaseException as exc:  # handed to the reading side
            failure.append(exc)

    writer = threading.Thread(target=produce, daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk
    writer.join()
    if failure:
        raise failure[0]


def _blob_name(digest: str) -> str:
    return "blobs/sha256/" + digest.split(":", 1)[1]


def _archive(tar: tarfile.TarFile, plan: ArchivePlan) -> None:
    _add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    for digest, source in plan.blobs:
        if source is None:
            _add_bytes(tar, _blob_name(digest), b"")
        elif isinstance(source, bytes):
            _add_bytes(tar, _blob_name(digest), source)
        else:
            tar.add(source, arcname=_blob_name(digest))
    index, compat, written = [], [], set()
    for img, manifest in plan.manifests:
        cfg = config_bytes(img.config)
        cfg_name = _blob_name(image_id(img.config))
        if cfg_name not in written:
            _add_bytes(tar, cfg_name, cfg)
            written.add(cfg_name)
        compat.append({
            "Config": cfg_name,
            "RepoTags": [img.tag],
            "Layers": [_blob_name(d) for d in img.config["rootfs"]["diff_ids"]],
        })
        if manifest is None:
            continue
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        if _blob_name(digest) not in written:
            _add_bytes(tar, _blob_name(digest), manifest)
            written.add(_blob_name(digest))
        index.append({
            "mediaType": OCI_MANIFEST, "digest": digest, "size": len(manifest),
            "annotations": {
                "io.containerd.image.name": full_name(img.tag),
                "org.opencontainers.image.ref.name": img.tag.rsplit(":", 1)[-1],
            },
        })
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": index}
    _add_bytes(tar, "index.json", json.dumps(doc, sort_keys=True).encode())
    _add_bytes(tar, "manifest.json", json.dumps(compat).encode())


def full_name(reference: str) -> str:
    """A reference as engines name it in full (``docker.io/library/`` where none is given)."""
    first, _, rest = reference.partition("/")
    if not rest:
        return f"docker.io/library/{reference}"
    if "." in first or ":" in first or first == "localhost":
        return reference
    return f"docker.io/{reference}"


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def image_id(config: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(config_bytes(config)).hexdigest()
