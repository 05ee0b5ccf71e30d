"""`prune`: remove the images this project built that nobody needs, and `images --keep`.

Only images labelled ``io.jupyter-containerize.managed=true`` are candidates; never a base
(``role=base``), never one a container or a swarm service (a deployment) uses, never one kept
with ``images --keep REF`` (a small JSON file under the data directory). Oldest first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import labels
from ..engine import client as engine
from ..engine import images as engine_images
from ..errors import ContainerizeError, NotFoundError
from ..paths import data_dir, write_atomic
from ..progress import Reporter

KEEP_FILE = "kept-images.json"


def keep_path() -> Path:
    return data_dir() / KEEP_FILE


def kept() -> list[dict[str, str]]:
    """The kept images: ``[{"reference", "id"}]``."""
    try:
        data = json.loads(keep_path().read_text())
    except (OSError, ValueError):
        return []
    return [k for k in data.get("images", []) if isinstance(k, dict)]


def _write(entries: list[dict[str, str]]) -> None:
    data = json.dumps({"images": entries}, indent=1, sort_keys=True)
    write_atomic(keep_path(), data.encode())


def keep(ref: str) -> dict[str, str]:
    """Record ``ref`` (and its image ID) as kept: prune never removes it."""
    image = engine.get_image(ref)
    if image is None:
        raise NotFoundError(f"image {ref} is not in the engine",
                            hint="pull it first, or check the name with `images`")
    entry = {"reference": ref, "id": str(image.id)}
    entries = [k for k in kept() if k.get("reference") != ref] + [entry]
    _write(entries)
    return entry


def unkeep(ref: str) -> bool:
    entries = kept()
    left = [k for k in entries if k.get("reference") != ref and k.get("id") != ref]
    _write(left)
    return len(left) != len(entries)


def images_in_use() -> set[str]:
    """Image IDs any container (running or not) or swarm service uses."""
    return engine_images.in_use()


def candidates(keep_refs: Iterable[str] = (),
               label_filter: dict[str, str] | None = None) -> list[Any]:
    """Managed, non-base images nobody keeps or uses, oldest first."""
    kept_ids = {k.get("id") for k in kept()}
    kept_refs = {k.get("reference") for k in kept()} | set(keep_refs)
    for ref in keep_refs:
        image = engine.get_image(ref)
        if image is not None:
            kept_ids.add(str(image.id))
    used = images_in_use()
    found = []
    for image in engine.managed_images(label_filter):
        if (image.labels or {}).get(labels.ROLE) == "base":
            continue
        if image.id in kept_ids or image.id in used or kept_refs & set(image.tags):
            continue
        found.append(image)
    found.sort(key=lambda img: str(img.attrs.get("Created", "")))
    return found


def _unique_sizes() -> dict[str, int]:
    """Bytes each image holds that no other image shares (the engine's own accounting)."""
    rows = _df().get("Images") or []
    return {str(r["Id"]): max(0, int(r.get("Size", 0)) - max(0, int(r.get("SharedSize", 0))))
            for r in rows}


def _df() -> dict[str, Any]:
    return engine_images.disk_usage()


def prune_images(
    progress: Callable[[Any], None] | None = None,
    dry_run: bool = False,
    keep: Iterable[str] = (),
    *,
    label_filter: dict[str, str] | None = None,
) -> tuple[int, list[str]]:
    """Remove what :func:`candidates` finds; returns (bytes freed, references removed).

    ``keep`` adds references kept for this call only; ``label_filter`` narrows to images with
    these labels too (tests prune only what their run created). Bytes freed follow the
    engine's own accounting (an image's size minus what it shares); a dry run reports what
    the images hold unshared, a lower bound when they share layers among themselves.
    """
    rep = Reporter(progress)
    found = candidates(keep, label_filter)
    if dry_run:
        unique = _unique_sizes()
        names = [n for image in found for n in (list(image.tags) or [image.short_id])]
        total = sum(unique.get(image.id, 0) for image in found)
        for image in found:
            rep.log(f"would remove {', '.join(image.tags or [image.short_id])}")
        rep.log(f"{len(found)} images, at least {total / 1e6:.1f} MB would be freed")
        return total, names
    removed: list[str] = []
    freed = 0
    for image in found:
        names = list(image.tags) or [image.short_id]
        # what this image holds that no image left shares: asked again before each removal,
        # so layers shared only among removed images are counted once, with the last of them
        held = _unique_sizes().get(image.id, 0)
        if _remove(image, names, rep):
            removed += names
            freed += held
    rep.log(f"removed {len(removed)} images, freed {freed / 1e6:.1f} MB")
    return freed, removed


def _remove(image: Any, names: list[str], rep: Reporter) -> bool:
    try:
        for name in names[:-1]:
            engine_images.remove(name)
        if not engine_images.remove(names[-1] if image.tags else image.id):
            return False
    except ContainerizeError as exc:
        rep.log(f"kept {', '.join(names)}: {exc.data.get('reason', exc.message)}")
        return False
    rep.log(f"removed {', '.join(names)}")
    return engine.get_image(image.id) is None
