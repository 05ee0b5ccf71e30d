"""Install locked distributions for the image's platform, outside the engine, with uv.

Each distribution is installed once per (Python minor, platform) into a cache folder of its
own that mirrors a virtual environment's layout (``bin/``, ``share/``,
``lib/pythonX.Y/site-packages/``), byte-compiled for the image's interpreter. Layers are made
from these folders, so adding a package installs and packs only that package.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..attest.lockdata import package_files
from ..env.filehashes import hashed_pin
from ..env.uv import (
    bare_url,
    index_url,
    platform_tag,
    run_uv,
    shown_url,
    use_index,
    uv_bin,
)
from ..errors import InstallError
from ..models import normalize
from ..paths import cache_dir

# what an installed folder holds (bytecode policy, layout): a new value starts a new store
STORE_VERSION = "v3"  # v3: bytecode the same on every host

# Bytecode for every module but the packages' own test suites (which a notebook does not
# import): hash-based, so it stays valid whatever the files' times are in the image. Prints the
# modules that do not compile (a file of another Python's syntax, a template named .py).
_COMPILE = """
import compileall, multiprocessing, os, re, sys
mode = compileall.py_compile.PycInvalidationMode.UNCHECKED_HASH
skip = re.compile(r"(^|/)(tests?|testing)/")
site, dest = sys.argv[1], sys.argv[2]

def compile_chunk(jobs):
    return [ddir + "/" + os.path.basename(src) for src, ddir in jobs
            if not compileall.compile_file(src, ddir=ddir, force=True, quiet=2,
                                           invalidation_mode=mode)]

chunks = []
for d in sys.argv[3:]:
    top, jobs = os.path.join(d, site), []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        rel = os.path.relpath(root, top).replace(os.sep, "/")
        if skip.search(rel + "/"):
            dirs[:] = []
            continue
        ddir = dest + ("/" + rel if rel != "." else "")
        jobs += [(os.path.join(root, f), ddir) for f in sorted(files) if f.endswith(".py")]
    chunks += [jobs[i:i + 256] for i in range(0, len(jobs), 256)]
if __name__ == "__main__":
    # each chunk (a distribution's files in sorted order) in a fresh fork of this process:
    # marshal's output depends on what the process compiled before, so this makes the
    # bytecode, and the layers, the same on every run and every machine
    with multiprocessing.get_context("fork").Pool(maxtasksperchild=1) as pool:
        results = pool.map(compile_chunk, chunks, chunksize=1)
    # printed once the pool is gone: a worker forked while a line sat in this process's
    # stdout buffer would flush its copy of it too when it ends
    for failed in results:
        for shown in failed:
            print(shown)
"""


def dist_key(name: str, version: str, requirement: str) -> str:
    """Cache folder name of one distribution build."""
    base = f"{normalize(name)}-{version}"
    if requirement.strip() == f"{name}=={version}" or "@" not in requirement:
        return base
    return base + "-" + hashlib.sha256(requirement.encode()).hexdigest()[:12]


def store(python_minor: str, platform: str, glibc: str | None = None) -> Path:
    tag = platform_tag(platform, glibc)
    path = cache_dir() / "dists" / f"py{python_minor}-{tag}-{STORE_VERSION}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def missing(requirements: dict[str, str], python_minor: str, platform: str,
            glibc: str | None = None, no_cache: bool = False) -> list[str]:
    """The keys of ``requirements`` that :func:`ensure` would install."""
    root = store(python_minor, platform, glibc)
    return [k for k in requirements if no_cache or not (root / k).is_dir()]


def ensure(
    requirements: dict[str, str],
    python_minor: str,
    platform: str,
    compile_python: str | None,
    *,
    glibc: str | None = None,
    no_cache: bool = False,
    log: Callable[[str], None] = lambda s: None,
    waves: list[list[str]] | None = None,
    on_wave: Callable[[list[str]], None] | None = None,
    python_version: str | None = None,
    hashes: dict[str, list[str]] | None = None,
) -> dict[str, Path]:
    """Make sure every ``key -> requirement line`` is installed in the store; return folders.

    The missing distributions are installed by one uv run (its downloads and unpacking are
    parallel: several runs at once only contend for the disk and the cache's locks, measured
    twice as slow; a second run only for another version of a name the first one has), then
    compiled and put in the store in ``waves`` (lists of keys; default: one), in order;
    ``on_wave`` is called with each wave's keys once they are there, so a
    caller can use them while later waves still compile. ``python_version`` is the image's
    exact Python (X.Y.Z) when known: a distribution's ``Requires-Python`` is judged against it,
    not against X.Y.0. ``hashes`` (``name==version`` -> sha256s, see :func:`lock_hashes`) are
    checked by uv for the distributions it downloads: a file that is not the one the lock
    records stops the install (the layer keys do not depend on them, so a lock without hashes
    installs and packs exactly as before)."""
    root = store(python_minor, platform, glibc)
    todo = {k: requirements[k]
            for k in missing(requirements, python_minor, platform, glibc, no_cache)}
    if todo:
        log(f"installing {len(todo)} distributions for {platform}, Python {python_minor}")
        placed: set[str] = set()
        runs = []
        for wave in [*(waves or []), list(todo)]:
            run = [k for k in wave if k in todo and k not in placed]
            placed.update(run)
            if run:
                runs.append(run)
        # one target folder holds one version of a name: the tool environment's version of a
        # distribution the notebook's environment also has (another version) goes in a second
        batches: list[dict[str, str]] = []  # name -> key
        for key, line in todo.items():
            name = _requirement_name(line)
            batch = next((b for b in batches if name not in b), None)
            if batch is None:
                batch = {}
                batches.append(batch)
            batch[name] = key
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            folders: dict[str, Path] = {}
            for i, by_name in enumerate(batches):
                target = Path(tmp) / f"target{i}"
                _uv_install([_hashed(todo[k], hashes) for k in by_name.values()], target,
                            python_version or python_minor, platform_tag(platform, glibc),
                            no_cache, platform)
                split = _split(target, Path(tmp) / f"split{i}", python_minor)
                folders.update((by_name.get(name, name), folder)
                               for name, folder in split.items())
            for i, run in enumerate(runs):
                # a folder no requirement names (uv's own spelling) goes with the last wave
                mine = [(k, f) for k, f in folders.items()
                        if k in run or (i == len(runs) - 1 and k not in placed)]
                _place(mine, root, compile_python, python_minor, log)
                if on_wave is not None:
                    on_wave(run)
    absent = [r for k, r in requirements.items() if not (root / k).is_dir()]
    if absent:
        raise InstallError(f"installing gave no files for {', '.join(absent)}")
    return {k: root / k for k in requirements}


def _place(folders: list[tuple[str, Path]], root: Path, compile_python: str | None,
           python_minor: str, log: Callable[[str], None] = lambda s: None) -> None:
    """Compile installed folders and move them into the store under their keys."""
    if not folders:
        return
    if compile_python:
        failed = _compile(compile_python, f"lib/python{python_minor}/site-packages",
                          [folder for _, folder in folders])
        if failed:
            shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if failed[5:] else "")
            log(f"{len(failed)} module(s) do not compile for Python {python_minor} and are "
                f"left without bytecode: {shown}")
    for key, folder in folders:
        if (root / key).exists():
            shutil.rmtree(root / key)
        folder.rename(root / key)


def lock_hashes(lock: dict) -> dict[str, list[str]]:
    """``name==version`` (name normalized) -> the sha256 of each file the lock records, for
    the packages the image installs from the index (none for a lock written before files
    were recorded)."""
    out = {}
    for package in lock.get("packages", []):
        if hashed_pin(package) and package.get("files"):
            pin = f"{normalize(package['name'])}=={package['version']}"
            out[pin] = [f["sha256"] for f in package_files(package)]
    return out


def _hashed(line: str, hashes: dict[str, list[str]] | None) -> str:
    """The requirement line with ``--hash`` options when the lock records the files of that
    very pin (another version of the same name, e.g. the tool environment's, has none)."""
    name, sep, version = line.strip().partition("==")
    found = (hashes or {}).get(f"{normalize(name)}=={version}") if sep else None
    if not found or line.endswith(".whl") or "@" in line:
        return line
    return " ".join([line, *(f"--hash=sha256:{h}" for h in found)])


def _requirement_name(line: str) -> str:
    """The normalized distribution name of a requirement line or a wheel's path."""
    if line.endswith(".whl"):
        return normalize(Path(line).name.split("-", 1)[0])
    return normalize(re.split(r"[=<>!~ @\[;]", line.strip(), maxsplit=1)[0])


def _uv_install(
    reqs: list[str], target: Path, python: str, tag: str, no_cache: bool, platform: str
) -> None:
    args = ["pip", "install", "--no-deps", "--target", str(target), "--python-platform", tag,
            "--python-version", python, "--link-mode", "hardlink", "-r", "requirements.txt"]
    proc = run_uv(args + (["--no-cache"] if no_cache else []), {"requirements.txt": reqs})
    if proc.returncode != 0:
        raise _install_error(proc.stderr, platform, python)


def _install_error(stderr: str, platform: str, python: str = "") -> InstallError:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    changed = re.search(r"Hash mismatch for `([^`]+)`", stderr)
    if changed:
        return InstallError(
            f"the index's file of {changed.group(1)} is not the one the lock records (its sha256 "
            "differs)",
            hint="if the change is expected, freeze the notebook again to record the new file; "
            "otherwise check the package index",
            log="\n".join(lines[-20:]),
        )
    newer = re.search(r"`?([A-Za-z0-9_.\-]+)==([^\s`]+)`? only supports (>=\s*[\d.]+)", stderr)
    if newer:
        return InstallError(
            f"{newer.group(1)}=={newer.group(2)} needs Python {newer.group(3)}; the image is "
            f"built for Python {python}",
            hint="pin a version that supports it in the kernel's environment and freeze again",
            log="\n".join(lines[-20:]),
        )
    if "Failed to fetch" in stderr or "error sending request" in stderr:
        index = shown_url(index_url() or "https://pypi.org/simple")
        return InstallError(
            f"the package index {index} could not be reached: {lines[-1].strip()}",
            hint="check the network or proxy, set UV_INDEX_URL / PIP_INDEX_URL to a reachable "
            "index and SSL_CERT_FILE to its CA bundle, then build again",
            log="\n".join(lines[-20:]),
        )
    absent = (re.search(r"Because ([^\s=`]+)(?:==([^\s`]+))? was not found in the package "
                        r"registry", stderr)
              or re.search(r"there is no version of ([^\s=`]+)==([^\s`]+)", stderr))
    if absent:
        pin = absent.group(1).strip("`") + (f"=={absent.group(2).strip('`')}"
                                            if absent.group(2) else "")
        index = shown_url(index_url() or "https://pypi.org/simple")
        return InstallError(
            f"{pin} is not on the package index {index}",
            hint="uninstall it from the kernel's environment or correct its pin, or set "
            "UV_INDEX_URL to the index that has it, then build again",
            log="\n".join(lines[-20:]),
        )
    names = re.findall(r"`([A-Za-z0-9_.\-]+)(?:==[^`]*)?`", stderr)
    who = names[0] if names else "a distribution"
    return InstallError(
        f"{who} cannot be installed for {platform}: {' / '.join(lines[-3:])}",
        hint="pin a version that has a wheel for the target, or add the build's system "
        "libraries to apt.txt",
        log="\n".join(lines[-20:]),
    )


def _split(target: Path, out: Path, python_minor: str) -> dict[str, Path]:
    """Move each distribution's files (by its RECORD) into a folder of its own."""
    site = f"lib/python{python_minor}/site-packages"
    result: dict[str, Path] = {}
    for info in sorted(target.glob("*.dist-info")):
        name = normalize(info.name[: -len(".dist-info")].rsplit("-", 1)[0])
        dest = out / name
        record = info / "RECORD"
        rels = [ln.split(",")[0] for ln in record.read_text().splitlines() if ln.strip()]
        for rel in rels:
            src = target / rel
            if not src.exists() or ".." in Path(rel).parts:
                continue
            top = rel.split("/", 1)[0]
            place = rel if top in ("bin", "share", "include") else f"{site}/{rel}"
            (dest / place).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest / place)
        if not (dest / site / info.name).exists():
            shutil.copytree(info, dest / site / info.name, dirs_exist_ok=True)
        result[name] = dest
    return result


def _compile(python: str, site: str, folders: list[Path]) -> list[str]:
    """Byte-compile with an interpreter of the image's minor (hash-based, deterministic);
    return the modules (paths under ``site``) that do not compile."""
    dest = "/opt/env/" + site
    proc = subprocess.run(
        # -I -S: the same starting state whatever environment the interpreter belongs to
        [python, "-I", "-S", "-c", _COMPILE, site, dest, *map(str, folders)],
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        last = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise InstallError(
            f"byte-compiling {', '.join(f.name for f in folders)} with {python} failed: {last}",
            hint=f"{python} compiles the image's bytecode: make `{python} -c 'import "
            "compileall, multiprocessing'` run, then build again",
            log="\n".join(lines[-20:]),
        )
    return [ln.removeprefix(dest + "/") for ln in proc.stdout.splitlines() if ln.strip()]


def compile_python_for(python_minor: str, preferred: str | None) -> str | None:
    """An interpreter of the same minor on this machine to byte-compile with."""
    candidates = [preferred] if preferred else []
    candidates += [shutil.which(f"python{python_minor}") or ""]
    for c in candidates:
        if not c or not Path(c).exists():
            continue
        try:
            out = subprocess.run(
                [c, "-c", "import sys;print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out == python_minor:
            return c
    return None


def resolve(requirements: list[str], python_minor: str, platform: str) -> list[str]:
    """Resolve requirements to exact pins for the image (uv pip compile)."""
    proc = run_uv(
        ["pip", "compile", "requirements.in", "--python-version", python_minor,
         "--python-platform", platform_tag(platform), "--no-header", "--no-annotate", "--quiet"],
        {"requirements.in": requirements},
    )
    if proc.returncode != 0:
        raise _install_error(proc.stderr, platform)
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip() and "==" in ln]


__all__ = [
    "STORE_VERSION", "bare_url", "compile_python_for", "dist_key", "ensure", "index_url",
    "lock_hashes", "missing", "platform_tag", "resolve", "run_uv", "shown_url", "store",
    "use_index", "uv_bin",
]
