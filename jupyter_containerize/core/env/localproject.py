"""Local and editable projects of a lock, built into wheels out of the user's tree.

A project's source is copied to a temporary folder and built there, so nothing is ever written
into the user's folder; what a build leaves behind, version control folders, caches, virtual
environments and notebooks stay out of the copy. The wheel is kept under the digest of the
files that went into the copy (names and content): an unchanged source reuses its wheel without
a build, and a notebook edit, or a stray ``build/`` or ``*.egg-info`` beside the source,
changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError
from ..paths import cache_dir
from . import uv as installer

# how a wheel is made from a source (what is copied, how the zip is normalized): a new value
# builds every local project again
WHEEL_FORMAT = "1"
# folders that are never a project's source, wherever they are
SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".ipynb_checkpoints", ".virtual_documents",
    ".venv", ".tox", ".nox", ".eggs", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    "node_modules",
})
# folders a build writes at the project's top (a package may have a subpackage of that name)
SKIP_TOP_DIRS = frozenset({"build", "dist"})
# notebooks are the project's files (the image's last layer), never a package's source: a
# project installed from the notebook's own folder or one above it stays the same environment
SKIP_SUFFIXES = (".egg-info", ".pyc", ".pyo", ".ipynb")
# a zip entry's time for every file of a built wheel (the earliest a zip can hold)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# the copy's file times: what a backend reads from the files is the same on every build
COPY_MTIME = 315532800  # 1980-01-01T00:00:00Z


@dataclass(frozen=True)
class LocalWheel:
    """A local project's wheel and the digest of the source it was built from."""

    name: str
    path: Path
    source_sha256: str


def source_files(src: Path) -> list[str]:
    """The project's files that go into a build, as sorted relative POSIX paths."""
    found: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(src, followlinks=True):
        here = Path(folder)
        real = os.path.realpath(here)
        if real in seen:  # a link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        top = here == src
        dirs[:] = sorted(
            d for d in dirs
            if not _skipped(d) and not (top and d in SKIP_TOP_DIRS)
            and not (here / d / "pyvenv.cfg").exists()  # a virtual environment
        )
        for name in files:
            path = here / name
            if _skipped(name) or _is_notebook_lock(here, name):
                continue
            if path.is_file():
                found.append(path.relative_to(src).as_posix())
    return sorted(found)


def _skipped(name: str) -> bool:
    return name in SKIP_DIRS or name.endswith(SKIP_SUFFIXES)


def _is_notebook_lock(folder: Path, name: str) -> bool:
    """``<stem>.lock.json`` beside ``<stem>.ipynb``: a notebook's lock, written by freeze."""
    stem = name[: -len(".lock.json")] if name.endswith(".lock.json") else ""
    return bool(stem) and (folder / f"{stem}.ipynb").is_file()


def source_digest(src: Path) -> str:
    """sha256 over the names, executable bits and contents of :func:`source_files`; a single
    file (a wheel or an sdist) is its bytes."""
    h = hashlib.sha256()
    if src.is_file():
        h.update(b"file\0" + src.read_bytes())
        return h.hexdigest()
    for rel in source_files(src):
        path = src / rel
        mode = b"x" if os.access(path, os.X_OK) else b"-"
        h.update(rel.encode() + b"\0" + mode + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def project_digests(root: Path, lock: dict) -> dict[str, str]:
    """name -> :func:`source_digest` of each local and editable project of the lock (a project
    that is gone has no entry)."""
    out = {}
    for name, _, src in _projects(root, lock):
        if src.exists():
            out[name] = source_digest(src)
    return out


def local_wheels(root: Path, lock: dict, cache: Path | None = None) -> dict[str, LocalWheel]:
    """Wheels of the lock's local and editable projects, built out of tree and kept in
    ``cache`` (the wheels cache by default) under their source's digest."""
    folder = cache or cache_dir() / "wheels"
    wheels = {}
    for name, path, src in _projects(root, lock):
        if not src.exists():
            raise BuildError(
                f"local project {name} is gone from {path}",
                hint="restore it, or install it from an index and freeze again",
            )
        wheels[name] = wheel_for(name, src, folder)
    return wheels


def _projects(root: Path, lock: dict) -> list[tuple[str, str, Path]]:
    """(name, the lock's path, the folder or file) of each local and editable project."""
    out = []
    for pkg in lock.get("packages", []):
        req = pkg.get("requirement")
        if isinstance(req, dict) and "path" in req:
            out.append((pkg["name"], req["path"], (root / req["path"]).resolve()))
    return out


def wheel_for(name: str, src: Path, cache: Path) -> LocalWheel:
    """The wheel of one project: the kept one when its source is unchanged, else built."""
    digest = source_digest(src)
    if src.is_file() and src.name.endswith(".whl"):
        return LocalWheel(name, src, digest)
    key = hashlib.sha256(
        json.dumps({"format": WHEEL_FORMAT, "name": name, "source": digest}).encode()
    ).hexdigest()
    dest = cache / key[:32]
    kept = sorted(dest.glob("*.whl"))
    if len(kept) == 1:
        return LocalWheel(name, kept[0], digest)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jc-wheel-", dir=cache) as tmp:
        out = Path(tmp) / "out"
        out.mkdir()
        _build(name, src, Path(tmp), out)
        if dest.exists() and len(sorted(dest.glob("*.whl"))) != 1:
            shutil.rmtree(dest, ignore_errors=True)  # left by a build that was stopped
        # another build of the same source may have finished first: either wheel will do
        try:
            out.rename(dest)
        except OSError:
            if len(sorted(dest.glob("*.whl"))) != 1:
                raise
    return LocalWheel(name, sorted(dest.glob("*.whl"))[0], digest)


def _build(name: str, src: Path, tmp: Path, out: Path) -> None:
    target = src
    if src.is_dir():
        target = tmp / "src"
        copy_source(src, target)
    proc = installer.run_uv(["build", "--wheel", "--out-dir", str(out), str(target)])
    found = sorted(out.glob("*.whl"))
    if proc.returncode != 0 or len(found) != 1:
        last = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:]
        raise BuildError(
            f"local project {name} did not build into a wheel: {' '.join(last)}",
            hint="fix the project's build (pyproject.toml, setup.py) so that it builds a wheel",
        )
    for extra in out.iterdir():  # only the wheel is kept
        if extra != found[0]:
            shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    normalize_wheel(found[0])


def copy_source(src: Path, dest: Path) -> None:
    """Copy :func:`source_files` to ``dest`` with one fixed file time."""
    for rel in source_files(src):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, target)
        shutil.copymode(src / rel, target)
        os.utime(target, (COPY_MTIME, COPY_MTIME))


def normalize_wheel(path: Path) -> None:
    """Rewrite a wheel with one fixed time for every entry, in the order the backend wrote
    them: the same files give the same bytes (RECORD hashes contents, never times)."""
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            entry.external_attr = info.external_attr
            entry.create_system = 3  # unix: the modes in external_attr hold
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, src.read(info.filename), compresslevel=6)
    os.replace(tmp, path)
