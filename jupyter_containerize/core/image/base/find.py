"""Finding a base for a kernel's Python in an engine.

Order of :func:`find_base`: a configured reference; ``python:X.Y.Z-slim`` then
``python:X.Y-slim`` (in the engine, or pulled when a registry answers); then a base we
bootstrapped (label ``io.jupyter-containerize.role=base``) for the kernel's minor, the one with
the kernel's exact patch version first.

A pull of an official name that failed is not tried again for :data:`RETRY_PULL_AFTER`
seconds, by any process, nor is any name of a registry that did not answer (or not within
:data:`PULL_TIMEOUT`): offline or behind a firewall that drops packets, every build would
otherwise wait for both names first. A configured base is always pulled when the engine lacks
it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Optional

from ... import labels
from ...engine import images
from ...errors import BaseImageError, ContainerizeError
from ...oci.reference import INDEX_NAME, host_of, unreachable
from ...paths import cache_dir
from .model import (
    BASE_REPOSITORY,
    BOOTSTRAP_HINT,
    PROBE,
    ROLE_BASE,
    BaseImage,
    from_labels,
    has_patch,
    image_identity,
    minor_of,
    site_packages_layout,
)

PULL_TIMEOUT = 20.0
RETRY_PULL_AFTER = 300.0


def _probe_dir() -> Path:
    return cache_dir() / "bases"


def probe_image(client: Any, image: Any) -> dict[str, str]:
    """Python facts of an image not made by us: one tiny container, cached by image id."""
    path = _probe_dir() / (image.id.split(":", 1)[-1] + ".json")
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        pass
    try:
        out = images.run_output(client, image.id, ["python3", "-c", PROBE],
                                {labels.MANAGED: "true"})
        facts = json.loads(out.strip().splitlines()[-1])
    except (ContainerizeError, ValueError, IndexError) as exc:
        ref = (image.tags or [image.id])[0]
        raise BaseImageError(
            f"image {ref} has no working python3", hint="choose a base image with Python"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(facts, sort_keys=True))
    return dict(facts)


def describe(client: Any, image: Any, reference: str, python_version: str, route: str) -> BaseImage:
    """A BaseImage for ``image``: from our labels, else from a (cached) probe container."""
    base = from_labels(image, reference)
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
    base.exact = has_patch(python_version) and base.python_version == python_version
    return base


def _reference_of(image: Any) -> str:
    tags = sorted(image.tags or [])
    ours = [t for t in tags if t.startswith(BASE_REPOSITORY + ":")]
    return (ours or tags or [image.id])[0]


def list_bases(client: Any) -> list[BaseImage]:
    """Our bootstrapped bases in the engine, newest first."""
    ours = images.labelled(client, f"{labels.ROLE}={ROLE_BASE}")
    ours.sort(key=lambda im: im.attrs.get("Created", ""), reverse=True)
    found = []
    for image in ours:
        # Skip untagged images and images built on a base (they inherit its labels until a
        # later instruction overrides them): a bootstrapped base is one imported layer.
        if not image.tags or len(image.attrs.get("RootFS", {}).get("Layers") or []) != 1:
            continue
        base = from_labels(image, _reference_of(image))
        if base is not None:
            found.append(base)
    return found


def _try_pull(client: Any, reference: str, timeout: float = PULL_TIMEOUT,
              remember: bool = False) -> Any:
    """Pull ``reference`` if a registry answers within ``timeout``; None otherwise. With
    ``remember``, a failure is recorded and a pull failed recently is not tried."""
    registry = f"registry {host_of(reference) or INDEX_NAME}"
    if remember and _failed_recently(reference, registry):
        return None
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["image"] = images.pull(client, reference)
        except Exception as exc:  # any engine or network failure means "not pullable"
            result["error"] = exc

    thread = threading.Thread(target=work, daemon=True, name=f"pull {reference}")
    thread.start()
    thread.join(timeout)
    if "image" not in result:
        if remember:  # a registry that did not answer is not asked for the next name either
            error = result.get("error")
            silent = error is None or unreachable(str(error))
            _record_failure(reference, *([registry] if silent else []))
        return None
    return result["image"]


def _failures_file() -> Path:
    return _probe_dir() / "failed-pulls.json"


def _failures() -> dict[str, float]:
    try:
        data = json.loads(_failures_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, (int, float))} \
        if isinstance(data, dict) else {}


def _failed_recently(*keys: str) -> bool:
    failures, now = _failures(), time.time()
    return any(0 <= now - failures[k] < RETRY_PULL_AFTER for k in keys if k in failures)


def _record_failure(*keys: str) -> None:
    """Best effort: a cache that cannot be written only means the next build tries again."""
    now = time.time()
    failures = {k: v for k, v in _failures().items() if now - v < RETRY_PULL_AFTER}
    failures.update((key, now) for key in keys)
    path = _failures_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(failures, sort_keys=True))
        tmp.replace(path)
    except OSError:
        return


def _local_or_pull(client: Any, reference: str, pull: bool, official: bool = False) -> Any:
    """The image, present or pulled. An official name is taken only with a registry digest:
    a local image that only carries it (a stand-in tagged by hand) is not the official one."""
    image = images.find(client, reference)
    if official and image is not None and not (image.attrs.get("RepoDigests") or []):
        image = None
    if image is None and pull:
        image = _try_pull(client, reference, remember=official)
    return image


def official_references(python_version: str) -> list[str]:
    """``python:X.Y.Z-slim`` (when the patch is known) then ``python:X.Y-slim``."""
    minor = minor_of(python_version)
    refs = [f"python:{python_version}-slim"] if has_patch(python_version) else []
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
    same.sort(key=lambda b: not (has_patch(python_version) and b.python_version == python_version))
    best = same[0]
    best.exact = has_patch(python_version) and best.python_version == python_version
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


