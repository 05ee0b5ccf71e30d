"""Environment capture: what an interpreter has installed and where each distribution came from.

Standard library only, Python 3.8+. This source runs inside interpreters that do not have our
package: as a script (``python capture.py`` prints :func:`capture_environment` as JSON on
stdout) or inside a live kernel (``exec(source, namespace)`` with a fresh namespace dict, then
``capture_environment(imported=imported_modules())``). The dict has the shape of
``EnvironmentSpec.to_json()``.

The host-side helpers that run this file live elsewhere: ``lock.capture_python`` runs it,
``interpreter.interpreter_for`` chooses and checks the interpreter it runs in first.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import sys
import sysconfig
from importlib import metadata
from typing import Any
from urllib.parse import unquote, urlparse

_CONDA_MARKERS = ("/conda-bld/", "/feedstock_root/", "/croot/", "/tmp/build/")
_SKIP_TOP = ("bin", "__pycache__", "..")


def capture_environment(
    imported: list[str] | None = None, path: list[str] | None = None
) -> dict[str, Any]:
    """Describe this interpreter and its distributions as a JSON-ready dict.

    ``imported`` is the list of top-level modules a live kernel has loaded; ``None`` means the
    capture runs as a script, outside any kernel. ``path`` replaces ``sys.path`` as the list
    of folders searched for distributions.
    """
    warnings: list[str] = []
    return {
        "python_version": platform.python_version(),
        "python_executable": sys.executable,
        "implementation": sys.implementation.name,
        "platform_system": platform.system(),
        "machine": platform.machine(),
        "libc": _libc(),
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "distributions": _distributions(warnings, path),
        "imported": sorted(set(imported or [])),
        "live_kernel": imported is not None,
        "warnings": warnings,
    }


def imported_modules() -> list[str]:
    """Top-level names in ``sys.modules`` that are neither standard library nor built in.

    Private names (``_x``) and modules without a file (runtime helpers of compiled
    extensions register such names) are left out: they are not what a notebook imports.
    """
    stdlib = _stdlib_names()
    names: set[str] = set()
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        if not top or top.startswith("_") or top in stdlib or top in names:
            continue
        if top in sys.builtin_module_names:
            continue
        if name == top and not (getattr(module, "__file__", None) or _has_path(module)):
            continue
        if name == top and vendored_module(module):
            continue
        names.add(top)
    return sorted(names)


def vendored_module(module: object) -> bool:
    """A top-level module that lives inside another distribution's folder below
    site-packages (debugpy puts its vendored pydevd on sys.path): the distribution that
    ships it is what an image needs, not a name of its own."""
    import site

    where = getattr(module, "__file__", None)
    if not where:
        return False
    path = os.path.realpath(where)
    folder = os.path.dirname(path)
    if os.path.basename(path) == "__init__.py":
        folder = os.path.dirname(folder)
    try:
        sites = [os.path.realpath(p) for p in site.getsitepackages()]
    except AttributeError:  # virtualenv's old site module
        return False
    return any(folder != s and folder.startswith(s + os.sep) for s in sites)


def _has_path(module: object) -> bool:
    try:
        return bool(getattr(module, "__path__", None))
    except Exception:  # a lazy module may raise on attribute access
        return False


def _stdlib_names() -> set[str]:
    names = getattr(sys, "stdlib_module_names", None)
    if names:
        return set(names)
    found = set(sys.builtin_module_names)
    stdlib = sysconfig.get_paths().get("stdlib", "")
    for folder in (stdlib, os.path.join(stdlib, "lib-dynload")):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            if entry in ("site-packages", "dist-packages"):
                continue
            name = _module_name(entry, os.path.isdir(os.path.join(folder, entry)))
            if name:
                found.add(name)
    return found


def _libc() -> str:
    try:
        lib, version = platform.libc_ver()
    except OSError:
        return ""
    return f"{lib} {version}".strip()


def _distributions(warnings: list[str], path: list[str] | None) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    found = metadata.distributions(path=path) if path is not None else metadata.distributions()
    for dist in found:
        where = str(getattr(dist, "_path", "") or "")
        meta = _metadata(dist)
        name = meta.get("Name")
        if not name:
            warnings.append(
                f"a distribution at {where or '?'} has no name in its metadata; skipped"
            )
            continue
        key = _normalize(name)
        if key in seen:
            first = seen[key]
            if first["version"] != meta.get("Version"):
                warnings.append(
                    f"{name} {meta.get('Version')} at {where} is shadowed by "
                    f"{first['name']} {first['version']}, which comes first on sys.path"
                )
            continue
        seen[key] = _describe(dist, meta, where)
    return [seen[key] for key in sorted(seen)]


def _describe(dist: metadata.Distribution, meta: dict[str, Any], where: str) -> dict[str, Any]:
    installer = (_read(dist, "INSTALLER") or "").strip() or None
    info = {
        "name": meta["Name"],
        "version": meta.get("Version") or "",
        "source": "index",
        "url": None,
        "revision": None,
        "path": None,
        "installer": installer,
        "requires": meta.get("Requires-Dist") or list(dist.requires or []),
        "top_level": _top_level(dist),
    }
    info.update(_origin(dist, installer, where))
    if info["source"] == "editable" and not info["top_level"] and info["path"]:
        info["top_level"] = _project_modules(info["path"])
    return info


def _origin(dist: metadata.Distribution, installer: str | None, where: str) -> dict[str, Any]:
    """source, url, revision and path from direct_url.json (PEP 610) and INSTALLER."""
    text = _read(dist, "direct_url.json")
    if not text:
        if installer == "conda":
            return {"source": "conda"}
        parent = os.path.dirname(where)
        if where.endswith(".egg-info") and os.path.basename(parent) not in _SITE_DIRS:
            return {"source": "editable", "path": parent}
        return {"source": "index"}
    try:
        data = json.loads(text)
        url = str(data["url"])
    except (ValueError, KeyError, TypeError):
        return {"source": "unknown"}
    if installer == "conda" or any(m in url for m in _CONDA_MARKERS):
        return {"source": "conda", "url": url}
    if "vcs_info" in data:
        return _vcs(data["vcs_info"], url, data.get("subdirectory"))
    if "dir_info" in data:
        editable = bool((data.get("dir_info") or {}).get("editable"))
        return {"source": "editable" if editable else "local", "path": _file_path(url)}
    if "archive_info" in data:
        return _archive(data.get("archive_info") or {}, url)
    return {"source": "unknown", "url": url}


_SITE_DIRS = ("site-packages", "dist-packages")


def _vcs(vcs: dict[str, Any], url: str, subdirectory: str | None) -> dict[str, Any]:
    kind = vcs.get("vcs", "git")
    full = url if url.startswith(kind + "+") else f"{kind}+{url}"
    if subdirectory:
        full += f"#subdirectory={subdirectory}"
    return {"source": "vcs", "url": full, "revision": vcs.get("commit_id")}


def _archive(archive: dict[str, Any], url: str) -> dict[str, Any]:
    hashes = archive.get("hashes") or {}
    revision = archive.get("hash")
    if "sha256" in hashes:
        revision = "sha256=" + hashes["sha256"]
    if url.startswith("file:"):
        return {"source": "local", "path": _file_path(url), "revision": revision}
    return {"source": "url", "url": url, "revision": revision}


def _file_path(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme != "file":
        return url
    return unquote(parsed.path)


def _top_level(dist: metadata.Distribution) -> list[str]:
    text = _read(dist, "top_level.txt") or ""
    names = {line.strip().replace("\\", "/").split("/")[0] for line in text.splitlines()}
    names = {n for n in names if n.isidentifier()}
    if names:  # an empty top_level.txt says nothing: read RECORD then
        return sorted(names)
    record = _read(dist, "RECORD") or ""
    for row in csv.reader(record.splitlines()):
        if not row:
            continue
        parts = row[0].replace("\\", "/").split("/")
        name = _module_name(parts[0], len(parts) > 1)
        if name and not name.startswith("__editable__"):
            names.add(name)
    return sorted(names)


def _module_name(entry: str, is_dir: bool) -> str | None:
    """The importable name a top-level entry of site-packages provides, or None."""
    if entry in _SKIP_TOP or entry.endswith((".dist-info", ".egg-info", ".data", ".pth")):
        return None
    if is_dir:
        return entry if entry.isidentifier() else None
    base, dot, ext = entry.partition(".")
    if not dot or not base.isidentifier():
        return None
    if ext == "py" or ext == "pyc" or ext.endswith(("so", "pyd")):
        return base
    return None


def _project_modules(path: str) -> list[str]:
    """Packages and modules of a project folder (its src/ layout first), for editable installs."""
    names: set[str] = set()
    for folder in (os.path.join(path, "src"), path):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            full = os.path.join(folder, entry)
            is_dir = os.path.isdir(full)
            if is_dir and not os.path.exists(os.path.join(full, "__init__.py")):
                continue
            name = _module_name(entry, is_dir)
            if name and name not in ("setup", "conftest", "tests", "test", "docs"):
                names.add(name)
        if names:
            break
    return sorted(names)


def _metadata(dist: metadata.Distribution) -> dict[str, Any]:
    """Name, Version and Requires-Dist, parsed once (each ``dist.metadata`` reads the file)."""
    try:
        message: Any = dist.metadata
    except (OSError, UnicodeDecodeError):
        return {}
    if message is None:
        return {}
    return {
        "Name": message.get("Name") or None,
        "Version": message.get("Version") or None,
        "Requires-Dist": list(message.get_all("Requires-Dist") or []),
    }


def _read(dist: metadata.Distribution, name: str) -> str | None:
    try:
        return dist.read_text(name)
    except (OSError, UnicodeDecodeError):
        return None


def _normalize(name: str) -> str:
    out = []
    for char in name.lower():
        out.append("-" if char in "-_." else char)
    text = "".join(out)
    while "--" in text:
        text = text.replace("--", "-")
    return text


if __name__ == "__main__" and "__file__" in globals():
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    json.dump(capture_environment(), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
