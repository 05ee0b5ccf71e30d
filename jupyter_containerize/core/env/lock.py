"""The lock: a captured environment pinned exactly, beside the notebook as ``<stem>.lock.json``.

Host side. :func:`capture_python` runs ``capture.py`` (standard library only) as a script in
another interpreter; :func:`make_lock` turns its :class:`EnvironmentSpec` into the lock dict,
``full`` (every distribution) or ``imported`` (what the notebook imports and the closure of
its requirements). Installed metadata maps modules to distributions; nothing is guessed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import ContainerizeError, InstallError, NotFoundError, PythonNotFoundError
from ..image.installer import platform_tag, run_uv
from ..models import Distribution, EnvironmentSpec, normalize

LOCK_VERSION = 1
CAPTURE_SCRIPT = Path(__file__).with_name("capture.py")
_PINNED_SOURCES = ("index", "conda", "unknown")
_MACHINES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
# Modules of older Pythons' standard library that newer ones no longer list.
_OLD_STDLIB = {
    "asynchat", "asyncore", "binhex", "cgi", "cgitb", "crypt", "distutils", "imghdr", "imp",
    "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes", "smtpd",
    "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib",
}  # fmt: skip
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | _OLD_STDLIB


def lock_path(notebook: str | Path) -> Path:
    """``<notebook stem>.lock.json`` beside the notebook."""
    notebook = Path(notebook)
    return notebook.with_name(notebook.stem + ".lock.json")


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
    platform: str = "linux/amd64",
    *,
    notebook_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The lock dict of ``spec``: ``full`` or ``imported`` mode, for ``platform``.

    ``notebook_dir`` makes local and editable paths relative to the notebook's folder and
    keeps modules that live there (helper files) from being reported as unprovided.
    """
    if mode not in ("full", "imported"):
        raise ContainerizeError(f"lock mode {mode!r} is not one of full, imported")
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


def lock_bytes(lock: dict[str, Any]) -> bytes:
    """The lock's canonical bytes: sorted keys, two-space indent, one final newline."""
    return (json.dumps(lock, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def lock_sha256(lock: dict[str, Any]) -> str:
    return hashlib.sha256(lock_bytes(lock)).hexdigest()


def write_lock(lock: dict[str, Any], path: str | Path) -> Path:
    """Write the lock's canonical bytes (atomically: a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(lock_bytes(lock))
    tmp.replace(path)
    return path


def read_lock(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    hint = "run `jupyter containerize freeze NOTEBOOK` to write it"
    if not path.is_file():
        raise NotFoundError(f"lock {path} does not exist", hint=hint)
    try:
        lock = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise ContainerizeError(f"lock {path} is not valid JSON", hint=hint) from exc
    if not isinstance(lock, dict) or lock.get("lock_version") != LOCK_VERSION:
        raise ContainerizeError(f"lock {path} is not a version {LOCK_VERSION} lock", hint=hint)
    return lock


def diff_locks(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human lines for what changed: ``+ name ver``, ``- name ver``, ``~ name a -> b``."""
    lines = []
    for label, a, b in (
        ("python", old["python"].get("version"), new["python"].get("version")),
        ("platform", old.get("platform"), new.get("platform")),
        ("mode", old.get("mode"), new.get("mode")),
    ):
        if a != b:
            lines.append(f"~ {label} {a} -> {b}")
    before = {normalize(p["name"]): p for p in old.get("packages", [])}
    after = {normalize(p["name"]): p for p in new.get("packages", [])}
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key), after.get(key)
        if now is None:
            lines.append(f"- {was['name']} {was['version']}")  # type: ignore[index]
        elif was is None:
            lines.append(f"+ {now['name']} {now['version']}")
        elif was["version"] != now["version"]:
            lines.append(f"~ {now['name']} {was['version']} -> {now['version']}")
        elif was["requirement"] != now["requirement"]:
            lines.append(f"~ {now['name']} {now['version']}: {_req_text(was)} -> {_req_text(now)}")
    return lines


def _req_text(package: dict[str, Any]) -> str:
    req = package["requirement"]
    if not isinstance(req, dict):
        return str(req)
    path = req["path"] if req["path"].startswith(("/", ".")) else f"./{req['path']}"
    return ("-e " if package.get("source") == "editable" else "") + path


def requirements_view(lock: dict[str, Any]) -> str:
    """The lock's pins as a plain requirements.txt (paths relative to the notebook's folder)."""
    head = f"# {lock['mode']} lock for Python {lock['python']['version']} on {lock['platform']}"
    lines = [head] + [_req_text(p) for p in lock.get("packages", [])]
    return "\n".join(lines) + "\n"


def _pins(lock: dict[str, Any]) -> dict[str, str]:
    """Normalized name -> ``name==version`` for the lock's packages that come from an index."""
    return {
        normalize(p["name"]): p["requirement"]
        for p in lock["packages"]
        if p["source"] in _PINNED_SOURCES and isinstance(p["requirement"], str)
    }


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
            f"{_uv_reason(done.stderr)}",
            hint="install it in the kernel's environment and freeze again",
        )
    found = {}
    for line in done.stdout.splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            found[normalize(name)] = version.split(";")[0].strip()
    return found


def _uv_reason(stderr: str) -> str:
    lines = [line.strip(" ×╰─▶") for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Using ", "Resolved "))]
    return " ".join(useful[-3:]) or "uv failed"


def add_ipykernel(lock: dict[str, Any], spec: EnvironmentSpec) -> None:
    """Add ipykernel and what it needs, resolved against the lock's and the kernel's pins."""
    pins = _pins(lock)
    env_pins = {
        normalize(d.name): f"{d.name}=={d.version}"
        for d in spec.distributions
        if d.source in _PINNED_SOURCES
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


def preflight(lock: dict[str, Any], platform: str, *, force: bool = False) -> list[str]:
    """Names of the lock's index packages that have no wheel for ``platform``.

    Checked only when the captured system/machine differs from ``platform`` (or ``force``):
    one batched ``uv pip install --dry-run --no-deps --only-binary :all:``, then again
    without each package uv names, until it passes.
    """
    if not force and captured_platform(lock) == platform:
        return []
    tag = platform_tag(platform)
    remaining = _pins(lock)
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
                f"cannot check packages for {platform}: {_uv_reason(done.stderr)}",
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
