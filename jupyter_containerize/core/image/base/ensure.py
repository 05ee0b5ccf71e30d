"""Making a base: reuse one made from the same inputs, else bootstrap it by the route that
fits (:mod:`.debian` when a Debian release ships the minor, else :mod:`.carry`)."""

from __future__ import annotations

import sys
from typing import Any, Optional

from ...errors import BaseImageError
from .carry import bootstrap_carried, find_interpreter, interpreter_fingerprint, interpreter_info
from .debian import bootstrap_debian
from .find import list_bases
from .model import DEBIAN_PYTHON, BaseImage, Progress, has_patch, minor_of, say


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
        base.exact = has_patch(python_version) and base.python_version == python_version
        say(progress, f"reusing {base.reference}")
        return base
    return bootstrap(client, python_version, python_executable, progress)
