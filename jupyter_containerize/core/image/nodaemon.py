"""Build and push with no engine at all (JupyterHub and Kubeflow pods).

The layers are made as for any build; the image goes straight to the registry: the base's
layers are named by their registry descriptors and mounted into the target repository, never
downloaded; ours are sent from our store. The import check runs with this machine's own
interpreter of the image's Python minor over the image's site-packages, when the platform
matches; otherwise the build says plainly that it could not check.
"""

from __future__ import annotations

import json
import os
import platform as host_platform
import subprocess
from pathlib import Path
from typing import Any

from ..engine import imagestore
from ..errors import BuildError
from ..models import BuildResult
from ..paths import cache_dir, write_atomic
from . import imagefs, installer, layers
from .importcheck import SMOKE, judge

HOST_PLATFORMS = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64",
                  "arm64": "linux/arm64"}


def _checked_path() -> Path:
    return cache_dir() / "import-checked.json"


def _checked() -> set[str]:
    try:
        return set(json.loads(_checked_path().read_text()))
    except (OSError, ValueError):
        return set()


def _remember_checked(digests: list[str]) -> None:
    write_atomic(_checked_path(), json.dumps(sorted(_checked() | set(digests))).encode())


def import_check(plan: Any, folders: list[Path], modules: list[str]) -> str | None:
    """Import ``modules`` over the image's site-packages with a local interpreter of the
    image's Python; returns why it could not run, or None when it ran and passed."""
    minor = plan.minor
    here = HOST_PLATFORMS.get(host_platform.machine().lower(), "")
    if host_platform.system() != "Linux" or here != plan.platform:
        return f"this machine is not {plan.platform}"
    python = installer.compile_python_for(minor, plan.kernel_python)  # the kernel's first
    if python is None:
        return f"this machine has no Python {minor} to import with"
    if not modules:
        return None
    sites = [str(f / "lib" / f"python{minor}" / "site-packages") for f in folders]
    # -B: importing must never write bytecode into the installed distributions we layer
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONNOUSERSITE": "1",
           "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(sites), "HOME": os.environ.get("HOME", "/tmp")}
    try:
        proc = subprocess.run([python, "-S", "-B", "-c", SMOKE, *modules], env=env,
                              capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        return "the import check took over 10 minutes"
    judge(proc.stdout or proc.stderr, "with the image's packages")
    return None


def push_without_engine(
    plan: Any, env_spec: layers.ImageSpec, nb_spec: layers.ImageSpec, groups: list[list[str]],
    user: dict[str, Path], result: BuildResult,
) -> None:
    from .. import oci as distribution
    from .. import oci as publish
    from ..oci.reference import check_reference

    rb, rep = plan.remote, plan.rep
    target = plan.push_to
    host, name, _tag, _digest = distribution.split_target(target)
    base_host = distribution.split_target(rb.base.reference)[0]
    if base_host != host:
        raise BuildError(
            f"with no engine the base must be in the registry the image goes to ({host}), "
            f"not {base_host}",
            hint=f"push the base to {host} once (`jupyter containerize push BASE --registry "
                 f"{host}`) and pass it as --base",
        )
    env_layers = env_spec.layers
    checked = _checked()
    dist_layers = env_layers[2:]  # after the meta and tool layers
    new = [k for g, la in zip(groups, dist_layers) if la.diff_id not in checked for k in g]
    modules = [m for k in new for m in imagefs.top_level_modules(user[k], plan.minor)]
    with rep.phase("import check"):
        why = import_check(plan, list(user.values()), modules)
    if why:
        line = f"import check not run: {why}; the image's first run will show a missing library"
        rep.log(line)
        result.warnings.append(line)
    else:
        _remember_checked([la.diff_id for la in dist_layers])
    base_blobs = [
        distribution.Blob(str(d["digest"]), int(d["size"]), str(d["mediaType"]), None,
                          f"base layer {i + 1}")
        for i, d in enumerate(rb.layers)
    ]
    mount = [rb.repository] + publish.repositories_holding(
        host, [la.diff_id for la in nb_spec.layers])

    def ours(spec: layers.ImageSpec) -> list[distribution.Blob]:
        return [distribution.Blob(la.diff_id, la.size, distribution.OCI_LAYER, la.path,
                                  la.comment or la.diff_id[7:19]) for la in spec.layers]

    repo = check_reference(target)[0]
    with rep.phase("push"):
        distribution.push_image(f"{repo}:env-{plan.env_hash[:12]}",
                                layers.config_bytes(env_spec.config), base_blobs + ours(env_spec),
                                mount_from=mount, progress=rep.emit)
        digest = distribution.push_image(target, layers.config_bytes(nb_spec.config),
                                         base_blobs + ours(nb_spec), mount_from=mount,
                                         progress=rep.emit)
    imagestore.keep([env_spec, nb_spec])
    publish.remember_pushed(host, name, [la.diff_id for la in nb_spec.layers])
    result.config_digest = layers.image_id(nb_spec.config)
    result.manifest_digest = result.image_id = result.digest = digest
    result.reference = f"{repo}@{digest}"
    rep.log(f"pushed {target}: manifest {digest}, config {result.config_digest}")
