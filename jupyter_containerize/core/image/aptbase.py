"""System packages from ``apt.txt`` under the layers path.

The packages go into a base of their own, ``FROM`` the chosen base plus one ``apt-get
install`` layer, built once by the engine's classic builder and reused while the base and
the package list are the same. The environment's layers are then assembled on top of it as on
any base, so a notebook that needs, say, ``libgomp1`` keeps the fast, layer-per-distribution
build instead of falling back to a full classic build.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile

from .. import labels
from ..engine import client as engine
from ..progress import Reporter
from .base.model import BaseImage

# Not labels.ROLE "base": a base with system packages serves only the notebooks that ask for
# them, so it must never be picked as the base of another build.
ROLE_APT_BASE = "apt-base"
APT_PACKAGES = labels.PREFIX + "apt.packages"
REPOSITORY = f"{labels.DEFAULT_NAMESPACE}/apt-base"


def dockerfile(base: str, packages: list[str]) -> str:
    from .dockerfile import apt_install

    return f"FROM {base}\nUSER root\n{apt_install(packages)}\n"


def reference_for(base: BaseImage, packages: list[str]) -> str:
    key = hashlib.sha256("\n".join([base.image_id, *sorted(packages)]).encode()).hexdigest()
    return f"{REPOSITORY}:{key[:12]}"


def with_packages(
    base: BaseImage, packages: list[str], rep: Reporter, *, no_cache: bool = False,
    extra_labels: dict[str, str] | None = None,
) -> BaseImage:
    """``base`` with ``packages`` installed: reused when the engine has it, else built."""
    reference = reference_for(base, packages)
    image = None if no_cache else engine.get_image(reference)
    if image is None:
        rep.log(f"system packages from apt.txt: {' '.join(sorted(packages))}")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            data = dockerfile(base.reference, packages).encode()
            info = tarfile.TarInfo("Dockerfile")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        tags = {
            labels.MANAGED: "true",
            labels.ROLE: ROLE_APT_BASE,
            APT_PACKAGES: " ".join(sorted(packages)),
            **(extra_labels or {}),
        }
        with rep.phase("system packages"):
            image = engine.classic_build(context, reference, tags, no_cache, rep.log)
    return dataclasses.replace(base, reference=reference, image_id=image.id)


__all__ = ["with_packages", "reference_for", "dockerfile", "ROLE_APT_BASE"]
