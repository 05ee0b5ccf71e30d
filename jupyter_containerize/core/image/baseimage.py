"""Base images: find one for a kernel's Python, or bootstrap one offline.

Order of :func:`find_base`: a configured reference; ``python:X.Y.Z-slim`` then
``python:X.Y-slim`` (in the engine, or pulled when a registry answers); then a base we
bootstrapped (label ``io.jupyter-containerize.role=base``) for the kernel's minor, the one with
the kernel's exact patch version first. :func:`bootstrap` makes such a base with no registry:

* route 1 ("debian"): the Debian release whose ``python3`` has the minor, by mmdebstrap;
* route 2 ("carried"): the kernel's own interpreter (exact patch version, any minor) carried into
  ``/usr/local`` of a Debian rootfs, its paths made relative so no host path stays in the layer.

A bootstrapped base's identity is its Debian release and sorted package list (plus the carried
interpreter's version and sha256), never a local image ID: the same inputs name the same tag.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from jupyter_containerize.core import labels
from jupyter_containerize.core.errors import BaseImageError

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
PULL_TIMEOUT = 20.0
_PULL_FAILURES: dict[str, float] = {}


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


def _has_patch(version: str) -> bool:
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


# --------------------------------------------------------------------------- describing images


def _cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "jupyter-containerize" / "bases"


def probe_image(client: Any, image: Any) -> dict[str, str]:
    """Python facts of an image not made by us: one tiny container, cached by image id."""
    path = _cache_dir() / (image.id.split(":", 1)[-1] + ".json")
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        pass
    import docker.errors

    try:
        out = client.containers.run(
            image.id,
            entrypoint=["python3", "-c", PROBE],
            remove=True,
            network_disabled=True,
            labels={labels.MANAGED: "true"},
        )
        facts = json.loads(out.decode().strip().splitlines()[-1])
    except (docker.errors.ContainerError, docker.errors.APIError, ValueError, IndexError) as exc:
        ref = (image.tags or [image.id])[0]
        raise BaseImageError(
            f"image {ref} has no working python3", hint="choose a base image with Python"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, sort_keys=True))
    return dict(facts)


def _from_labels(image: Any, reference: str) -> Optional[BaseImage]:
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


def describe(client: Any, image: Any, reference: str, python_version: str, route: str) -> BaseImage:
    """A BaseImage for ``image``: from our labels, else from a (cached) probe container."""
    base = _from_labels(image, reference)
    if base is None:
        facts = probe_image(client, image)
        base = BaseImage(
            reference=reference,
            image_id=image.id,
            identity=image_identity(image),
            python_version=facts["version"],
            python_path=facts["path"],
            site_packages_layout=site_packages_layout(facts["version"]),
            glibc=facts.get("glibc", ""),
            route=route,
        )
    elif route == "configured":
        base.route = route
    base.exact = _has_patch(python_version) and base.python_version == python_version
    return base


def _reference_of(image: Any) -> str:
    tags = sorted(image.tags or [])
    ours = [t for t in tags if t.startswith(BASE_REPOSITORY + ":")]
    return (ours or tags or [image.id])[0]


def list_bases(client: Any) -> list[BaseImage]:
    """Our bootstrapped bases in the engine, newest first."""
    images = client.images.list(filters={"label": f"{labels.ROLE}={ROLE_BASE}"})
    images.sort(key=lambda im: im.attrs.get("Created", ""), reverse=True)
    found = []
    for image in images:
        # Skip untagged images and images built on a base (they inherit its labels until a
        # later instruction overrides them): a bootstrapped base is one imported layer.
        if not image.tags or len(image.attrs.get("RootFS", {}).get("Layers") or []) != 1:
            continue
        base = _from_labels(image, _reference_of(image))
        if base is not None:
            found.append(base)
    return found


# --------------------------------------------------------------------------- find_base


def _get_image(client: Any, reference: str) -> Any:
    import docker.errors

    try:
        return client.images.get(reference)
    except docker.errors.ImageNotFound:
        return None


def _try_pull(client: Any, reference: str, timeout: float = PULL_TIMEOUT) -> Any:
    """Pull ``reference`` if a registry answers within ``timeout``; None otherwise."""
    failed = _PULL_FAILURES.get(reference)
    if failed is not None and time.monotonic() - failed < 300:
        return None
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            repo, tag = reference.rsplit(":", 1)
            result["image"] = client.images.pull(repo, tag=tag)
        except Exception as exc:  # any engine or network failure means "not pullable"
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name=f"pull {reference}")
    thread.start()
    thread.join(timeout)
    if "image" not in result:
        _PULL_FAILURES[reference] = time.monotonic()
        return None
    return result["image"]


def _local_or_pull(client: Any, reference: str, pull: bool, official: bool = False) -> Any:
    """The image, present or pulled. An official name is taken only with a registry digest:
    a local image that only carries it (a stand-in tagged by hand) is not the official one."""
    image = _get_image(client, reference)
    if official and image is not None and not (image.attrs.get("RepoDigests") or []):
        image = None
    if image is None and pull:
        image = _try_pull(client, reference)
    return image


def official_references(python_version: str) -> list[str]:
    """``python:X.Y.Z-slim`` (when the patch is known) then ``python:X.Y-slim``."""
    minor = minor_of(python_version)
    refs = [f"python:{python_version}-slim"] if _has_patch(python_version) else []
    return refs + [f"python:{minor}-slim"]


def _configured(client: Any, reference: str, python_version: str, pull: bool) -> BaseImage:
    minor = minor_of(python_version)
    image = _local_or_pull(client, reference, pull)
    if image is None:
        raise BaseImageError(
            f"base image {reference} is not in the engine and cannot be pulled",
            hint=f"`docker load` or `docker pull` it, or drop --base to use a bootstrapped base "
            f"({BOOTSTRAP_HINT.format(minor=minor)})",
        )
    base = describe(client, image, reference, python_version, "configured")
    if base.python_minor != minor:
        raise BaseImageError(
            f"base image {reference} has Python {base.python_version}, the kernel has {minor}",
            hint="choose a base with the kernel's Python minor version",
        )
    return base


def best_bootstrapped(bases: list[BaseImage], python_version: str) -> Optional[BaseImage]:
    """The base for the minor, one with the exact patch version first (``bases`` newest first)."""
    minor = minor_of(python_version)
    same = [b for b in bases if b.python_minor == minor]
    if not same:
        return None
    same.sort(key=lambda b: not (_has_patch(python_version) and b.python_version == python_version))
    best = same[0]
    best.exact = _has_patch(python_version) and best.python_version == python_version
    return best


def find_base(
    client: Any, python_version: str, configured: Optional[str] = None, *, pull: bool = True
) -> BaseImage:
    """The base image for a kernel's Python ``X.Y[.Z]``: configured, official, bootstrapped."""
    minor = minor_of(python_version)
    if configured:
        return _configured(client, configured, python_version, pull)
    for reference in official_references(python_version):
        image = _local_or_pull(client, reference, pull, official=True)
        if image is not None:
            base = describe(client, image, reference, python_version, "official")
            if base.python_minor == minor:
                return base
    bootstrapped = best_bootstrapped(list_bases(client), python_version)
    if bootstrapped is not None:
        return bootstrapped
    raise BaseImageError(
        f"no base image for Python {minor}", hint=BOOTSTRAP_HINT.format(minor=minor)
    )


# --------------------------------------------------------------------------- bootstrap: shared


def _say(progress: Optional[Progress], line: str) -> None:
    if progress is not None:
        progress(line)


def _check_tools(carried: bool) -> None:
    tools = ["mmdebstrap"] + (["patchelf"] if carried else [])
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise BaseImageError(
            f"bootstrapping a base needs {' and '.join(missing)}",
            hint=f"install it (Debian: apt-get install {' '.join(missing)}) or pass --base IMAGE",
        )
    if os.geteuid() == 0:
        return
    ok = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True)
    if ok.returncode != 0:
        raise BaseImageError(
            "bootstrapping a base needs root or unprivileged user namespaces",
            hint="run it as root, or enable user namespaces and give your user a /etc/subuid "
            "range (mmdebstrap's unshare mode), or pass --base IMAGE",
        )


_DEBIAN_SUITE = re.compile(
    r"^(buster|bullseye|bookworm|trixie|forky|stable|oldstable)(-updates|-security|/updates)?$"
)


def _host_source_entries() -> list[tuple[str, str, str]]:
    """(uri, suite suffix, components) of the host's Debian apt sources."""
    found: list[tuple[str, str, str]] = []
    root = Path("/etc/apt")
    files = [root / "sources.list", *sorted((root / "sources.list.d").glob("*"))]
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        stanzas = _deb822(text) if path.suffix == ".sources" else _one_line(text)
        for uri, suites, components in stanzas:
            for suite in suites:
                match = _DEBIAN_SUITE.match(suite)
                if match:
                    suffix = (match.group(2) or "").replace("/updates", "-security")
                    found.append((uri, suffix, components))
    return found


def _one_line(text: str) -> list[tuple[str, list[str], str]]:
    out = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            out.append((words[1], [words[2]], " ".join(words[3:]) or "main"))
    return out


def _deb822(text: str) -> list[tuple[str, list[str], str]]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes") != "no":
            for uri in fields.get("uris", "").split():
                out.append(
                    (uri, fields.get("suites", "").split(), fields.get("components", "main"))
                )
    return out


def host_mirrors(release: str) -> list[str]:
    """The host's Debian sources as one-line entries for ``release`` (empty: mmdebstrap's own)."""
    lines = []
    for uri, suffix, components in _host_source_entries():
        line = f"deb {uri} {release}{suffix} {components}"
        if line not in lines:
            lines.append(line)
    return lines


def _mmdebstrap(
    release: str, packages: Iterable[str], hooks: list[str], tar: Path, progress: Optional[Progress]
) -> None:
    cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(packages)]
    if os.geteuid() != 0:
        cmd.append("--mode=unshare")
    cmd += [f"--dpkgopt={opt}" for opt in DPKG_OPTIONS]
    cmd += [f"--customize-hook={hook}" for hook in hooks]
    cmd += [release, str(tar), *host_mirrors(release)]
    _say(progress, f"mmdebstrap {release} ({len(hooks)} hooks)")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    errors: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-30:]
        if line.startswith(("I: ", "E: ", "W: ")):
            _say(progress, line)
        if line.startswith("E: ") or (not errors and not line.startswith(("I: ", "W: "))):
            errors.append(line)
    if proc.wait() != 0:
        raise BaseImageError(
            f"mmdebstrap {release} failed: " + " | ".join((errors or tail)[-4:]),
            hint="check that the Debian archive is reachable through the host's apt sources",
        )


def _common_hooks(facts_dir: Path, python: str) -> list[str]:
    """User jovyan (1000:1000), the package list and the Python facts, and a clean-up."""
    out = shlex.quote(str(facts_dir))
    user = (
        'echo "jovyan:x:1000:1000:jovyan:/home/jovyan:/bin/bash" >> "$1/etc/passwd"'
        ' && echo "jovyan:x:1000:" >> "$1/etc/group"'
        ' && echo "jovyan:*::0:99999:7:::" >> "$1/etc/shadow"'
        ' && echo "jovyan:!::" >> "$1/etc/gshadow"'
        ' && mkdir -p "$1/home/jovyan" && chown 1000:1000 "$1/home/jovyan"'
    )
    facts = (
        f'chroot "$1" dpkg-query -W > {out}/packages.txt'
        f' && chroot "$1" {python} -c {shlex.quote(PROBE)} > {out}/facts.json'
    )
    clean = (
        'rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log'
        ' "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/tmp/* "$1"/var/tmp/*'
        ' "$1"/root/.cache'
    )
    return [user, facts, clean]


def _read_facts(facts_dir: Path) -> tuple[list[str], dict[str, str]]:
    try:
        packages = parse_dpkg_query((facts_dir / "packages.txt").read_text())
        facts = json.loads((facts_dir / "facts.json").read_text())
    except (OSError, ValueError) as exc:
        raise BaseImageError(
            "the bootstrapped rootfs did not report its packages and Python",
            hint="see the mmdebstrap output above",
        ) from exc
    return packages, dict(facts)


def _import(
    client: Any,
    tar: Path,
    reference: str,
    image_labels: dict[str, str],
    progress: Optional[Progress],
) -> Any:
    changes = [f"LABEL {k}={json.dumps(v)}" for k, v in sorted(image_labels.items())]
    changes += [f"ENV {e}" for e in IMAGE_ENV] + ['CMD ["python3"]']
    repository, tag = reference.rsplit(":", 1)
    size = tar.stat().st_size / 1e6
    _say(progress, f"docker import {reference} ({size:.0f} MB tar)")
    client.api.import_image_from_file(str(tar), repository=repository, tag=tag, changes=changes)
    image = _get_image(client, reference)
    if image is None:
        raise BaseImageError(f"docker import of {reference} failed", hint="see the engine's log")
    _keep_layer(tar, image.attrs["RootFS"]["Layers"])
    return image


def _keep_layer(tar: Path, diff_ids: list[str]) -> None:
    """Keep the imported tar as the base's one layer blob: builds on a containerd store and
    pushes then read it from our store instead of exporting it from the engine."""
    from hashlib import sha256

    from ..engine.imagestore import add_blob_file

    h = sha256()
    with open(tar, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    if diff_ids == ["sha256:" + h.hexdigest()]:
        add_blob_file(tar, diff_ids[0])


def _finish(
    client: Any,
    tar: Path,
    release: str,
    route: str,
    packages: list[str],
    facts: dict[str, str],
    interpreter: Optional[dict[str, str]],
    progress: Optional[Progress],
) -> BaseImage:
    """Identity, labels and import (skipped when an image with that identity exists)."""
    identity = base_identity(release, packages, interpreter=interpreter)
    reference = base_reference(release, facts["version"], identity)
    image = _get_image(client, reference)
    if image is not None and (image.labels or {}).get(labels.BASE_IDENTITY) == identity:
        _say(progress, f"{reference} already exists with this identity: reused")
    else:
        image_labels = {
            labels.MANAGED: "true",
            labels.ROLE: ROLE_BASE,
            labels.BASE_IDENTITY: identity,
            labels.BASE_PACKAGES: ",".join(packages),
            labels.PYTHON: facts["version"],
            PYTHON_PATH: facts["path"],
            GLIBC: facts.get("glibc", ""),
            BASE_RELEASE: release,
            BASE_ROUTE: route,
        }
        if interpreter:
            image_labels[BASE_INTERPRETER] = interpreter["sha256"]
        image = _import(client, tar, reference, image_labels, progress)
    base = _from_labels(image, reference)
    assert base is not None
    return base


def _workdir() -> tempfile.TemporaryDirectory[str]:
    root = os.environ.get("JC_BOOTSTRAP_TMP") or None
    return tempfile.TemporaryDirectory(prefix="jc-base-", dir=root)


# --------------------------------------------------------------------------- route 1: Debian


def bootstrap_debian(
    client: Any, python_version: str, progress: Optional[Progress] = None
) -> BaseImage:
    """Route 1: the Debian release whose python3 has the minor, by mmdebstrap."""
    minor = minor_of(python_version)
    release = DEBIAN_PYTHON.get(minor)
    if release is None:
        raise BaseImageError(
            f"no Debian release ships Python {minor}",
            hint=f"carry an interpreter of that minor (--python-executable /path/to/python{minor})"
            " or pass --base IMAGE",
        )
    _check_tools(carried=False)
    started = time.monotonic()
    with _workdir() as tmp:
        work = Path(tmp)
        hooks = _common_hooks(work, "python3")
        packages = (*DEBIAN_PYTHON_PACKAGES, *COMMON_PACKAGES)
        _mmdebstrap(release, packages, hooks, work / "rootfs.tar", progress)
        pkgs, facts = _read_facts(work)
        base = _finish(client, work / "rootfs.tar", release, "debian", pkgs, facts, None, progress)
    base.exact = _has_patch(python_version) and base.python_version == python_version
    _say(progress, f"base {base.reference} ready in {time.monotonic() - started:.1f} s")
    return base


# --------------------------------------------------------------------------- route 2: carried

CARRY_PREFIX = "/usr/local"
_STDLIB_DROP = {"test", "idlelib", "tkinter", "turtledemo", "turtle.py", "site-packages"}
_NESTED_DROP = {"test", "tests", "idle_test"}
_DYNLOAD_DROP = ("_test", "_ctypes_test", "_xxtestfuzz", "_tkinter", "xxlimited", "xxsubtype")


def interpreter_info(python_executable: str) -> dict[str, str]:
    """Version, base prefix and glibc of a CPython interpreter on this machine."""
    try:
        out = subprocess.run(
            [python_executable, "-I", "-c", INTERPRETER_PROBE],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        info = dict(json.loads(out))
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise BaseImageError(
            f"{python_executable} is not a working Python interpreter",
            hint="pass the path of the kernel's python",
        ) from exc
    if info.get("implementation") != "cpython":
        raise BaseImageError(
            f"{python_executable} is {info.get('implementation')}, not CPython",
            hint="carry a CPython interpreter or pass --base IMAGE",
        )
    return info


def find_interpreter(python_version: str) -> str:
    """A working interpreter of the minor on this machine (exact patch first): PATH, then pyenv."""
    minor = minor_of(python_version)
    candidates = [shutil.which(f"python{minor}") or ""]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    if pyenv.is_dir():
        candidates += [str(p / "bin" / f"python{minor}") for p in sorted(pyenv.iterdir())]
    working: list[tuple[str, str]] = []
    for candidate in dict.fromkeys(c for c in candidates if c and os.access(c, os.X_OK)):
        try:
            working.append((candidate, interpreter_info(candidate)["version"]))
        except BaseImageError:
            continue  # e.g. a pyenv shim with no version selected
    working = [w for w in working if minor_of(w[1]) == minor]
    working.sort(key=lambda w: w[1] != python_version)
    if working:
        return working[0][0]
    raise BaseImageError(
        f"no Python {minor} interpreter found on this machine to carry",
        hint=f"pass --python-executable, or {BOOTSTRAP_HINT.format(minor=minor)}",
    )


def interpreter_fingerprint(prefix: str, minor: str) -> str:
    """sha256 over the interpreter binary and libpython (regular files) of ``prefix``."""
    root = Path(prefix)
    files = [
        root / "bin" / f"python{minor}",
        *sorted((root / "lib").glob(f"libpython{minor}*.so*")),
    ]
    digest = hashlib.sha256()
    for path in files:
        if path.is_file() and not path.is_symlink():
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "sha256:" + digest.hexdigest()


def _ignore_for(prefix: Path, minor: str) -> Callable[[str, list[str]], set[str]]:
    stdlib = f"lib/python{minor}"

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(prefix).as_posix()
        skip = {n for n in names if n == "__pycache__" or n.endswith((".a", ".pyc"))}
        if rel == stdlib:
            skip |= _STDLIB_DROP & set(names)
        elif rel.startswith(stdlib + "/"):
            skip |= _NESTED_DROP & set(names)
        if rel == f"{stdlib}/lib-dynload":
            skip |= {n for n in names if n.startswith(_DYNLOAD_DROP)}
        if rel == "bin":
            skip |= {n for n in names if n.startswith(("idle", "pip"))}
        if rel == "share":
            skip |= {"man"} & set(names)
        return skip

    return ignore


def _elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def _relink(root: Path, old_prefixes: list[str], minor: str) -> None:
    """Strip debug data and make every library search path relative ($ORIGIN)."""
    strip = shutil.which("strip")
    fixed = {
        root / "bin" / f"python{minor}": "$ORIGIN/../lib",
        root / "lib" / f"libpython{minor}.so.1.0": "$ORIGIN",
    }
    dynload = root / "lib" / f"python{minor}" / "lib-dynload"
    for elf in _elf_files(root):
        if strip and elf.suffix != ".o":
            subprocess.run([strip, "--strip-debug", str(elf)], check=False, capture_output=True)
        rpath = fixed.get(elf) or ("$ORIGIN/../.." if elf.parent == dynload else None)
        if rpath is None:
            rpath = _relative_rpath(elf, root, old_prefixes)
        if rpath is not None:
            subprocess.run(
                ["patchelf", "--set-rpath", rpath, str(elf)], check=True, capture_output=True
            )


def _relative_rpath(elf: Path, root: Path, old_prefixes: list[str]) -> Optional[str]:
    got = subprocess.run(["patchelf", "--print-rpath", str(elf)], capture_output=True, text=True)
    entries = [e for e in got.stdout.strip().split(":") if e]
    if got.returncode != 0 or not any(e.startswith(tuple(old_prefixes)) for e in entries):
        return None
    out = []
    for entry in entries:
        for old in old_prefixes:
            if entry == old or entry.startswith(old + "/"):
                target = root / entry[len(old) :].lstrip("/")
                entry = "$ORIGIN/" + os.path.relpath(target, elf.parent)
                break
        out.append(entry.replace("/.", "") if entry.endswith("/.") else entry)
    return ":".join(out)


def replace_in_binary(data: bytes, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` inside NUL-terminated strings without moving any string.

    Each string holding ``old`` gets its new text and a NUL at the same start; the bytes from the
    last path component of ``old`` on are left alone, because linkers share string tails (the
    version ``3.12.1`` may be the tail of ``/root/.pyenv/versions/3.12.1``).
    """
    out = bytearray(data)
    pos = out.find(old)
    while pos != -1:
        start = out.rfind(b"\0", 0, pos) + 1
        end = out.find(b"\0", pos)
        end = len(out) if end == -1 else end
        text = bytes(out[start:end])
        changed = text.replace(old, new)
        if len(changed) > len(text):
            raise BaseImageError(
                f"cannot rewrite {old.decode(errors='replace')} in a binary: the new prefix is "
                "longer",
                hint="carry an interpreter whose prefix is longer than /usr/local",
            )
        keep = text.rfind(old) + old.rstrip(b"/").rfind(b"/") + 1
        keep = max(keep, len(changed) + 1) if len(changed) < len(text) else len(text)
        out[start : start + keep] = (changed + b"\0" * keep)[:keep]
        pos = out.find(old, start + 1)
    return bytes(out)


def _rewrite_prefix(root: Path, old_prefixes: list[str], new: str) -> int:
    """Replace the host prefix in every file and symlink below ``root``; count files changed."""
    olds = sorted({o.encode() for o in old_prefixes}, key=len, reverse=True)
    changed = 0
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            target = os.readlink(path)
            for old in old_prefixes:
                if target == old or target.startswith(old + "/"):
                    new_target = root / target[len(old) :].lstrip("/")
                    path.unlink()
                    path.symlink_to(os.path.relpath(new_target, path.parent))
                    break
            continue
        if not path.is_file():
            continue
        data = original = path.read_bytes()
        for old_bytes in olds:
            if old_bytes in data:
                binary = b"\0" in data
                data = (
                    replace_in_binary(data, old_bytes, new.encode())
                    if binary
                    else data.replace(old_bytes, new.encode())
                )
        if data != original:
            mode = path.stat().st_mode
            path.write_bytes(data)
            path.chmod(mode)
            changed += 1
    return changed


def stage_interpreter(prefix: str, staging: Path, minor: str, progress: Optional[Progress]) -> None:
    """Copy a prefix (no site-packages, tests, static libraries) and make it relocatable."""
    source = Path(prefix)
    shutil.copytree(source, staging, symlinks=True, ignore=_ignore_for(source, minor))
    (staging / "lib" / f"python{minor}" / "site-packages").mkdir(exist_ok=True)
    olds = sorted({prefix.rstrip("/"), str(source.resolve())}, key=len, reverse=True)
    _relink(staging, olds, minor)
    count = _rewrite_prefix(staging, olds, CARRY_PREFIX)
    for name in ("python3", "python"):
        link = staging / "bin" / name
        if not link.exists():
            link.symlink_to(f"python{minor}")
    _say(progress, f"staged {prefix} -> {CARRY_PREFIX} ({count} files rewritten)")


def _carry_hooks(staging: Path, work: Path, minor: str, olds: list[str]) -> list[str]:
    out = shlex.quote(str(work))
    lib = f"/usr/local/lib/python{minor}"
    check = (
        f"for f in /usr/local/bin/python{minor} /usr/local/lib/libpython{minor}*.so* "
        f'{lib}/lib-dynload/*.so; do [ -L "$f" ] || {{ echo "== $f"; ldd "$f" 2>&1; }}; done'
    )
    grep = " ".join(f"-e {shlex.quote(o)}" for o in olds)
    return [
        f"sync-in {staging} /usr/local",
        'chroot "$1" ldconfig',
        f'chroot "$1" sh -c {shlex.quote(check)} > {out}/ldd.txt 2>&1 || true',
        f'chroot "$1" /usr/local/bin/python{minor} -m compileall -q -j 2 '
        f"--invalidation-mode unchecked-hash {lib} > {out}/compile.txt 2>&1 || true",
        f'grep -rlF {grep} "$1/usr/local" > {out}/leaks.txt 2>&1 || true',
    ]


def check_carried(work: Path) -> None:
    """Fail clearly on a missing library or glibc symbol version, or a host path left behind."""
    missing, current = [], ""
    for line in (work / "ldd.txt").read_text(errors="replace").splitlines():
        if line.startswith("== "):
            current = line[3:]
        elif "not found" in line:
            missing.append(f"{Path(current).name}: {line.strip()}")
    if missing:
        raise BaseImageError(
            "the carried interpreter does not load in the Debian rootfs: " + "; ".join(missing[:8]),
            hint="carry an interpreter built for an older glibc, or pass --base IMAGE",
        )
    leaks = [ln for ln in (work / "leaks.txt").read_text().splitlines() if ln.strip()]
    if leaks:
        raise BaseImageError(
            f"host paths remain in {len(leaks)} carried files, e.g. {leaks[0]}",
            hint="report this: the interpreter's prefix could not be rewritten",
        )


def _carry_release(info: dict[str, str]) -> str:
    wanted = tuple(int(p) for p in (info.get("glibc") or "0").split(".")[:2] if p.isdigit())
    for release in CARRY_RELEASES:
        have = tuple(int(p) for p in RELEASE_GLIBC[release].split("."))
        if have >= wanted:
            return release
    return CARRY_RELEASES[-1]


def bootstrap_carried(
    client: Any, python_executable: str, progress: Optional[Progress] = None
) -> BaseImage:
    """Route 2: the interpreter's own prefix carried into /usr/local of a Debian rootfs."""
    _check_tools(carried=True)
    started = time.monotonic()
    info = interpreter_info(python_executable)
    minor, prefix = minor_of(info["version"]), info["base_prefix"]
    release = _carry_release(info)
    interpreter = {"version": info["version"], "sha256": interpreter_fingerprint(prefix, minor)}
    _say(progress, f"carrying Python {info['version']} from {prefix} onto {release}")
    with _workdir() as tmp:
        work = Path(tmp)
        staging = work / "usr-local"
        stage_interpreter(prefix, staging, minor, progress)
        olds = sorted({prefix.rstrip("/"), str(Path(prefix).resolve())})
        hooks = _carry_hooks(staging, work, minor, olds) + _common_hooks(
            work, "/usr/local/bin/python3"
        )
        packages = (*COMMON_PACKAGES, *CARRY_PACKAGES[release])
        _mmdebstrap(release, packages, hooks, work / "rootfs.tar", progress)
        check_carried(work)
        pkgs, facts = _read_facts(work)
        base = _finish(
            client, work / "rootfs.tar", release, "carried", pkgs, facts, interpreter, progress
        )
    base.exact = True
    _say(progress, f"base {base.reference} ready in {time.monotonic() - started:.1f} s")
    return base


# --------------------------------------------------------------------------- entry points


def bootstrap(
    client: Any,
    python_version: Optional[str] = None,
    python_executable: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> BaseImage:
    """Make a base offline: route 2 when an interpreter is given or no Debian release has the
    minor, route 1 otherwise. ``python_version`` defaults to the interpreter's, or this one's."""
    if python_executable is not None:
        info = interpreter_info(python_executable)
        if python_version and minor_of(python_version) != minor_of(info["version"]):
            raise BaseImageError(
                f"{python_executable} is Python {info['version']}, not {python_version}",
                hint="pass an interpreter of the kernel's minor version",
            )
        return bootstrap_carried(client, python_executable, progress)
    version = python_version or ".".join(map(str, sys.version_info[:3]))
    if minor_of(version) in DEBIAN_PYTHON:
        return bootstrap_debian(client, version, progress)
    return bootstrap_carried(client, find_interpreter(version), progress)


def ensure_base(
    client: Any,
    python_version: str,
    python_executable: Optional[str] = None,
    progress: Optional[Progress] = None,
) -> BaseImage:
    """An existing bootstrapped base for these inputs, else :func:`bootstrap` one.

    Route 1 reuses a base of the same Debian release; route 2 one carrying the same interpreter
    (same sha256). Neither rebuilds to find out whether Debian moved on: ``bootstrap`` does.
    """
    minor = minor_of(python_version)
    bases = list_bases(client)
    if python_executable is None and minor in DEBIAN_PYTHON:
        release = DEBIAN_PYTHON[minor]
        found = [b for b in bases if b.route == "debian" and b.release == release]
    else:
        exe = python_executable or find_interpreter(python_version)
        info = interpreter_info(exe)
        fingerprint = interpreter_fingerprint(info["base_prefix"], minor_of(info["version"]))
        found = [b for b in bases if b.interpreter == fingerprint]
        python_executable = exe
    if found:
        base = found[0]
        base.exact = _has_patch(python_version) and base.python_version == python_version
        _say(progress, f"reusing {base.reference}")
        return base
    return bootstrap(client, python_version, python_executable, progress)


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m jupyter_containerize.core.image.baseimage --python 3.11``: bootstrap a base."""
    parser = argparse.ArgumentParser(prog="python -m jupyter_containerize.core.image.baseimage")
    parser.add_argument("--python", dest="python_version", help="X.Y or X.Y.Z")
    parser.add_argument("--python-executable", help="carry this interpreter (route 2)")
    parser.add_argument("--force", action="store_true", help="bootstrap even if a base exists")
    parser.add_argument("--json", action="store_true", help="print the base as JSON")
    args = parser.parse_args(argv)
    from jupyter_containerize.core.engine import client as engine
    from jupyter_containerize.core.errors import ContainerizeError

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        client = engine.client()  # the engine the docker CLI would use (DOCKER_HOST, context)
        version = args.python_version or (
            interpreter_info(args.python_executable)["version"]
            if args.python_executable
            else ".".join(map(str, sys.version_info[:3]))
        )
        if args.force:
            base = bootstrap(client, version, args.python_executable, progress)
        else:
            base = ensure_base(client, version, args.python_executable, progress)
    except ContainerizeError as exc:  # a base image's problem, or no engine at the endpoint
        print(f"error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(base.to_json(), indent=2) if args.json else base.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
