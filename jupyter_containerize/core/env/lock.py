"""The lock: a captured environment pinned exactly, beside the notebook as ``<stem>.lock.json``.

Host side. :func:`capture_python` runs ``capture.py`` (standard library only) as a script in
another interpreter; :func:`make_lock` turns its :class:`EnvironmentSpec` into the lock dict,
``full`` (every distribution) or ``imported`` (what the notebook imports and the closure of
its requirements). Installed metadata maps modules to distributions; nothing is guessed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import ContainerizeError, InstallError, PythonNotFoundError
from ..models import Distribution, EnvironmentSpec, normalize
from ..options import DEFAULT_PLATFORM, LOCK_MODES
from .lockfile import (
    LOCK_VERSION,
    diff_locks,
    lock_bytes,
    lock_path,
    lock_sha256,
    read_lock,
    requirements_view,
    write_lock,
)
from .preflight import PINNED_SOURCES, captured_platform, index_pins, preflight
from .uv import platform_tag, run_uv, uv_reason

CAPTURE_SCRIPT = Path(__file__).with_name("capture.py")
# Modules of older Pythons' standard library that newer ones no longer list.
_OLD_STDLIB = {
    "asynchat", "asyncore", "binhex", "cgi", "cgitb", "crypt", "distutils", "imghdr", "imp",
    "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd",
    "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
}  # fmt: skip
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | _OLD_STDLIB


def capture_python(python: str, timeout: float = 60.0) -> EnvironmentSpec:
    """Capture the environment of the interpreter at ``python`` (runs capture.py in it)."""
    hint = "pass --python with the path of the kernel's python, e.g. /path/venv/bin/python"
    error = PythonNotFoundError(f"{python} is not a Python interpreter", hint=hint)
    try:
        # the interpreter's own environment: not this process's PYTHONPATH or start-up file
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH")}
        done = subprocess.run(
            [python, str(CAPTURE_SCRIPT)], capture_output=True, text=True, timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise PythonNotFoundError(
            f"{python} did not answer within {timeout:g} s", hint=hint
        ) from exc
    except OSError as exc:
        raise error from exc
    if done.returncode != 0:
        error.data["stderr"] = done.stderr[-2000:]
        raise error
    try:
        return EnvironmentSpec.from_json(json.loads(done.stdout))
    except (ValueError, TypeError, KeyError) as exc:
        raise error from exc


def marker_environment(spec: EnvironmentSpec) -> dict[str, str]:
    """PEP 508 marker values of the captured interpreter, built from the spec's fields."""
    system = spec.platform_system
    impl = spec.implementation
    return {
        "implementation_name": impl,
        "implementation_version": spec.python_version,
        "os_name": "nt" if system == "Windows" else "posix",
        "platform_machine": spec.machine,
        "platform_python_implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl),
        "platform_release": "",
        "platform_system": system,
        "platform_version": "",
        "python_full_version": spec.python_version,
        "python_version": spec.python_minor,
        "sys_platform": {"Linux": "linux", "Darwin": "darwin", "Windows": "win32"}.get(
            system, system.lower()
        ),
        "extra": "",
    }


def module_providers(spec: EnvironmentSpec) -> dict[str, list[str]]:
    """Top-level module name -> normalized names of the distributions that install it."""
    providers: dict[str, list[str]] = {}
    for dist in spec.distributions:
        for module in dist.top_level:
            providers.setdefault(module, []).append(normalize(dist.name))
    return providers


def user_imports(spec: EnvironmentSpec, notebook_imports: list[str]) -> list[str]:
    """A live kernel's imports without the kernel's own machinery (ipykernel and everything
    it requires), unless the notebook's code imports those modules itself."""
    if not spec.imported or "ipykernel" not in spec.by_name():
        return list(spec.imported)
    machinery = dependency_closure(spec, {"ipykernel"}, [])
    providers = module_providers(spec)
    return [m for m in spec.imported
            if m in notebook_imports or not set(providers.get(m, [])) & machinery]


def dependency_closure(
    spec: EnvironmentSpec, roots: Iterable[str], warnings: list[str]
) -> set[str]:
    """Normalized names of ``roots`` and every installed distribution they require.

    Requires-Dist markers are evaluated against the captured interpreter; a requirement's
    extras are followed only when a parent asks for them.
    """
    dists = spec.by_name()
    env = marker_environment(spec)
    done: dict[str, set[str]] = {}
    queue: list[tuple[str, set[str]]] = [(normalize(r), set()) for r in sorted(roots)]
    while queue:
        key, extras = queue.pop()
        first = key not in done
        new = extras - done.get(key, set())
        if not first and not new:
            continue
        done[key] = done.get(key, set()) | extras
        dist = dists.get(key)
        if dist is None:
            continue
        contexts = ([""] if first else []) + sorted(new)
        for req in _requirements(dist, warnings):
            if not _applies(req, env, contexts):
                continue
            if normalize(req.name) not in dists:
                _once(warnings, f"{dist.name} requires {req.name}, which is not installed")
                continue
            queue.append((normalize(req.name), {normalize(e) for e in req.extras}))
    return {key for key in done if key in dists}


def _requirements(dist: Distribution, warnings: list[str]) -> list[Requirement]:
    out = []
    for text in dist.requires:
        try:
            out.append(Requirement(text))
        except InvalidRequirement:
            _once(warnings, f"{dist.name} declares a requirement that cannot be read: {text}")
    return out


def _applies(req: Requirement, env: dict[str, str], contexts: list[str]) -> bool:
    if req.marker is None:
        return "" in contexts
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in contexts)


def _once(warnings: list[str], line: str) -> None:
    if line not in warnings:
        warnings.append(line)


def make_lock(
    spec: EnvironmentSpec,
    mode: str = "full",
    notebook_imports: Iterable[str] = (),
    platform: str = DEFAULT_PLATFORM,
    *,
    notebook_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The lock dict of ``spec``: ``full`` or ``imported`` mode, for ``platform``.

    ``notebook_dir`` makes local and editable paths relative to the notebook's folder and
    keeps modules that live there (helper files) from being reported as unprovided.
    """
    if mode not in LOCK_MODES:
        raise ContainerizeError(f"lock mode {mode!r} is not one of {', '.join(LOCK_MODES)}",
                                hint=f"pass --lock {LOCK_MODES[0]} or --lock {LOCK_MODES[1]}")
    warnings: list[str] = []
    folder = Path(notebook_dir).resolve() if notebook_dir else None
    notebook_imports = sorted(set(notebook_imports))
    imported = sorted(set(notebook_imports) | set(user_imports(spec, notebook_imports)))
    modules = _map_modules(spec, imported, notebook_imports, folder, warnings)
    keys = set(spec.by_name())
    if mode == "imported":
        roots = {key for names in modules.values() for key in names}
        keys = dependency_closure(spec, roots | {"ipykernel"}, warnings)
    mapped: list[str] = []
    dists = spec.by_name()
    packages = [_entry(dists[key], modules, folder, warnings, mapped) for key in keys]
    lock: dict[str, Any] = {
        "lock_version": LOCK_VERSION,
        "mode": mode,
        "python": {
            "version": spec.python_version,
            "implementation": spec.implementation,
            "system": spec.platform_system,
            "machine": spec.machine,
        },
        "platform": platform,
        "packages": packages,
        "imported": imported,
        "warnings": warnings,
        "mapped": mapped,
        "added": [],
    }
    if "ipykernel" not in dists:
        add_ipykernel(lock, spec)
    lock["packages"].sort(key=lambda p: normalize(p["name"]))
    for key in ("warnings", "mapped", "added"):
        lock[key] = sorted(set(lock[key]))
    return lock


def _map_modules(
    spec: EnvironmentSpec,
    imported: list[str],
    notebook_imports: list[str],
    folder: Path | None,
    warnings: list[str],
) -> dict[str, list[str]]:
    """Imported module -> providing distributions; warns for notebook imports nobody provides."""
    providers = module_providers(spec)
    found: dict[str, list[str]] = {}
    for module in imported:
        if module in providers:
            found[module] = providers[module]
        elif (
            module in notebook_imports
            and module not in STDLIB
            and module not in sys.builtin_module_names
        ):
            if folder and ((folder / f"{module}.py").exists() or (folder / module).is_dir()):
                continue
            warnings.append(
                f"module {module} is imported but no installed distribution provides it"
            )
    return found


def _entry(
    dist: Distribution,
    modules: dict[str, list[str]],
    folder: Path | None,
    warnings: list[str],
    mapped: list[str],
) -> dict[str, Any]:
    key = normalize(dist.name)
    return {
        "name": dist.name,
        "version": dist.version,
        "source": dist.source,
        "requirement": _requirement(dist, folder, warnings, mapped),
        "imported_as": sorted(m for m, keys in modules.items() if key in keys),
    }


def _requirement(
    dist: Distribution, folder: Path | None, warnings: list[str], mapped: list[str]
) -> str | dict[str, str]:
    pin = f"{dist.name}=={dist.version}"
    if dist.source == "conda":
        mapped.append(
            f"{dist.name} {dist.version}: a conda package, installed as {pin} from the index"
        )
    elif dist.source == "unknown":
        warnings.append(
            f"{dist.name} {dist.version}: where it came from is unknown; pinned as {pin}"
        )
    elif dist.source == "vcs" and dist.url:
        url, _, fragment = dist.url.partition("#")
        if not dist.revision:
            warnings.append(f"{dist.name} {dist.version}: {url} has no recorded commit")
        line = f"{dist.name} @ {url}" + (f"@{dist.revision}" if dist.revision else "")
        return line + (f"#{fragment}" if fragment else "")
    elif dist.source == "url" and dist.url:
        fragment = f"#{dist.revision}" if dist.revision and "#" not in dist.url else ""
        return f"{dist.name} @ {dist.url}{fragment}"
    elif dist.source in ("local", "editable"):
        return {"path": _project_path(dist, folder, warnings)}
    return pin


def _project_path(dist: Distribution, folder: Path | None, warnings: list[str]) -> str:
    path = Path(dist.path or "")
    what = f"{dist.name} {dist.version} ({dist.source})"
    if not dist.path or not path.exists():
        warnings.append(
            f"{what} was installed from {path}, which no longer exists: not reproducible"
        )
    if folder is not None:
        try:
            return path.resolve().relative_to(folder).as_posix() or "."
        except ValueError:
            pass
    warnings.append(
        f"{what} lives at {path}, outside the notebook's folder: the lock holds that host path"
    )
    return str(path)


def compile_requirements(
    requirements: list[str], constraints: list[str], python_version: str, platform: str
) -> dict[str, str]:
    """Resolve ``requirements`` under ``constraints`` with ``uv pip compile``: name -> version."""
    done = run_uv(
        ["pip", "compile", "requirements.in", "-c", "constraints.txt", "--python-version",
         python_version, "--python-platform", platform_tag(platform), "--no-header",
         "--no-annotate", "--quiet"],
        {"requirements.in": requirements, "constraints.txt": constraints},
        timeout=300,
    )  # fmt: skip
    if done.returncode != 0:
        raise InstallError(
            f"{', '.join(requirements)} cannot be resolved against the lock's pins: "
            f"{uv_reason(done.stderr)}",
            hint="install it in the kernel's environment and freeze again",
        )
    found = {}
    for line in done.stdout.splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            found[normalize(name)] = version.split(";")[0].strip()
    return found


def add_ipykernel(lock: dict[str, Any], spec: EnvironmentSpec) -> None:
    """Add ipykernel and what it needs, resolved against the lock's and the kernel's pins."""
    pins = index_pins(lock)
    env_pins = {
        normalize(d.name): f"{d.name}=={d.version}"
        for d in spec.distributions
        if d.source in PINNED_SOURCES
    }
    resolved = compile_requirements(
        ["ipykernel"], sorted({**env_pins, **pins}.values()), spec.python_minor, lock["platform"]
    )
    dists = spec.by_name()
    for key, version in sorted(resolved.items()):
        if key in pins or any(normalize(p["name"]) == key for p in lock["packages"]):
            continue
        if key in dists and dists[key].version == version:
            entry = _entry(dists[key], {}, None, lock["warnings"], lock["mapped"])
        else:
            entry = {"name": key, "version": version, "source": "index",
                     "requirement": f"{key}=={version}", "imported_as": []}  # fmt: skip
        lock["packages"].append(entry)
        lock["added"].append(f"{key}=={version}")


# the lock file's functions and the platform check, where callers of the lock look for them
__all__ = [
    "LOCK_VERSION", "captured_platform", "diff_locks", "lock_bytes", "lock_path", "lock_sha256",
    "preflight", "read_lock", "requirements_view", "write_lock",
]
