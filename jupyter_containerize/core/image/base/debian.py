"""Bootstrapping a base offline with mmdebstrap from the host's Debian sources, and importing
its root filesystem into the engine.

Route 1 ("debian", :func:`bootstrap_debian`): the Debian release whose ``python3`` has the
kernel's minor. The carried route (:mod:`.carry`) uses the same rootfs, hooks and import.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from hashlib import sha256
from pathlib import Path
from typing import Any, Optional

from ... import labels
from ...engine import images
from ...errors import BaseImageError, ContainerizeError
from ...oci.blobstore import add_blob_file
from .model import (
    BASE_INTERPRETER,
    BASE_RELEASE,
    BASE_ROUTE,
    COMMON_PACKAGES,
    DEBIAN_PYTHON,
    DEBIAN_PYTHON_PACKAGES,
    DPKG_OPTIONS,
    GLIBC,
    IMAGE_ENV,
    PROBE,
    PYTHON_PATH,
    ROLE_BASE,
    BaseImage,
    Progress,
    base_identity,
    base_reference,
    from_labels,
    has_patch,
    minor_of,
    parse_dpkg_query,
    say,
)


def check_tools(carried: bool) -> None:
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


def mmdebstrap(
    release: str, packages: Iterable[str], hooks: list[str], tar: Path, progress: Optional[Progress]
) -> None:
    cmd = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(packages)]
    if os.geteuid() != 0:
        cmd.append("--mode=unshare")
    cmd += [f"--dpkgopt={opt}" for opt in DPKG_OPTIONS]
    cmd += [f"--customize-hook={hook}" for hook in hooks]
    cmd += [release, str(tar), *host_mirrors(release)]
    say(progress, f"mmdebstrap {release} ({len(hooks)} hooks)")
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
            say(progress, line)
        if line.startswith("E: ") or (not errors and not line.startswith(("I: ", "W: "))):
            errors.append(line)
    if proc.wait() != 0:
        raise BaseImageError(
            f"mmdebstrap {release} failed: " + " | ".join((errors or tail)[-4:]),
            hint="check that the Debian archive is reachable through the host's apt sources",
        )


def common_hooks(facts_dir: Path, python: str) -> list[str]:
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


def read_facts(facts_dir: Path) -> tuple[list[str], dict[str, str]]:
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
    size = tar.stat().st_size / 1e6
    say(progress, f"docker import {reference} ({size:.0f} MB tar)")
    try:
        image = images.import_rootfs(client, tar, reference, changes)
    except ContainerizeError as exc:
        raise BaseImageError(exc.message, hint=exc.hint) from exc
    _keep_layer(tar, image.attrs["RootFS"]["Layers"])
    return image


def _keep_layer(tar: Path, diff_ids: list[str]) -> None:
    """Keep the imported tar as the base's one layer blob: builds on a containerd store and
    pushes then read it from our store instead of exporting it from the engine."""

    h = sha256()
    with open(tar, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    if diff_ids == ["sha256:" + h.hexdigest()]:
        add_blob_file(tar, diff_ids[0])


def finish(
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
    image = images.find(client, reference)
    if image is not None and (image.labels or {}).get(labels.BASE_IDENTITY) == identity:
        say(progress, f"{reference} already exists with this identity: reused")
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
    base = from_labels(image, reference)
    assert base is not None
    return base


def workdir() -> tempfile.TemporaryDirectory[str]:
    root = os.environ.get("JC_BOOTSTRAP_TMP") or None
    return tempfile.TemporaryDirectory(prefix="jc-base-", dir=root)


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
    check_tools(carried=False)
    started = time.monotonic()
    with workdir() as tmp:
        work = Path(tmp)
        hooks = common_hooks(work, "python3")
        packages = (*DEBIAN_PYTHON_PACKAGES, *COMMON_PACKAGES)
        mmdebstrap(release, packages, hooks, work / "rootfs.tar", progress)
        pkgs, facts = read_facts(work)
        base = finish(client, work / "rootfs.tar", release, "debian", pkgs, facts, None, progress)
    base.exact = has_patch(python_version) and base.python_version == python_version
    say(progress, f"base {base.reference} ready in {time.monotonic() - started:.1f} s")
    return base

