"""The lock in other tools' formats: PEP 751 ``pylock.toml`` (uv and pip install it),
``requirements.txt`` with ``--hash`` lines (pip's hash-checking mode) and a CycloneDX SBOM.

Each format writes what the lock records and nothing it does not: file URLs and hashes come
from the lock's per-package ``files``; a format that needs them refuses a lock without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from ..._version import __version__
from ..models import normalize
from ..options import EXPORT_FORMATS
from .errors import ExportFormatError
from .lockdata import is_wheel, lock_packages, package_files, python_version
from .sbom import build_sbom, sbom_bytes
from .sbomschema import check_sbom

CREATED_BY = "jupyter-containerize"
# PEP 508 markers of the platforms a lock is made for
_ENVIRONMENTS = {
    "linux/amd64": "sys_platform == 'linux' and platform_machine == 'x86_64'",
    "linux/arm64": "sys_platform == 'linux' and platform_machine == 'aarch64'",
}
_AGAIN = "freeze the notebook again so the lock records each package's files and hashes"


def export_lock(lock: dict[str, Any], fmt: str, **sbom_options: Any) -> bytes:
    """The lock written as ``fmt`` (one of :data:`EXPORT_FORMATS`); ``sbom_options`` go to
    :func:`.sbom.build_sbom` for ``cyclonedx``."""
    if fmt == "pylock":
        return to_pylock(lock).encode()
    if fmt == "requirements":
        return to_requirements(lock).encode()
    if fmt == "cyclonedx":
        document = build_sbom(lock, **sbom_options)
        check_sbom(document, "the exported SBOM", hint="freeze the notebook again, then export")
        return sbom_bytes(document)
    raise _unknown(fmt)


def _unknown(fmt: str) -> ExportFormatError:
    return ExportFormatError(
        f"export format {fmt!r} is not one of {', '.join(EXPORT_FORMATS)}",
        hint=f"pass one of: {', '.join(EXPORT_FORMATS)}",
    )


def export_filename(fmt: str, stem: str) -> str:
    """The conventional file name of an export of the lock of notebook ``stem``."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-") or "notebook"
    names = {"pylock": f"pylock.{safe}.toml", "requirements": f"{safe}.requirements.hashes.txt",
             "cyclonedx": f"{safe}.cdx.json"}  # fmt: skip
    if fmt not in names:
        raise _unknown(fmt)
    return names[fmt]


# ---- requirements.txt -------------------------------------------------------------------


def to_requirements(lock: dict[str, Any]) -> str:
    """A requirements.txt: ``name==version`` with a ``--hash=sha256:`` line per recorded file.

    pip checks every hash or none: a lock where only some packages have recorded files (or
    that holds VCS or local projects besides hashed ones) is refused.
    """
    packages = lock_packages(lock)
    hashed = [p for p in packages if package_files(p)]
    if hashed and len(hashed) != len(packages):
        missing = [f"{p['name']} {p['version']}" for p in packages if not package_files(p)]
        raise ExportFormatError(
            f"{len(missing)} package(s) have no recorded file hashes ({_some(missing)}), "
            "and pip checks the hashes of all packages or of none",
            hint=_AGAIN,
        )
    head = (f"# {lock.get('mode', 'full')} lock for Python {python_version(lock)} on "
            f"{lock.get('platform', '')}, exported by {CREATED_BY} {__version__}")  # fmt: skip
    lines = [head]
    if not hashed:
        lines.append("# this lock records no file hashes: pip cannot check what it downloads")
    for package in packages:
        line = _requirement_line(package)
        hashes = sorted({f["sha256"] for f in package_files(package)})
        lines.append(" \\\n".join([line] + [f"    --hash=sha256:{h}" for h in hashes]))
    return "\n".join(lines) + "\n"


def _requirement_line(package: dict[str, Any]) -> str:
    requirement = package.get("requirement")
    source = package.get("source") or "index"
    if isinstance(requirement, dict):
        path = str(requirement.get("path", "."))
        path = path if path.startswith(("/", ".")) else f"./{path}"
        return ("-e " if source == "editable" else "") + path
    if source in ("vcs", "url") and isinstance(requirement, str) and " @ " in requirement:
        return requirement
    return f"{package['name']}=={package['version']}"


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


# ---- pylock.toml --------------------------------------------------------------------------


def _toml(value: Any) -> str:
    """A TOML value: a basic string (JSON's escapes are TOML's), a boolean, an inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = json.dumps(str(value), ensure_ascii=False)
    return text.replace("\x7f", "\\u007f")


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml(key)


def _table(header: str, fields: Iterable[tuple[str, Any]]) -> list[str]:
    return [header] + [f"{_key(k)} = {_toml(v)}" for k, v in fields if v is not None]


def to_pylock(lock: dict[str, Any]) -> str:
    """A PEP 751 ``pylock.toml`` (lock-version 1.0) of the lock, for its Python and platform."""
    packages = lock_packages(lock)
    version = python_version(lock)
    minor = ".".join(version.split(".")[:2])
    head: list[tuple[str, Any]] = [("lock-version", "1.0")]
    platform = lock.get("platform")
    if platform in _ENVIRONMENTS:
        head.append(("environments", [_ENVIRONMENTS[platform]]))
    head += [("requires-python", f"=={minor}.*"), ("created-by", CREATED_BY)]
    lines = _table(f"# exported from a {lock.get('mode', 'full')} lock by "
                   f"{CREATED_BY} {__version__}", head)  # fmt: skip
    missing = []
    for package in packages:
        body = _pylock_package(package)
        if body is None:
            missing.append(f"{package['name']} {package['version']}")
        else:
            lines += [""] + body
    if missing:
        raise ExportFormatError(
            f"{len(missing)} package(s) have no recorded files with URLs ({_some(missing)}); "
            "a pylock.toml names the exact file to install",
            hint=_AGAIN,
        )
    return "\n".join(lines) + "\n"


def _pylock_package(package: dict[str, Any]) -> list[str] | None:
    source = package.get("source") or "index"
    requirement = package.get("requirement")
    name = normalize(package["name"])
    if isinstance(requirement, dict) or source in ("local", "editable"):
        path = requirement.get("path", ".") if isinstance(requirement, dict) else "."
        return _table("[[packages]]", [("name", name), ("version", package["version"])]) + \
            _table("[packages.directory]", [
                ("path", str(path)), ("editable", True if source == "editable" else None)
            ])  # fmt: skip
    if source == "vcs" and isinstance(requirement, str) and " @ " in requirement:
        url = requirement.split(" @ ", 1)[1].split("#")[0]
        kind, _, rest = url.partition("+")
        repo, _, commit = rest.rpartition("@") if "@" in rest.split("//", 1)[-1] else (rest, "", "")
        if not kind or not commit:
            return None
        return _table("[[packages]]", [("name", name), ("version", package["version"])]) + \
            _table("[packages.vcs]", [("type", kind), ("url", repo), ("commit-id", commit)])
    files = [f for f in package_files(package) if f.get("url")]
    if not files:
        return None
    index = next((f["index"] for f in files if f.get("index")), None)
    lines = _table("[[packages]]", [
        ("name", name), ("version", package["version"]), ("index", index)
    ])  # fmt: skip
    if source == "url":  # a direct URL: the one archive it names
        return lines + _table("[packages.archive]", _file_fields(files[0])[1:])
    sdists = [f for f in files if not is_wheel(f["name"])]
    if sdists:
        lines += [""] + _table("[packages.sdist]", _file_fields(sdists[0]))
    for wheel in (f for f in files if is_wheel(f["name"])):
        lines += [""] + _table("[[packages.wheels]]", _file_fields(wheel))
    return lines


def _file_fields(entry: dict[str, str]) -> list[tuple[str, Any]]:
    return [("name", entry["name"]), ("url", entry["url"]),
            ("hashes", {"sha256": entry["sha256"]})]  # fmt: skip
