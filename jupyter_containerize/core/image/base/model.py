"""A base image as the builders see it, its labels, and its content identity.

A bootstrapped base's identity is its Debian release and sorted package list (plus the carried
interpreter's version and sha256), never a local image ID: the same inputs name the same tag.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Optional

from ... import labels
from ...errors import BaseImageError

Progress = Callable[[str], None]

# Labels of our own bases (besides labels.MANAGED, ROLE, BASE_IDENTITY, BASE_PACKAGES, PYTHON).
PYTHON_PATH = labels.PREFIX + "python.path"
GLIBC = labels.PREFIX + "glibc"
BASE_RELEASE = labels.PREFIX + "base.release"
BASE_ROUTE = labels.PREFIX + "base.route"
BASE_INTERPRETER = labels.PREFIX + "base.interpreter"
ROLE_BASE = "base"
BASE_REPOSITORY = f"{labels.DEFAULT_NAMESPACE}/base"

DEBIAN_PYTHON = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}
RELEASE_GLIBC = {"bullseye": "2.31", "bookworm": "2.36", "trixie": "2.41"}
CARRY_RELEASES = ("bookworm", "trixie")  # oldest glibc first
COMMON_PACKAGES = ("ca-certificates", "tzdata")
DEBIAN_PYTHON_PACKAGES = ("python3", "python3-venv")
# Runtime libraries a CPython build's extension modules link (checked with ldd afterwards).
CARRY_PACKAGES = {
    "bookworm": (
        "libssl3",
        "libsqlite3-0",
        "libffi8",
        "zlib1g",
        "libbz2-1.0",
        "liblzma5",
        "libreadline8",
        "libncursesw6",
        "libuuid1",
        "libexpat1",
        "libnsl2",
        "libtirpc3",
        "libcrypt1",
        "libgdbm6",
        "libgdbm-compat4",
    ),
    "trixie": (
        "libssl3t64",
        "libsqlite3-0",
        "libffi8",
        "zlib1g",
        "libbz2-1.0",
        "liblzma5",
        "libreadline8t64",
        "libncursesw6",
        "libuuid1",
        "libexpat1",
        "libnsl2",
        "libtirpc3t64",
        "libcrypt1",
        "libgdbm6t64",
        "libgdbm-compat4t64",
    ),
}
DPKG_OPTIONS = (
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/locale/*",
    "path-exclude=/usr/share/lintian/*",
)
IMAGE_ENV = ("LANG=C.UTF-8", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
PROBE = (
    "import json,os,platform,sys;print(json.dumps({'version':platform.python_version(),"
    "'path':os.path.realpath(sys.executable),'glibc':platform.libc_ver()[1],"
    "'implementation':sys.implementation.name}))"
)
INTERPRETER_PROBE = (
    "import json,os,platform,sys,sysconfig;print(json.dumps({'version':platform.python_version(),"
    "'base_prefix':sys.base_prefix,'implementation':sys.implementation.name,"
    "'glibc':platform.libc_ver()[1],'ldlibrary':sysconfig.get_config_var('LDLIBRARY') or ''}))"
)
BOOTSTRAP_HINT = (
    "run `jupyter containerize base --bootstrap --python {minor}` (offline, from Debian "
    "packages) or pass --base IMAGE"
)

@dataclass
class BaseImage:
    """A base image and what the builders need to know about its Python."""

    reference: str
    image_id: str
    identity: str
    python_version: str
    python_path: str
    site_packages_layout: str
    glibc: str
    exact: bool = False
    # configured | official | debian | carried | image
    route: str = ""
    release: str = ""
    interpreter: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def python_minor(self) -> str:
        return minor_of(self.python_version)


def minor_of(version: str) -> str:
    """``3.11.7`` -> ``3.11``; BaseImageError for what is not a Python version."""
    match = re.fullmatch(r"(3)\.(\d+)(?:\.\d+)?(?:[a-z]+\d*)?\+?", version.strip())
    if not match:
        raise BaseImageError(f"{version!r} is not a Python version", hint="use X.Y or X.Y.Z")
    return f"{match.group(1)}.{match.group(2)}"


def has_patch(version: str) -> bool:
    return version.count(".") >= 2


def site_packages_layout(python_version: str) -> str:
    return f"lib/python{minor_of(python_version)}/site-packages"


# --------------------------------------------------------------------------- identity, naming


def parse_dpkg_query(text: str) -> list[str]:
    """``dpkg-query -W`` output -> sorted ``name=version`` lines (architecture kept)."""
    lines = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            lines.add(f"{parts[0]}={parts[1]}")
        elif len(parts) == 1:
            lines.add(f"{parts[0]}=")
    return sorted(lines)


def base_identity(
    release: str,
    packages: Iterable[str],
    arch: str = "amd64",
    interpreter: Optional[dict[str, str]] = None,
) -> str:
    """Content identity of a bootstrapped base: ``sha256:<hex>`` of release, packages, interpreter.

    ``packages`` are ``name=version`` strings (order and duplicates do not matter);
    ``interpreter`` is ``{"version", "sha256"}`` of a carried interpreter (route 2).
    """
    doc = {
        "release": release,
        "arch": arch,
        "packages": sorted(set(packages)),
        "interpreter": dict(sorted(interpreter.items())) if interpreter else None,
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def base_reference(release: str, python_version: str, identity: str) -> str:
    """``jupyter-containerize/base:<release>-py<X.Y.Z>-<12 hex of identity>``."""
    digest = identity.split(":", 1)[-1]
    return f"{BASE_REPOSITORY}:{release}-py{python_version}-{digest[:12]}"


def _layers_identity(image: Any) -> str:
    layers = image.attrs.get("RootFS", {}).get("Layers") or []
    blob = json.dumps(layers, separators=(",", ":")).encode()
    return "layers:sha256:" + hashlib.sha256(blob).hexdigest()


def image_identity(image: Any) -> str:
    """Our label on our bases, else the registry digest, else a hash of the layers' content IDs.

    An image built from one of our bases inherits its labels: only ``role=base`` trusts them.
    """
    lab = image.labels or {}
    found = lab.get(labels.BASE_IDENTITY) if lab.get(labels.ROLE) == ROLE_BASE else None
    if found:
        return str(found)
    digests = image.attrs.get("RepoDigests") or []
    return str(sorted(digests)[0]) if digests else _layers_identity(image)


def from_labels(image: Any, reference: str) -> Optional[BaseImage]:
    """The BaseImage our labels describe (only a ``role=base`` image's are trusted)."""
    lab = image.labels or {}
    if lab.get(labels.ROLE) != ROLE_BASE or not lab.get(PYTHON_PATH) or not lab.get(labels.PYTHON):
        return None
    return BaseImage(
        reference=reference,
        image_id=image.id,
        identity=image_identity(image),
        python_version=lab[labels.PYTHON],
        python_path=lab[PYTHON_PATH],
        site_packages_layout=site_packages_layout(lab[labels.PYTHON]),
        glibc=lab.get(GLIBC, ""),
        route=lab.get(BASE_ROUTE, ""),
        release=lab.get(BASE_RELEASE, ""),
        interpreter=lab.get(BASE_INTERPRETER, ""),
    )


def say(progress: Optional[Progress], line: str) -> None:
    if progress is not None:
        progress(line)
