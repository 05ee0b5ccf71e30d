"""Checks of a lock against a target platform with uv: the index packages with no wheel for
it, and the pins a resolution must keep."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InstallError
from ..models import normalize
from .uv import platform_tag, run_uv, uv_reason

PINNED_SOURCES = ("index", "conda", "unknown")
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def index_pins(lock: dict[str, Any]) -> dict[str, str]:
    """Normalized name -> ``name==version`` for the lock's packages that come from an index."""
    return {
        normalize(p["name"]): p["requirement"]
        for p in lock["packages"]
        if p["source"] in PINNED_SOURCES and isinstance(p["requirement"], str)
    }


def preflight(lock: dict[str, Any], platform: str, *, force: bool = False) -> list[str]:
    """Names of the lock's index packages that have no wheel for ``platform``.

    Checked only when the captured system/machine differs from ``platform`` (or ``force``):
    one batched ``uv pip install --dry-run --no-deps --only-binary :all:``, then again
    without each package uv names, until it passes.
    """
    if not force and captured_platform(lock) == platform:
        return []
    tag = platform_tag(platform)
    remaining = index_pins(lock)
    minor = ".".join(str(lock["python"]["version"]).split(".")[:2])
    missing: list[str] = []
    while remaining:
        done = _dry_run(list(remaining.values()), tag, minor)
        if done.returncode == 0:
            break
        text = done.stderr.lower()
        named = [k for k, r in remaining.items() if re.search(_pin_pattern(k, r), text)]
        if not named:
            raise InstallError(
                f"cannot check packages for {platform}: {uv_reason(done.stderr)}",
                hint="check access to the package index",
            )
        for key in named:
            missing.append(remaining.pop(key).split("==")[0])
    return sorted(missing, key=normalize)


def _pin_pattern(key: str, requirement: str) -> str:
    version = requirement.split("==", 1)[1]
    name = r"[-_.]".join(re.escape(part) for part in key.split("-"))
    return rf"(?<![\w.-]){name}==\s*{re.escape(version.lower())}(?![\w.+-])"


def _dry_run(pins: list[str], tag: str, minor: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as tmp:
        return run_uv(
            ["pip", "install", "--dry-run", "--no-deps", "--only-binary", ":all:",
             "--python-platform", tag, "--python-version", minor,
             "--target", str(Path(tmp, "target")), "-r", "requirements.txt"],
            {"requirements.txt": pins},
            timeout=300,
        )  # fmt: skip


def captured_platform(lock: dict[str, Any]) -> str:
    """The captured interpreter's platform in the image form (``linux/amd64``)."""
    python = lock.get("python", {})
    system = str(python.get("system", "")).lower()
    machine = str(python.get("machine", ""))
    return f"{system}/{_MACHINES.get(machine.lower(), machine)}"
