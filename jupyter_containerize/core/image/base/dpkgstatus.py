"""The text of a base image's /var/lib/dpkg/status, for the image's SBOM.

Read from the base's layer tars, top layer first, without running anything: from our blob
store (a bootstrapped base's rootfs is kept there under its diff ID), else from the registry a
base with no engine lives in; else, with an engine, copied out of a created (never started)
container. Kept by the base's diff IDs, so each base is read once.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ...oci.blobstore import blob_path
from ...paths import cache_dir, write_atomic

STATUS = "var/lib/dpkg/status"
# a layer's whiteouts that hide the status file of the layers below
_HIDERS = {"var/lib/dpkg/.wh.status", "var/lib/dpkg/.wh..wh..opq", "var/lib/.wh.dpkg",
           "var/lib/.wh..wh..opq", "var/.wh.lib", "var/.wh..wh..opq", ".wh.var"}
_ABSENT = "\0absent"  # kept for a base that has no dpkg status (not Debian)


def _cache_path(diff_ids: list[str]) -> Path:
    key = hashlib.sha256(json.dumps(diff_ids).encode()).hexdigest()
    return cache_dir() / "dpkg-status" / f"{key[:32]}.txt"


def _in_layer(fileobj: IO[bytes]) -> tuple[bool, str | None]:
    """(decided, text) from one layer tar: the file's text, or decided with None when the layer
    hides it, or not decided when the layer does not touch it."""
    with tarfile.open(fileobj=fileobj, mode="r:*") as tar:
        for member in tar:
            name = member.name.lstrip("./") if member.name.startswith("./") else member.name
            name = name.strip("/")
            if name == STATUS and member.isfile():
                handle = tar.extractfile(member)
                return True, handle.read().decode("utf-8", "replace") if handle else None
            if name in _HIDERS:
                return True, None
    return False, None


def _from_layers(openers: list[Callable[[], IO[bytes] | None]]) -> tuple[bool, str | None]:
    """Top layer first; not decided when a layer cannot be opened (its content is unknown)."""
    for opener in reversed(openers):
        handle = opener()
        if handle is None:
            return False, None
        with handle:
            decided, text = _in_layer(handle)
        if decided:
            return True, text
    return True, None  # no layer has it: not a Debian base


def _store_opener(*digests: str) -> Callable[[], IO[bytes] | None]:
    def opener() -> IO[bytes] | None:
        for digest in digests:
            path = blob_path(digest) if digest else None
            if path is not None:
                return open(path, "rb")
        return None

    return opener


def read_dpkg_status(
    diff_ids: list[str],
    *,
    engine_ref: str | None = None,
    registry: Any = None,
    log: Callable[[str], None] | None = None,
) -> str | None:
    """The base's dpkg status text, or None when the base has none (or it could not be read).

    ``registry``: a base read from a registry (``RegistryBase``) when no engine answers;
    ``engine_ref``: the base's reference in the engine, the last resort."""
    path = _cache_path(diff_ids)
    if path.exists():
        kept = path.read_text(encoding="utf-8")
        return None if kept == _ABSENT else kept
    descriptors = list(registry.layers) if registry is not None else []
    openers = [
        _store_opener(diff, str(descriptors[i].get("digest", "")) if i < len(descriptors) else "")
        for i, diff in enumerate(diff_ids)
    ]
    decided, text = _from_layers(openers)
    if not decided and registry is not None and len(descriptors) == len(diff_ids):
        decided, text = _from_layers([_registry_opener(registry, d) for d in descriptors])
    if not decided and engine_ref is not None:
        from ...engine.imagestore import read_image_file

        data = read_image_file(engine_ref, "/" + STATUS)
        decided, text = True, data.decode("utf-8", "replace") if data is not None else None
    if not decided:
        if log is not None:
            log("warning: the base's Debian packages could not be read: the SBOM lists none")
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (text if text is not None else _ABSENT).encode("utf-8"))
    return text


def _registry_opener(registry: Any, descriptor: dict[str, Any]) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        from ...oci.client import RegistryClient

        host, name = registry.repository.split("/", 1)
        return io.BytesIO(RegistryClient(host).blob(name, str(descriptor["digest"])))

    return opener
