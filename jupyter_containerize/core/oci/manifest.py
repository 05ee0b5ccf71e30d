"""Media types of the distribution API, and an OCI image manifest's exact bytes."""

from __future__ import annotations

import json
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST, DOCKER_LIST, OCI_INDEX)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)


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
