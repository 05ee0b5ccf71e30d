"""The team's images as the registry holds them, read WITHOUT pulling.

Registry HTTP API v2 through :class:`distribution.RegistryClient`: ``/v2/_catalog`` where the
registry offers it (else the configured ``team_repositories``), ``/v2/<name>/tags/list``, the
manifest (Docker schema 2 or OCI, an index resolved to the default platform), then the config blob
whose labels say who built what. Credentials, the bearer token flow and the trust of ``certs.d`` are
the client's.
"""

from __future__ import annotations

from typing import Any

from .. import labels
from ..config import ContainerizeConfig, resolve
from ..engine import registries
from ..errors import NotFoundError
from ..oci.client import RegistryClient
from ..oci.reference import registry_host
from .signing import FALLBACK_TAG, signatures


def describe(host: str, name: str, tag: str, manifest: dict[str, Any], digest: str,
             config: dict[str, Any]) -> dict[str, Any]:
    """One catalog row: what the labels say, and the compressed size."""
    lab = (config.get("config") or {}).get("Labels") or {}
    size = sum(int(layer.get("size", 0)) for layer in manifest.get("layers") or [])
    size += int((manifest.get("config") or {}).get("size", 0))
    packages = [p for p in lab.get(labels.PACKAGES, "").split(",") if p]
    model = {k: v for k, v in (("sha256", lab.get(labels.MODEL_SHA256)),
                               ("flavor", lab.get(labels.MODEL_FLAVOR))) if v}
    return {
        "reference": f"{host}/{name}:{tag}",
        "pinned": f"{host}/{name}@{digest}" if digest else "",
        "repository": f"{host}/{name}", "tag": tag, "digest": digest,
        "author": lab.get(labels.AUTHOR, ""), "notebook": lab.get(labels.NOTEBOOK, ""),
        "python": lab.get(labels.PYTHON, ""), "packages": packages, "model": model,
        "created": lab.get(labels.OCI_CREATED) or config.get("created", ""),
        "role": lab.get(labels.ROLE, ""), "managed": lab.get(labels.MANAGED) == "true",
        "size": size, "signers": [], "sbom": False,
    }


def images(registry: str | None = None, *, repositories: list[str] | None = None,
           client: RegistryClient | None = None,
           config: ContainerizeConfig | None = None) -> list[dict[str, Any]]:
    """Every tagged image of the team's repositories, described from manifests and configs.

    ``registry`` is ``host[:port][/namespace]``; a namespace keeps only repositories under it.
    With no registry given or configured, the engine's own images (ours) are described.
    """
    cfg = resolve(config)
    setting = (registry or cfg.registry).strip().rstrip("/").split("://", 1)[-1]
    if not setting:
        return local_images()
    host = registry_host(setting)
    namespace = setting[len(host):].strip("/")
    reg = client or RegistryClient(host, config=cfg,
                                  engine_insecure=registries.insecure_registries)
    names = repositories if repositories is not None else reg.repositories()
    if names is None:
        names = list(cfg.team_repositories)
        if not names and reg.catalog_error is not None:
            raise reg.catalog_error
        if not names:
            raise NotFoundError(f"the registry {host} offers no catalog",
                                hint="list the team's repositories in "
                                     "ContainerizeConfig.team_repositories")
    names = [n.split("/", 1)[1] if n.startswith(host + "/") else n for n in names]
    if namespace:
        names = [n for n in names if n == namespace or n.startswith(namespace + "/")]
    rows = []
    for name in sorted(set(names)):
        for tag in reg.tags(name):
            if FALLBACK_TAG.fullmatch(tag):
                continue  # the referrers index of a signed image, not an image
            manifest, digest = reg.manifest(name, tag)
            cfg_digest = (manifest.get("config") or {}).get("digest")
            image_config = reg.config(name, cfg_digest) if cfg_digest else {}
            row = describe(host, name, tag, manifest, digest, image_config)
            row.update(signatures(reg, name, digest))
            rows.append(row)
    rows.sort(key=lambda r: (r["created"], r["reference"]), reverse=True)
    return rows


def local_images() -> list[dict[str, Any]]:
    """The engine's images this project built, described the same way (no registry)."""
    from ..engine import client as engine

    rows = []
    for image in engine.managed_images():
        lab = image.labels or {}
        if lab.get(labels.ROLE) == "base":
            continue
        for ref in image.tags or [image.short_id]:
            config = {"config": {"Labels": lab}, "created": image.attrs.get("Created", "")}
            row = describe("", "", "", {}, "", config)
            repo, _, tag = ref.rpartition(":")
            row.update(reference=ref, repository=repo, tag=tag, pinned="",
                       digest=image.id, size=int(image.attrs.get("Size", 0)))
            rows.append(row)
    rows.sort(key=lambda r: (r["created"], r["reference"]), reverse=True)
    return rows
