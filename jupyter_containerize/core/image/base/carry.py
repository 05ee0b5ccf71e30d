"""Route 2 ("carried"): the kernel's own interpreter (exact patch version, any minor) carried
into ``/usr/local`` of a Debian rootfs, its paths made relative so no host path stays in the
layer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from ...errors import BaseImageError
from .debian import check_tools, common_hooks, finish, mmdebstrap, read_facts, workdir
from .model import (
    BOOTSTRAP_HINT,
    CARRY_PACKAGES,
    CARRY_RELEASES,
    COMMON_PACKAGES,
    INTERPRETER_PROBE,
    RELEASE_GLIBC,
    BaseImage,
    Progress,
    minor_of,
    say,
)

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
    say(progress, f"staged {prefix} -> {CARRY_PREFIX} ({count} files rewritten)")


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
    check_tools(carried=True)
    started = time.monotonic()
    info = interpreter_info(python_executable)
    minor, prefix = minor_of(info["version"]), info["base_prefix"]
    release = _carry_release(info)
    interpreter = {"version": info["version"], "sha256": interpreter_fingerprint(prefix, minor)}
    say(progress, f"carrying Python {info['version']} from {prefix} onto {release}")
    with workdir() as tmp:
        work = Path(tmp)
        staging = work / "usr-local"
        stage_interpreter(prefix, staging, minor, progress)
        olds = sorted({prefix.rstrip("/"), str(Path(prefix).resolve())})
        hooks = _carry_hooks(staging, work, minor, olds) + common_hooks(
            work, "/usr/local/bin/python3"
        )
        packages = (*COMMON_PACKAGES, *CARRY_PACKAGES[release])
        mmdebstrap(release, packages, hooks, work / "rootfs.tar", progress)
        check_carried(work)
        pkgs, facts = read_facts(work)
        base = finish(
            client, work / "rootfs.tar", release, "carried", pkgs, facts, interpreter, progress
        )
    base.exact = True
    say(progress, f"base {base.reference} ready in {time.monotonic() - started:.1f} s")
    return base

