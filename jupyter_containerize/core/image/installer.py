"""Install locked distributions for the image's platform, outside the engine, with uv.

Each distribution is installed once per (Python minor, platform) into a cache folder of its
own that mirrors a virtual environment's layout (``bin/``, ``share/``,
``lib/pythonX.Y/site-packages/``), byte-compiled for the image's interpreter. Layers are made
from these folders, so adding a package installs and packs only that package.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from pathlib import Path

from ..errors import InstallError
from ..models import normalize
from ..paths import cache_dir

# what an installed folder holds (bytecode policy, layout): a new value starts a new store
STORE_VERSION = "v3"  # v3: bytecode the same on every host
_ARCH = {"linux/amd64": "x86_64", "linux/arm64": "aarch64", "linux/arm64/v8": "aarch64"}
NEWEST_MANYLINUX = (2, 40)  # the newest glibc tag the installer knows


def platform_tag(platform: str, glibc: str | None = None) -> str:
    """uv's --python-platform for an image platform whose C library is ``glibc`` (the
    base image's): the newest manylinux wheels it can run, never an older, fatter fallback."""
    arch = _ARCH.get(platform)
    if arch is None:
        known = ", ".join(sorted(_ARCH))
        raise InstallError(f"platform {platform} is not supported", hint=f"use {known}")
    try:
        major, minor = (int(x) for x in (glibc or "2.28").split(".")[:2])
    except ValueError:
        major, minor = 2, 28
    major, minor = min((major, minor), NEWEST_MANYLINUX)
    return f"{arch}-manylinux_{major}_{minor}"

# Bytecode for every module but the packages' own test suites (which a notebook does not
# import): hash-based, so it stays valid whatever the files' times are in the image.
_COMPILE = """
import multiprocessing, os, re, sys, py_compile
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
skip = re.compile(r"(^|/)(tests?|testing)/")
site, dest = sys.argv[1], sys.argv[2]

def compile_chunk(jobs):
    for src, shown in jobs:
        py_compile.compile(src, dfile=shown, invalidation_mode=mode, quiet=2)

chunks = []
for d in sys.argv[3:]:
    top, jobs = os.path.join(d, site), []
    for root, dirs, files in os.walk(top):
        dirs.sort()
        rel = os.path.relpath(root, top).replace(os.sep, "/")
        if skip.search(rel + "/"):
            dirs[:] = []
            continue
        jobs += [(os.path.join(root, f), dest + "/" + (rel + "/" if rel != "." else "") + f)
                 for f in sorted(files) if f.endswith(".py")]
    chunks += [jobs[i:i + 256] for i in range(0, len(jobs), 256)]
if __name__ == "__main__":
    # each chunk (a distribution's files in sorted order) in a fresh fork of this process:
    # marshal's output depends on what the process compiled before, so this makes the
    # bytecode, and the layers, the same on every run and every machine
    with multiprocessing.get_context("fork").Pool(maxtasksperchild=1) as pool:
        pool.map(compile_chunk, chunks, chunksize=1)
"""


@functools.cache
def uv_bin() -> str:
    from uv import find_uv_bin

    return str(find_uv_bin())


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


_INDEX_VARS = ("UV_INDEX_URL", "PIP_INDEX_URL")
# ContainerizeConfig.index_url of the build or serve under way in this thread (use_index)
_CONFIGURED_INDEX: ContextVar[str] = ContextVar("jupyter_containerize_index_url", default="")


def use_index(url: str) -> None:
    """Make ``url`` (``ContainerizeConfig.index_url``; empty: none) the index of the image
    installs that follow in this thread; each build, freeze and serve sets its own."""
    _CONFIGURED_INDEX.set(url)


def index_url() -> str | None:
    """The package index for image installs: the configured one, else an http(s) index the
    host's UV_INDEX_URL / PIP_INDEX_URL names (never a file://), else none (PyPI)."""
    for url in (_CONFIGURED_INDEX.get(), *(os.environ.get(v, "") for v in _INDEX_VARS)):
        if url.startswith(("http://", "https://")):
            return url
    return None


def bare_url(url: str, user: str = "") -> str:
    """``url`` without its user and password (``user``, when given, stands in their place)."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def shown_url(url: str) -> str:
    """``url`` fit for a message or a log: any user and password replaced by ``***``."""
    return bare_url(url, user="***")


def run_uv(
    args: list[str], files: dict[str, list[str]] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """``uv ARGS`` as every image install runs it: no uv configuration files of the user's,
    the user's index given through the environment (so its credentials never show in a
    process list), and each argument named in ``files`` replaced by a temporary file holding
    those lines."""
    env = {**os.environ, "UV_NO_CONFIG": "1"}
    url = index_url()
    if url:
        env["UV_INDEX_URL"] = url
    with tempfile.TemporaryDirectory(prefix="jc-uv-") as tmp:
        cmd = [uv_bin()]
        for arg in args:
            if files and arg in files:
                path = Path(tmp, arg)
                path.write_text("\n".join(files[arg]) + "\n")
                arg = str(path)
            cmd.append(arg)
        try:
            return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"uv could not run: {exc}", hint="reinstall the uv package") from exc


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
) -> dict[str, Path]:
    """Make sure every ``key -> requirement line`` is installed in the store; return folders.

    The missing distributions are installed in ``waves`` (lists of keys; default: one), one
    uv run per wave, all at once, so downloads stay parallel; each wave is then compiled and
    put in the store in order, and ``on_wave`` is called with its keys once they are there,
    so a caller can use them while later waves still install."""
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
        tag = platform_tag(platform, glibc)
        uv_bin()  # found once, before the runs: finding it is not thread-safe
        with tempfile.TemporaryDirectory(dir=root) as tmp, \
                ThreadPoolExecutor(len(runs), thread_name_prefix="uv") as pool:
            targets = [Path(tmp) / f"t{i}" for i in range(len(runs))]
            started = [pool.submit(_uv_install, [todo[k] for k in run], target, python_minor,
                                   tag, no_cache, platform)
                       for run, target in zip(runs, targets)]
            for i, (run, target, future) in enumerate(zip(runs, targets, started)):
                future.result()
                split = _split(target, Path(tmp) / f"split{i}", python_minor)
                by_name = {_requirement_name(todo[k]): k for k in run}
                keys = {by_name.get(name, name): folder for name, folder in split.items()}
                _place(list(keys.items()), root, compile_python, python_minor)
                if on_wave is not None:
                    on_wave(run)
    absent = [r for k, r in requirements.items() if not (root / k).is_dir()]
    if absent:
        raise InstallError(f"installing gave no files for {', '.join(absent)}")
    return {k: root / k for k in requirements}


def _place(folders: list[tuple[str, Path]], root: Path, compile_python: str | None,
           python_minor: str) -> None:
    """Compile installed folders and move them into the store under their keys."""
    if not folders:
        return
    if compile_python:
        _compile(compile_python, f"lib/python{python_minor}/site-packages",
                 [folder for _, folder in folders])
    for key, folder in folders:
        if (root / key).exists():
            shutil.rmtree(root / key)
        folder.rename(root / key)


def _requirement_name(line: str) -> str:
    """The normalized distribution name of a requirement line or a wheel's path."""
    if line.endswith(".whl"):
        return normalize(Path(line).name.split("-", 1)[0])
    return normalize(re.split(r"[=<>!~ @\[;]", line.strip(), maxsplit=1)[0])


def _uv_install(
    reqs: list[str], target: Path, python_minor: str, tag: str, no_cache: bool, platform: str
) -> None:
    args = ["pip", "install", "--no-deps", "--target", str(target), "--python-platform", tag,
            "--python-version", python_minor, "--link-mode", "hardlink", "-r", "requirements.txt"]
    proc = run_uv(args + (["--no-cache"] if no_cache else []), {"requirements.txt": reqs})
    if proc.returncode != 0:
        raise _install_error(proc.stderr, platform)


def _install_error(stderr: str, platform: str) -> InstallError:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
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


def _compile(python: str, site: str, folders: list[Path]) -> None:
    """Byte-compile with an interpreter of the image's minor (hash-based, deterministic)."""
    dest = "/opt/env/" + site
    subprocess.run(
        # -I -S: the same starting state whatever environment the interpreter belongs to
        [python, "-I", "-S", "-c", _COMPILE, site, dest, *map(str, folders)], check=False,
        capture_output=True
    )


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
