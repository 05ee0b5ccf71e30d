"""An image's exact parts, from our own store, for a push that needs no engine.

A push sends the very bytes a build made: the config, and every layer as the uncompressed
blob whose digest is its diff ID, so the manifest a registry pins is the one the build named
(and a containerd image store's image ID). Parts come from our blob store; what it lacks (an
image this machine did not build, a cleared cache) is exported from the engine once and
checked: a layer whose bytes do not hash to its diff ID is never pushed, the error names it
and the fix.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine import imagestore
from ..paths import cache_dir, write_atomic


@dataclass
class ImageParts:
    """An image as a registry stores it: config bytes and (diff ID, file) per layer."""

    config: bytes
    layers: list[tuple[str, Path]]

    @property
    def config_json(self) -> dict[str, Any]:
        return dict(json.loads(self.config))


def _config_of(image_id: str) -> bytes | None:
    """The config bytes for an engine image ID: a config digest (layer store) or a manifest
    digest (containerd store) of an image we made."""
    path = imagestore.blob_path(image_id)
    if path is None:
        return None
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if isinstance(doc, dict) and "config" in doc and "layers" in doc:  # a manifest
        cfg = imagestore.blob_path(str(doc["config"]["digest"]))
        return cfg.read_bytes() if cfg else None
    return data


def parts_from_store(config: bytes) -> ImageParts | None:
    diffs = json.loads(config)["rootfs"]["diff_ids"]
    found = [(d, imagestore.blob_path(d)) for d in diffs]
    if any(p is None for _, p in found):
        return None
    return ImageParts(config, [(d, p) for d, p in found if p is not None])


def image_parts(ref: str) -> ImageParts:
    """The parts of the engine's image ``ref``: from our store, else exported and checked."""
    from ..engine import client as engine

    image = engine.require_image(ref)
    config = _config_of(str(image.id))
    if config is not None and (parts := parts_from_store(config)) is not None:
        return parts
    work = cache_dir() / "export"
    work.mkdir(exist_ok=True)
    config, kept = imagestore.export(ref, work)
    return ImageParts(config, [(d, kept[d]) for d in json.loads(config)["rootfs"]["diff_ids"]])


# ---------------------------------------------------------------- where blobs were pushed


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


def push_parts(parts: ImageParts, target: str, tag: str | None, progress: Any = None) -> str:
    """Push ``parts`` as ``target[:tag]`` straight to its registry; returns the digest."""
    from . import distribution

    reference = f"{target}:{tag}" if tag else target
    host, repo, _tag, _digest = distribution.split_target(reference)
    blobs = [distribution.Blob(d, p.stat().st_size, distribution.OCI_LAYER, p,
                               f"layer {i + 1} ({d[7:19]})")
             for i, (d, p) in enumerate(parts.layers)]
    digests = [d for d, _ in parts.layers]
    mount = [r for r in repositories_holding(host, digests) if r != repo]
    digest = distribution.push_image(reference, parts.config, blobs, mount_from=mount,
                                     progress=progress)
    remember_pushed(host, repo, digests)
    return digest
