"""An engine image's exact parts, from our own store, for a push that needs no engine.

A push sends the very bytes a build made: the config, and every layer as the uncompressed
blob whose digest is its diff ID, so the manifest a registry pins is the one the build named
(and a containerd image store's image ID). Parts come from our blob store; what it lacks (an
image this machine did not build, a cleared cache) is exported from the engine once and
checked: a layer whose bytes do not hash to its diff ID is never pushed, the error names it
and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..oci.blobstore import blob_path
from ..paths import cache_dir
from . import client as engine
from . import imagestore


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
    path = blob_path(image_id)
    if path is None:
        return None
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if isinstance(doc, dict) and "config" in doc and "layers" in doc:  # a manifest
        cfg = blob_path(str(doc["config"]["digest"]))
        return cfg.read_bytes() if cfg else None
    return data


def parts_from_store(config: bytes) -> ImageParts | None:
    diffs = json.loads(config)["rootfs"]["diff_ids"]
    found = [(d, blob_path(d)) for d in diffs]
    if any(p is None for _, p in found):
        return None
    return ImageParts(config, [(d, p) for d, p in found if p is not None])


def image_parts(ref: str) -> ImageParts:
    """The parts of the engine's image ``ref``: from our store, else exported and checked."""
    image = engine.require_image(ref)
    config = _config_of(str(image.id))
    if config is not None and (parts := parts_from_store(config)) is not None:
        return parts
    work = cache_dir() / "export"
    work.mkdir(exist_ok=True)
    config, kept = imagestore.export(ref, work)
    return ImageParts(config, [(d, kept[d]) for d in json.loads(config)["rootfs"]["diff_ids"]])
