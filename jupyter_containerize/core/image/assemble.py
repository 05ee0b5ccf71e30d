"""Build paths: layers made outside the engine (default) and the classic builder (fallback).

The layers path installs each locked distribution once into a cache (uv, for the image's
platform), packs groups of them into deterministic layer tars, and loads base + layers + config
into the engine. The lock records the layers' order (``"layers"``), so the same lock gives the
same image on any machine, and adding
a package adds a layer at the end and every earlier layer is reused as it is.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import labels as labels_mod
from ..attest import sbom as cdx
from ..engine import client as engine
from ..engine import images, imagestore
from ..errors import BuildError
from ..models import BuildResult
from ..paths import cache_dir
from . import imagefs, installer, layers, layerstream, sbomfile
from .importcheck import smoke_test
from .plan import RENDERER_VERSION


def assemble(
    plan: Any, reference: str, env_ref: str, author: str | None, builder: str, result: BuildResult
) -> str:
    if plan.remote is not None:
        if builder == "classic" or plan.apt:
            raise BuildError(
                "with no engine, only the layers builder can build"
                + (" and apt.txt cannot be installed" if plan.apt else ""),
                hint="start an engine (or set DOCKER_HOST), or use a base that already has "
                     "those system packages" if plan.apt else "drop --builder classic",
            )
        _layers_path(plan, reference, env_ref, author, result)
        return "layers"
    if plan.apt:  # apt.txt: the image goes on a base with those system packages, whose
        # dpkg status the SBOM then lists
        from .aptbase import with_packages

        plan.base = with_packages(plan.base, plan.apt, plan.rep, no_cache=plan.no_cache,
                                  extra_labels=dict(plan.cfg.extra_labels))
        plan.apt_in_base = True
    if builder == "classic":
        from .dockerfile import classic

        classic(plan, reference, author, result)
        return "classic"
    _layers_path(plan, reference, env_ref, author, result)
    return "layers"


def _dist_requirements(plan: Any, folder: Path, by_pin: dict[str, str]) -> dict[str, str]:
    from ..env.localproject import local_wheels

    reqs = {}
    wheels = local_wheels(plan.root, plan.lock, folder)
    for pkg in plan.lock["packages"]:
        name, version, wheel = pkg["name"], pkg["version"], wheels.get(pkg["name"])
        if wheel:  # a local project's cache key is its source's content, not its path
            identity = f"{name} @ source-sha256:{wheel.source_sha256}"
            key, line = installer.dist_key(name, version, identity), str(wheel.path)
        else:
            line = str(pkg["requirement"])
            key = installer.dist_key(name, version, line)
        reqs[key] = line
        by_pin[f"{name}=={version}"] = key
    return reqs


def _layers_path(
    plan: Any, reference: str, env_ref: str, author: str | None, result: BuildResult
) -> None:
    rep, minor = plan.rep, plan.minor
    work = cache_dir() / "layers"
    work.mkdir(exist_ok=True)
    by_pin: dict[str, str] = {}
    reqs = _dist_requirements(plan, cache_dir() / "wheels", by_pin)
    tool_reqs = {
        installer.dist_key(p.split("==")[0], p.split("==")[1], p): p for p in plan.tool_pins
    }
    groups = _groups(plan, by_pin)
    compile_py = installer.compile_python_for(minor, None)
    where = (minor, plan.platform, plan.base.glibc)
    root = installer.store(*where)
    user = {k: root / k for k in reqs}
    tool = {k: root / k for k in tool_reqs}

    base_attrs = (plan.remote.attrs if plan.remote is not None
                  else engine.require_image(plan.base.reference).attrs)
    lab = plan.labels(author, "layers")
    env_lab = {k: v for k, v in lab.items() if "notebook" not in k}
    env_lab[labels_mod.ROLE] = "environment"
    env_lab[labels_mod.OCI_VERSION] = plan.env_hash[:12]  # same environment, same image
    common = {
        "env": imagefs.image_env(minor),
        "user": imagefs.RUNNER_USER,
        "workdir": imagefs.WORK,
        "cmd": [f"{imagefs.ENV}/bin/python"],
        "created": plan.created(),
    }

    def config(layer_list: list[layers.Layer], labels: dict[str, str]) -> dict[str, Any]:
        return layers.image_config(base_attrs, layer_list, labels=labels, **common)

    # what the engine holds before this build: what it does not is what the smoke test imports
    holding = imagestore.engine_state() if plan.remote is None else None
    todo = set(installer.missing({**tool_reqs, **reqs}, *where, no_cache=plan.no_cache))
    tool_todo = [k for k in sorted(tool_reqs) if k in todo]
    user_waves = layerstream.waves([k for g in groups for k in g
                                    if k in todo and k not in tool_reqs])
    stream = None
    if holding is not None and len(user_waves) > 1:
        stream = layerstream.LayerStream(
            env_ref.rsplit(":", 1)[0], plan.base.reference, config, env_lab, work, rep.log,
            imagestore.Holding(holding.kind, set(holding.chains), dict(holding.blobs),
                               holding.engine_id),
        )
    # the image's layers in order (meta, tool, one per group), each written once the
    # distributions it holds are in the store
    sequence = [(sorted(tool), tool, imagefs.TOOL, "tool")] + [
        (g, user, imagefs.ENV, f"env {i + 1}") for i, g in enumerate(groups)
    ]
    env_layers = [_meta_layer(plan, work)]
    everything = set(tool) | set(reqs)
    ready = everything - todo

    def write_ready(done: frozenset[str]) -> list[layers.Layer]:
        """Write the next layers whose distributions are all in ``done``; the layers so far."""
        while len(env_layers) - 1 < len(sequence):
            keys, folders, prefix, comment = sequence[len(env_layers) - 1]
            if not done.issuperset(keys):
                break
            env_layers.append(_dist_layer(keys, folders, prefix, work, comment, plan.no_cache))
        return list(env_layers)

    def on_wave(keys: list[str]) -> None:
        ready.update(keys)
        if stream is not None and not ready.issuperset(everything):
            # written and loaded in the background while the next wave compiles
            stream.add(functools.partial(write_ready, frozenset(ready)))

    if stream is not None:
        # the base (a containerd store may need its bytes) and the first layer go in while
        # the distributions download
        stream.add(lambda: list(env_layers))
    # the base's dpkg status (for the SBOM) is read while the distributions install
    reading = ThreadPoolExecutor(1, thread_name_prefix="dpkg-status")
    dpkg_status = reading.submit(sbomfile.base_dpkg_status, plan, base_attrs)
    reading.shutdown(wait=False)
    try:
        with rep.phase("install"):
            installer.ensure({**tool_reqs, **reqs}, minor, plan.platform, compile_py,
                             glibc=plan.base.glibc, no_cache=plan.no_cache, log=rep.log,
                             waves=[tool_todo, *user_waves], on_wave=on_wave,
                             python_version=exact_python(plan.lock["python"]["version"], minor),
                             hashes=installer.lock_hashes(plan.lock))
        with rep.phase("sbom"):
            sites = [_site(f, minor) for f in [*tool.values(), *user.values()]]
            sbom = sbomfile.image_sbom(plan, dpkg_status.result(), sites)
            result.sbom_digest = lab[cdx.SBOM_DIGEST_LABEL] = sbomfile.digest(sbom)
        with rep.phase("layers"):
            if stream is not None:
                stream.finish()  # the layers it writes come first
            write_ready(frozenset(everything))
            proj = layers.write_layer(
                imagefs.project_entries(
                    plan.root, plan.files.files, plan.notebook_rel, plan.notebook_bytes
                ) + [sbomfile.sbom_entry(sbom)],
                work / f"project-{plan.image_hash[:16]}.tar",
                plan.created_epoch(),
                {imagefs.HOME.strip("/"): layers.USER, imagefs.WORK.strip("/"): layers.USER},
            )
            proj.comment = "project files, SBOM"
        env_cfg = config(env_layers, env_lab)
        nb_cfg = config(env_layers + [proj], lab)
        env_spec = layers.ImageSpec(env_ref, env_layers, env_cfg)
        nb_spec = layers.ImageSpec(reference, env_layers + [proj], nb_cfg)
        if holding is None:
            from .nodaemon import push_without_engine

            push_without_engine(plan, env_spec, nb_spec, groups, user, result)
            proj.path.unlink(missing_ok=True) if proj.path else None
            return
        held = holding.held(env_cfg["rootfs"]["diff_ids"])
        first_group = len(held) - len(env_layers) + 2  # after the base, the meta and tool layers
        new = [k for j, g in enumerate(groups) if not held[first_group + j] for k in g]
        with rep.phase("load"):
            loaded = imagestore.load(
                [env_spec, nb_spec], plan.base.reference, work, rep.log,
                stream.finish() if stream is not None else holding,
            )
    finally:
        if stream is not None:
            stream.close()
            stream.remove_partials()
    result.image_id = loaded.image_id(1)
    result.config_digest = loaded.config_digests[1]
    result.manifest_digest = loaded.manifest_digests[1] or ""
    rep.log(f"image {reference}: config {result.config_digest}"
            + (f", manifest {result.manifest_digest}" if result.manifest_digest else "")
            + f" ({loaded.kind})")
    with rep.phase("smoke test"):
        try:
            smoke_test(reference,
                       [m for k in new for m in imagefs.top_level_modules(user[k], minor)])
        except BuildError:
            # a rebuild must not answer with an image whose distributions do not import
            for tag in (reference, env_ref):
                images.remove_quietly(tag)
            raise
    proj.path.unlink(missing_ok=True) if proj.path else None


def _site(folder: Path, minor: str) -> Path:
    """The site-packages folder of one installed distribution in our store."""
    return folder / "lib" / f"python{minor}" / "site-packages"


def _groups(plan: Any, by_pin: dict[str, str]) -> list[list[str]]:
    """The lock's layer groups, as distributions' store keys."""
    from ..env.layerorder import layer_order

    order = plan.lock.get("layers") or []
    if not order or any(pin not in by_pin for group in order for pin in group):
        order = layer_order(None, plan.lock)  # an old or hand-edited lock
    return [[by_pin[pin] for pin in group] for group in order]


def _meta_layer(plan: Any, work: Path) -> layers.Layer:
    entries = imagefs.meta_entries(plan.base.python_path, plan.base.python_version)
    key = hashlib.sha256(repr([(e.name, e.data, e.target) for e in entries]).encode()).hexdigest()
    return _cached_layer(
        work / f"meta-{key[:24]}", lambda out: layers.write_layer(entries, out, 0), "environments"
    )


def _dist_layer(
    group: list[str], folders: dict[str, Path], prefix: str, work: Path, comment: str,
    fresh: bool = False,
) -> layers.Layer:
    # the folders name the Python minor and platform too: a layer never crosses them
    key = hashlib.sha256(
        "\n".join([RENDERER_VERSION, prefix, *(str(folders[k]) for k in group)]).encode()
    ).hexdigest()

    def make(out: Path) -> layers.Layer:
        entries = [e for k in group for e in imagefs.dist_entries(folders[k], prefix)]
        return layers.write_layer(entries, out, 0)

    return _cached_layer(
        work / f"dists-{key[:24]}", make, f"{comment}: {len(group)} packages", fresh
    )


def _cached_layer(stem: Path, make: Any, comment: str, fresh: bool = False) -> layers.Layer:
    meta, tar = stem.with_suffix(".json"), stem.with_suffix(".tar")
    if meta.exists() and tar.exists() and not fresh:
        info = json.loads(meta.read_text())
        return layers.Layer(info["diff_id"], tar, info["size"], comment)
    layer = make(tar)
    meta.write_text(json.dumps({"diff_id": layer.diff_id, "size": layer.size}))
    layer.comment = comment
    return layer


def exact_python(version: str, minor: str) -> str:
    """The Python uv judges ``Requires-Python`` against: the kernel's own release (``3.11.7``,
    the lock's), where every locked distribution was installed and ran; the image's Python has
    the same minor (its patch release may differ, and the labels say so). The minor alone when
    the lock does not say its patch release."""
    plain = re.fullmatch(rf"{re.escape(minor)}\.\d+", version.strip())
    return plain.group(0) if plain else minor
