"""The files a lock's index packages install, with their sha256: the ``files`` of each package.

For every distribution the image installs from the package index as ``name==version``, the
lock records the one file uv installs for the lock's platform and Python (the wheel for that
platform tag, or the sdist when there is none): its file name, sha256, URL and the index it
came from. uv's own resolution says which file that is (``uv pip compile --format
pylock.toml`` for the platform), so the recorded file is the one an install picks; what the
lock recorded before for the same pin is kept, so an unchanged environment asks nothing.

Local, editable, VCS, direct-URL and conda sources record no files here.
"""

from __future__ import annotations

from typing import Any

import tomllib
from packaging.version import InvalidVersion, Version

from ..models import normalize
from .uv import bare_url, index_url, platform_tag, run_uv, uv_reason

HASHED_SOURCES = ("index", "unknown")  # installed in the image as name==version from the index
DEFAULT_INDEX = "https://pypi.org/simple"


def hashed_pin(package: dict[str, Any]) -> str | None:
    """``name==version`` of a package the image installs from the index, else None."""
    pin = f"{package['name']}=={package['version']}"
    if package.get("source") in HASHED_SOURCES and package.get("requirement") == pin:
        return pin
    return None


def record_files(lock: dict[str, Any], old: dict[str, Any] | None = None) -> None:
    """Give every index package of ``lock`` its ``files`` (in place).

    A package ``old`` (the lock before, for the same platform) records for the same pin keeps
    those files; the others are resolved in one uv run. When that run fails (no index
    reachable), those packages stay without files and a warning says so: the lock still
    builds, without the hash check.
    """
    known: dict[str, list[dict[str, str]]] = {}
    if old is not None and old.get("platform") == lock.get("platform"):
        for package in old.get("packages", []):
            pin = hashed_pin(package)
            if pin and isinstance(package.get("files"), list) and package["files"]:
                known[normalize(pin)] = package["files"]
    todo: dict[str, dict[str, Any]] = {}
    for package in lock["packages"]:
        pin = hashed_pin(package)
        if pin is None:
            continue
        if normalize(pin) in known:
            package["files"] = known[normalize(pin)]
        else:
            todo[normalize(package["name"])] = package
    if not todo:
        return
    try:
        found = installed_files(
            [hashed_pin(p) or "" for p in todo.values()], lock["python"]["version"],
            lock["platform"],
        )
    except _ResolveFailed as exc:
        lock["warnings"] = sorted({*lock.get("warnings", []), (
            f"file hashes were not recorded for {len(todo)} package(s) ({exc}): the image "
            "installs them unchecked; freeze again with the package index reachable")})
        return
    for key, package in todo.items():
        files = found.get(key)
        if files and _same_version(files[0], package["version"]):
            package["files"] = files[1]


class _ResolveFailed(Exception):
    pass


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def installed_files(
    pins: list[str], python_version: str, platform: str
) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """Normalized name -> (version, [the file uv installs for ``platform``]) for ``pins``."""
    index = bare_url(index_url() or DEFAULT_INDEX).rstrip("/")
    done = run_uv(
        ["pip", "compile", "requirements.in", "--no-deps", "--python-version", python_version,
         "--python-platform", platform_tag(platform), "--format", "pylock.toml",
         "--no-header", "--no-annotate", "--quiet"],
        {"requirements.in": pins},
        timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise _ResolveFailed(uv_reason(done.stderr))
    try:
        data = tomllib.loads(done.stdout) if done.stdout.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        raise _ResolveFailed(f"uv wrote no readable pylock.toml: {exc}") from exc
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for package in data.get("packages", []):
        wheels = package.get("wheels") or []
        chosen = wheels[:1] or ([package["sdist"]] if package.get("sdist") else [])
        files = [f for f in (_file(entry, index) for entry in chosen) if f is not None]
        if files:
            out[normalize(package["name"])] = (str(package.get("version", "")), files)
    return out


def _file(entry: dict[str, Any], index: str) -> dict[str, str] | None:
    url = entry.get("url")
    sha = (entry.get("hashes") or {}).get("sha256")
    if not isinstance(url, str) or not isinstance(sha, str):
        return None
    name = entry.get("name") or url.rsplit("/", 1)[-1].split("#")[0]
    return {"name": str(name), "sha256": sha.lower(), "url": bare_url(url), "index": index}
