"""What freeze computes before it writes anything: the kernel's environment, captured (and
kept until its site-packages change), and the lock that capture gives the notebook now."""

from __future__ import annotations

import glob
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..config import ContainerizeConfig
from ..models import EnvironmentSpec
from ..paths import cache_dir
from .layerorder import layer_order


def capture_for(
    python: str | None = None,
    notebook: str | Path | None = None,
    *,
    config: ContainerizeConfig | None = None,
) -> EnvironmentSpec:
    """Capture ``python``, else the notebook's kernel's interpreter (never another in its
    place), checked first: a missing kernel or a broken interpreter stops here.

    ``config`` is taken like every stage's entry takes it; a capture reads no setting."""
    from ..errors import PythonNotFoundError
    from .interpreter import interpreter_for
    from .lock import capture_python

    exe = interpreter_for(python, notebook)
    cached = _cached_capture(exe)
    if cached is not None:
        return cached
    try:
        spec = capture_python(exe)
    except PythonNotFoundError as exc:  # it answered the probe: the capture itself failed
        reason = " ".join(str(exc.data.get("stderr") or "").strip().splitlines()[-1:])
        raise PythonNotFoundError(
            f"capturing the environment of {exe} failed: {reason or exc.message}",
            hint="check that the environment imports (`PYTHON -c 'import site'`) or pass "
            "--python PATH of another environment",
        ) from exc
    _store_capture(exe, spec)
    return spec


def _site_dirs(spec: EnvironmentSpec) -> list[str]:
    dirs = set()
    for prefix in {spec.prefix, spec.base_prefix} - {""}:
        dirs.update(glob.glob(os.path.join(prefix, "lib", "python*", "site-packages")))
    return sorted(dirs)


def _capture_file(exe: str) -> Path:
    key = hashlib.sha256(os.path.abspath(exe).encode()).hexdigest()[:24]
    return cache_dir() / "capture" / f"{key}.json"


def _stamps(paths: list[str]) -> dict[str, int]:
    return {p: os.stat(p).st_mtime_ns for p in paths if os.path.exists(p)}


def _cached_capture(exe: str) -> EnvironmentSpec | None:
    """A capture is reused while no site-packages folder of that interpreter has changed:
    every install, upgrade or removal adds or removes a .dist-info entry there."""
    try:
        data = json.loads(_capture_file(exe).read_text())
    except (OSError, ValueError):
        return None
    watched = [os.path.abspath(exe), *data["stamps"]][1:]
    if not watched or _stamps(watched) != data["stamps"]:
        return None
    return EnvironmentSpec.from_json(data["spec"])


def _store_capture(exe: str, spec: EnvironmentSpec) -> None:
    dirs = _site_dirs(spec)
    if not dirs:
        return
    path = _capture_file(exe)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"stamps": _stamps(dirs), "spec": spec.to_json()}))
    tmp.replace(path)


def next_lock(
    notebook: Path,
    spec: EnvironmentSpec,
    *,
    mode: str,
    platform: str,
    old: dict | None,
    nb: Any = None,
    hashes: bool = True,
) -> dict[str, Any]:
    """The lock ``spec`` gives the notebook now (layers ordered after ``old``); not written.

    A live kernel's imports count; otherwise the notebook's (``nb``, read when not given)
    import statements do. With ``hashes``, each index package records the file the image
    installs and its sha256 (kept from ``old`` for an unchanged pin).
    """
    from . import lock as locks
    from .filehashes import record_files
    from .notebook import imports_from_notebook, load_notebook

    nb = nb if nb is not None else load_notebook(notebook)
    imports = spec.imported if spec.live_kernel and spec.imported else imports_from_notebook(nb)
    new = locks.make_lock(spec, mode, imports, platform=platform, notebook_dir=notebook.parent)
    new["layers"] = layer_order(old, new)
    if hashes:
        record_files(new, old)
    return new
