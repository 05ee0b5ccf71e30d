"""A base image read from a registry, for builds with no engine (a JupyterHub or Kubeflow pod).

Only its manifest and config are read: its layers stay in the registry, and the image we push
names them and mounts them into the target repository. Our bootstrapped bases (pushed once with
`jupyter containerize push`) describe their Python in labels; official ``python`` images in
their environment; any other base needs an engine to be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ... import labels
from ...errors import BaseImageError
from .model import (
    BASE_INTERPRETER,
    BASE_RELEASE,
    BASE_ROUTE,
    GLIBC,
    PYTHON_PATH,
    ROLE_BASE,
    BaseImage,
    site_packages_layout,
)


@dataclass
class RegistryBase:
    """A base as a registry holds it: what the builders need, and its layer descriptors."""

    base: BaseImage
    attrs: dict[str, Any]  # the engine's inspect shape: Config, RootFS, Architecture, Os
    layers: list[dict[str, Any]]  # the manifest's layer descriptors
    repository: str  # host/name it lives in

    @property
    def host(self) -> str:
        return self.repository.split("/", 1)[0]


NO_BASE_HINT = (
    "with no engine, pass --base HOST/REPO:TAG naming a base in the registry you push to: "
    "push a bootstrapped base there once (`jupyter containerize push BASE --registry HOST`) "
    "or use an official python:X.Y-slim image mirrored there"
)


def registry_base(reference: str | None, python_version: str) -> RegistryBase:
    """Describe ``reference`` from the registry; errors say what to pass instead."""
    from ...oci import read_image, split_target
    from ...oci.reference import host_of

    if not reference or not host_of(reference.split("@", 1)[0]):
        raise BaseImageError("no engine answers and no base in a registry was given",
                             hint=NO_BASE_HINT)
    manifest, digest, config = read_image(reference)
    host, name, _tag, _digest = split_target(reference)
    cfg = config.get("config") or {}
    lab = cfg.get("Labels") or {}
    env = dict(v.split("=", 1) for v in cfg.get("Env") or [] if "=" in v)
    if lab.get(labels.ROLE) == ROLE_BASE and lab.get(PYTHON_PATH) and lab.get(labels.PYTHON):
        version, path = lab[labels.PYTHON], lab[PYTHON_PATH]
        identity = lab.get(labels.BASE_IDENTITY) or f"{host}/{name}@{digest}"
    elif env.get("PYTHON_VERSION"):
        version = env["PYTHON_VERSION"]
        path = "/usr/local/bin/python" + ".".join(version.split(".")[:2])
        identity = f"{host}/{name}@{digest}"
    else:
        raise BaseImageError(f"{reference} does not say which Python it has",
                             hint="without an engine, use one of our bootstrapped bases or an "
                                  "official python image; " + NO_BASE_HINT)
    minor = ".".join(python_version.split(".")[:2])
    if ".".join(version.split(".")[:2]) != minor:
        raise BaseImageError(f"base image {reference} has Python {version}, the kernel has "
                             f"{minor}", hint="choose a base with the kernel's Python minor")
    base = BaseImage(
        reference=reference, image_id=digest, identity=str(identity), python_version=version,
        python_path=path, site_packages_layout=site_packages_layout(version),
        glibc=lab.get(GLIBC, ""), exact=version == python_version, route="configured",
        release=lab.get(BASE_RELEASE, ""), interpreter=lab.get(BASE_INTERPRETER, ""),
    )
    if lab.get(BASE_ROUTE):
        base.route = lab[BASE_ROUTE]
    attrs = {
        "Config": cfg,
        "RootFS": {"Layers": list(config["rootfs"]["diff_ids"])},
        "Architecture": config.get("architecture", "amd64"),
        "Os": config.get("os", "linux"),
    }
    return RegistryBase(base, attrs, list(manifest.get("layers") or []), f"{host}/{name}")
