"""`build --push`: the image just built pushed as its exact parts, straight from our store to
its registry (no engine push). The parts (config and uncompressed layers) come from
:mod:`~jupyter_containerize.core.engine.parts`; blobs already pushed to another repository of
the same registry are mounted from there."""

from __future__ import annotations

from typing import Any

from ..config import ContainerizeConfig
from ..engine import registries
from ..engine.parts import ImageParts
from ..oci.blobs import Blob
from ..oci.manifest import OCI_LAYER
from ..oci.push import push_image
from ..oci.pushed import remember_pushed, repositories_holding
from ..oci.reference import split_target


def push_parts(parts: ImageParts, target: str, tag: str | None, progress: Any = None, *,
               config: ContainerizeConfig | None = None) -> str:
    """Push ``parts`` as ``target[:tag]`` straight to its registry; returns the digest."""
    reference = f"{target}:{tag}" if tag else target
    host, repo, _tag, _digest = split_target(reference)
    blobs = [Blob(d, p.stat().st_size, OCI_LAYER, p, f"layer {i + 1} ({d[7:19]})")
             for i, (d, p) in enumerate(parts.layers)]
    digests = [d for d, _ in parts.layers]
    mount = [r for r in repositories_holding(host, digests) if r != repo]
    digest = push_image(reference, parts.config, blobs, mount_from=mount, progress=progress,
                        config=config, engine_insecure=registries.insecure_registries)
    remember_pushed(host, repo, digests)
    return digest
