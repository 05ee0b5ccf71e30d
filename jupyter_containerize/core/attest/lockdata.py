"""What the supply-chain documents read of a lock, checked once: its packages, each package's
recorded files (``files``: name, sha256, url or index; absent in older locks), digests and
timestamps in the one spelling every document uses."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone
from typing import Any

from ..models import normalize
from .errors import AttestInputError

_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOCK_HINT = "freeze the notebook again to write a complete lock"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_hex(value: str, what: str) -> str:
    """The 64 hex digits of ``sha256:<hex>`` or ``<hex>``; a one-line error for anything else."""
    text = value.strip() if isinstance(value, str) else ""
    hexpart = text[len("sha256:"):] if text.startswith("sha256:") else text
    if not _HEX64.fullmatch(hexpart):
        raise AttestInputError(
            f"{what} {value!r} is not a sha256 digest",
            hint="pass sha256:<64 lowercase hex digits>, as `docker inspect` prints it",
        )
    return hexpart


def rfc3339(moment: datetime | str) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC from an aware datetime or an ISO 8601 string."""
    given = moment
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError as exc:
            raise AttestInputError(
                f"time {moment!r} is not an ISO 8601 date and time",
                hint="pass a time such as 2026-01-31T12:00:00Z",
            ) from exc
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise AttestInputError(
            f"time {given!s} has no time zone", hint="pass a UTC time such as 2026-01-31T12:00:00Z"
        )
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lock_packages(lock: Any) -> list[dict[str, Any]]:
    """The lock's packages, sorted by normalized name; each has a string name and version."""
    if not isinstance(lock, dict) or not isinstance(lock.get("packages"), list):
        raise AttestInputError("the lock has no package list", hint=_LOCK_HINT)
    out = []
    for index, package in enumerate(lock["packages"]):
        if not isinstance(package, dict):
            raise AttestInputError(f"package {index} of the lock is not a table", hint=_LOCK_HINT)
        for key in ("name", "version"):
            if not isinstance(package.get(key), str) or not package[key].strip():
                raise AttestInputError(
                    f"package {index} of the lock has no {key}", hint=_LOCK_HINT
                )
        out.append(package)
    return sorted(out, key=lambda p: (normalize(p["name"]), p["version"]))


def python_version(lock: dict[str, Any]) -> str:
    python = lock.get("python")
    version = python.get("version") if isinstance(python, dict) else None
    if not isinstance(version, str) or not re.fullmatch(r"\d+\.\d+(\.\d+)?\S*", version):
        raise AttestInputError("the lock does not say which Python it is for", hint=_LOCK_HINT)
    return version


def package_files(package: dict[str, Any]) -> list[dict[str, str]]:
    """The package's recorded files (name, sha256, url and index when known), sorted by name.

    A lock written before files were recorded has none: an empty list.
    """
    files = package.get("files")
    if files is None:
        return []
    what = f"{package['name']} {package['version']}"
    if not isinstance(files, list):
        raise AttestInputError(f"the files of {what} in the lock are not a list", hint=_LOCK_HINT)
    out = []
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise AttestInputError(f"a file of {what} in the lock has no name", hint=_LOCK_HINT)
        name = entry["name"]
        if "/" in name or "\\" in name or not name.strip():
            raise AttestInputError(f"file {name!r} of {what} is not a file name", hint=_LOCK_HINT)
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise AttestInputError(
                f"file {name} of {what} has no valid sha256 in the lock", hint=_LOCK_HINT
            )
        item = {"name": name, "sha256": sha}
        for key in ("url", "index"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                if any(ord(c) < 33 for c in value):
                    raise AttestInputError(
                        f"the {key} of file {name} of {what} holds spaces or control characters",
                        hint=_LOCK_HINT,
                    )
                item[key] = value
        out.append(item)
    return sorted(out, key=lambda f: f["name"])


def is_wheel(file_name: str) -> bool:
    return file_name.endswith(".whl")
