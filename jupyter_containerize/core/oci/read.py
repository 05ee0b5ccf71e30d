"""An image read from its registry without pulling it: manifest, digest and config."""

from __future__ import annotations

import json
import re
from typing import Any

from ..config import ContainerizeConfig
from ..errors import RegistryError
from ..options import DEFAULT_PLATFORM
from .blobstore import add_blob_bytes, read_blob
from .client import RegistryClient
from .reference import split_target
from .trust import EngineInsecure


def read_image(reference: str, *, platform: str = DEFAULT_PLATFORM,
               insecure: bool | None = None, client: RegistryClient | None = None,
               config: ContainerizeConfig | None = None,
               engine_insecure: EngineInsecure | None = None,
               ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(image manifest, manifest digest, image config) of ``reference`` without pulling it.

    An index resolves to ``platform``; config blobs are cached on disk by digest and checked
    against it each time they are read."""
    host, name, tag, digest = split_target(reference)
    reg = client or RegistryClient(host, insecure=insecure, config=config,
                                  engine_insecure=engine_insecure)
    manifest, manifest_digest = reg.manifest(name, digest or tag or "latest", platform)
    cfg_digest = str((manifest.get("config") or {}).get("digest") or "")
    if not re.fullmatch(r"sha256:[0-9a-f]{64}", cfg_digest):
        raise RegistryError(f"the manifest of {reference} names no sha256 config",
                            hint="push the image again")
    return manifest, manifest_digest, json.loads(_cached_blob(reg, name, cfg_digest))


def _cached_blob(reg: RegistryClient, name: str, digest: str) -> bytes:
    """A config blob from our blob store, else from the registry (checked) and kept there."""
    data = read_blob(digest)
    if data is None:
        data = reg.blob(name, digest)
        add_blob_bytes(data)
    return data
