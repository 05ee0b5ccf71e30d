"""What the engine's image store holds, and our own store of the blobs we made.

Engines keep images in one of two kinds of store:

- the **layer store** (overlay2 and the other graph drivers; Docker 20.10 to 28 by default):
  a layer is known by its chain ID, and ``docker load`` skips the bytes of any layer whose
  chain ID it holds, so a rebuild sends only what changed;
- the **containerd image store** (Docker Engine 29 and Docker Desktop by default): layers are
  content blobs known by digest. It records whatever bytes an archive carries, an empty
  placeholder included, so a layer may be left out only where it provably holds that exact
  uncompressed blob: one we sent in an image it still has.

Our own blob store (``<cache>/blobs/sha256/<hex>``) keeps every layer and config we made or
read from an engine, verified by digest: pushes read from it, with no engine involved.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BuildError
from ..oci.blobstore import add_blob_bytes, add_blob_file, blob_dir, blob_path
from ..paths import cache_dir, write_atomic
from . import archive

LAYER_STORE = "layer store"
CONTAINERD = "containerd image store"

_lock = threading.Lock()


def kind(info: dict[str, Any]) -> str:
    """The kind of image store ``docker info`` describes."""
    status = dict((str(k), str(v)) for k, v in (info.get("DriverStatus") or []) if k)
    if status.get("driver-type", "").startswith("io.containerd.snapshotter"):
        return CONTAINERD
    return LAYER_STORE


# ---------------------------------------------------------------- our blob store
# (the store itself is core.oci.blobstore; here what the engine adds to it)


def add_verified(path: Path, digest: str, what: str) -> Path:
    """Keep an exported layer after checking that its bytes (gunzipped when the engine kept
    them compressed) hash to ``digest``; an incomplete layer is named with the fix."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    source = path
    if gz:
        source = path.with_suffix(".tar")
        with gzip.open(path, "rb") as src, open(source, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    h = hashlib.sha256()
    with open(source, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    got = "sha256:" + h.hexdigest()
    if got != digest:
        raise BuildError(
            f"{what}: layer {digest[:19]} is incomplete in the engine (its bytes hash to "
            f"{got[:19]})",
            hint="rebuild it with `jupyter containerize build --no-cache`",
        )
    return add_blob_file(source, digest)


# ---------------------------------------------------------------- what an engine holds


@dataclass
class Holding:
    """Which layers the engine holds, so an archive can leave their bytes out."""

    kind: str = LAYER_STORE
    chains: set[str] = field(default_factory=set)  # layer store: chain IDs
    blobs: dict[str, int] = field(default_factory=dict)  # containerd: diff ID -> size
    engine_id: str = ""  # whose records the blobs come from

    def held(self, diffs: list[str]) -> list[bool]:
        """Per layer of an image with these diff IDs: does the engine hold it?"""
        if self.kind == CONTAINERD:
            return [d in self.blobs for d in diffs]
        from .client import chain_ids

        return [c in self.chains for c in chain_ids(diffs)]

    def add(self, diffs: list[str], sizes: dict[str, int]) -> None:
        """The engine now holds an image of these layers (it was just loaded complete)."""
        if self.kind == CONTAINERD:
            self.blobs.update({d: sizes[d] for d in diffs if d in sizes})
        else:
            from .client import chain_ids

            self.chains.update(chain_ids(diffs))

    @property
    def placeholders(self) -> bool:
        """Whether a held layer travels as an empty file (layer store) or not at all."""
        return self.kind == LAYER_STORE


def _records_path(engine_id: str) -> Path:
    folder = cache_dir() / "engines"
    folder.mkdir(exist_ok=True)
    return folder / (hashlib.sha256(engine_id.encode()).hexdigest()[:24] + ".json")


def _read_records(engine_id: str) -> dict[str, Any]:
    try:
        data = json.loads(_records_path(engine_id).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_loaded(engine_id: str, images: dict[str, list[str]], sizes: dict[str, int]) -> None:
    """Remember that the engine holds these images (ID -> diff IDs) with every layer's
    uncompressed blob."""
    with _lock:
        data = _read_records(engine_id)
        data.setdefault("images", {}).update(images)
        data.setdefault("sizes", {}).update(
            {d: sizes[d] for diffs in images.values() for d in diffs if d in sizes})
        write_atomic(_records_path(engine_id), json.dumps(data, sort_keys=True).encode())


def held_blobs(engine_id: str, image_ids: set[str]) -> dict[str, int]:
    """Uncompressed blobs a containerd store holds: those of images we loaded complete that
    it still has (an image that exists keeps its content)."""
    data = _read_records(engine_id)
    sizes = data.get("sizes") or {}
    out: dict[str, int] = {}
    for image_id, diffs in (data.get("images") or {}).items():
        if image_id in image_ids:
            out.update({d: int(sizes[d]) for d in diffs if d in sizes})
    return out


def known_size(engine_id: str, digest: str) -> int | None:
    size = (_read_records(engine_id).get("sizes") or {}).get(digest)
    if size is not None:
        return int(size)
    path = blob_path(digest)
    return path.stat().st_size if path else None


# ---------------------------------------------------------------- loading into the engine


@dataclass
class Loaded:
    """What a load put in the engine: per image, its config digest (the image ID on a layer
    store) and manifest digest (the image ID on a containerd store)."""

    kind: str
    config_digests: list[str]
    manifest_digests: list[str | None]

    def image_id(self, i: int) -> str:
        manifest = self.manifest_digests[i]
        return manifest if self.kind == CONTAINERD and manifest else self.config_digests[i]


def engine_identity(info: dict[str, Any]) -> str:
    from . import client as engine

    return str(info.get("ID") or engine.engine_url())


def base_sources(diffs: list[str]) -> dict[str, Path]:
    out = {}
    for d in diffs:
        path = blob_path(d)
        if path is not None:
            out[d] = path
    return out


def export(ref: str, work: Path) -> tuple[bytes, dict[str, Path]]:
    """An image exported from the engine once: its config, and its layers checked against
    their diff IDs and kept in our store (diff ID -> our file)."""
    from . import client as engine

    kept = {}
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        config, files = engine.save_image(ref, Path(tmp), lambda d: blob_path(d) is None)
        for i, (diff, path) in enumerate(files):
            kept[diff] = (add_verified(path, diff, f"{ref}, layer {i + 1}") if path
                          else blob_dir() / diff.split(":", 1)[1])
    add_blob_bytes(config)
    return config, kept


def engine_state() -> Holding:
    """What the engine holds now, by the rule of its kind of store."""
    from . import client as engine

    info = engine.client().info()
    store, eid = kind(info), engine_identity(info)
    if store == CONTAINERD:
        ids = {str(i) for i in engine.client().api.images(all=True, quiet=True)}
        return Holding(CONTAINERD, blobs=held_blobs(eid, ids), engine_id=eid)
    return Holding(LAYER_STORE, chains=engine.known_chain_ids(), engine_id=eid)


def load(images: list[Any], base_ref: str, work: Path, log: Any,
         held: Holding | None = None) -> Loaded:
    """Load images made of ``base_ref``'s layers and ours into the engine, complete, sending
    only the bytes its store does not provably hold."""
    from . import client as engine

    held = held or engine_state()
    base_diffs = [d for img in images
                  for d in img.config["rootfs"]["diff_ids"][: -len(img.layers) or None]]
    sources = base_sources(base_diffs)
    sizes = {d: n for d in base_diffs if (n := known_size(held.engine_id, d)) is not None}
    try:
        plan = archive.plan_archive(images, held, sources, sizes)
    except LookupError:
        sources.update(export(base_ref, work)[1])
        plan = archive.plan_archive(images, held, sources, sizes)
    try:
        engine.load_archive(archive.stream_archive(plan))
    except BuildError as exc:
        # a layer it held went away meanwhile (another client removed images): send all
        log(f"loading without the layers the engine held failed ({exc.message}); "
            "sending every layer")
        sources.update(export(base_ref, work)[1])
        plan = archive.plan_archive(images, Holding(held.kind, engine_id=held.engine_id),
                                   sources, sizes)
        engine.load_archive(archive.stream_archive(plan))
    for img in images:
        held.add(img.config["rootfs"]["diff_ids"], plan.sizes)
    loaded = Loaded(held.kind, [archive.image_id(img.config) for img in images],
                    [plan.manifest_digest(i) for i in range(len(images))])
    keep(images, [m for _, m in plan.manifests])
    if held.kind == CONTAINERD:
        record_loaded(held.engine_id, {
            manifest: list(img.config["rootfs"]["diff_ids"])
            for img, manifest in zip(images, loaded.manifest_digests) if manifest
        }, plan.sizes)
    return loaded


def keep(images: list[Any], manifests: list[bytes | None] | None = None) -> None:
    """Keep images' configs, manifests and our layers in our store: a push reads them from
    there, whatever engine (or none) is configured."""
    for img in images:
        add_blob_bytes(archive.config_bytes(img.config))
        for la in img.layers:
            if la.path is not None and la.path.exists():
                add_blob_file(la.path, la.diff_id)
    for manifest in manifests or []:
        if manifest is not None:
            add_blob_bytes(manifest)


def read_image_file(ref: str, path: str) -> bytes | None:
    """One file of an image, copied out of a container that is created and never started;
    None when the image has no such file."""
    import docker.errors

    from .. import labels
    from . import client as engine
    from .containerfiles import read_file

    try:
        container = engine.client().containers.create(
            ref, ["true"], network_disabled=True, labels={labels.MANAGED: "true"})
    except docker.errors.APIError as exc:
        raise BuildError(f"could not read {path} of {ref}: {exc.explanation or exc}",
                         hint="check that the image exists (`docker image ls`)") from exc
    try:
        return read_file(container, path)
    finally:
        container.remove(force=True)
