"""The archive ``docker load`` reads: an OCI image layout and a docker ``manifest.json`` over
the same uncompressed blobs, which every kind of engine loads complete. What the engine
provably holds is left out (:mod:`.imagestore`), so a rebuild sends only what changed.

The images it carries are :class:`ImageSpec` (a tag, our :class:`Layer` files and a config);
their config and OCI manifest bytes are the ones a push sends, so the engine's and the
registry's digests agree.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..oci.manifest import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST, oci_manifest


class Holding(Protocol):
    """What an engine holds (:class:`~.imagestore.Holding` answers it)."""

    blobs: dict[str, int]

    def held(self, diffs: list[str]) -> list[bool]: ...

    @property
    def placeholders(self) -> bool: ...


@dataclass
class Layer:
    diff_id: str
    path: Path | None
    size: int = 0
    comment: str = ""


@dataclass
class ImageSpec:
    """What goes into one image of an archive."""

    tag: str
    layers: list[Layer]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


def config_bytes(config: dict[str, Any]) -> bytes:
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


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
