"""freeze and build: capture, lock, hash, then the image by the fastest path the engine allows."""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .. import labels
from ..attest.sbom import SBOM_DIGEST_LABEL
from ..attest.store import folder as facts_folder
from ..config import ContainerizeConfig, resolve
from ..engine import client as engine
from ..env import project
from ..env.apttxt import apt_packages
from ..env.freezing import capture_for, next_lock
from ..env.lock import lock_path as lock_path_for
from ..env.uv import use_ca_bundle
from ..errors import BuildError, ContainerizeError, ImageReferenceError, NotebookError
from ..models import BuildResult, EnvironmentSpec
from ..options import DEFAULT_PLATFORM
from ..paths import cache_dir
from ..progress import Reporter
from . import installer, sbomfile
from .plan import BuildPlan


def freeze(
    notebook: str | Path,
    *,
    python: str | None = None,
    lock: str = "full",
    spec: EnvironmentSpec | None = None,
    dockerfile: str | Path | None = None,
    requirements: bool = False,
    check: bool = False,
    platform: str = DEFAULT_PLATFORM,
    config: ContainerizeConfig | None = None,
) -> Path:
    """Capture and lock beside the notebook; rewrite the lock only when it changed."""
    from ..env import lock as locks
    from ..env.notebook import load_notebook

    cfg = resolve(config)
    installer.use_index(cfg.index_url)
    use_ca_bundle(cfg.ca_bundle)
    nb_path = Path(notebook).resolve()
    nb = load_notebook(nb_path)
    spec = spec or capture_for(python, nb_path, config=cfg)
    path = lock_path_for(nb_path)
    old = locks.read_lock(path) if path.exists() else None
    new = next_lock(nb_path, spec, mode=lock, platform=platform, old=old, nb=nb,
                    hashes=not check)  # a check compares pins; it needs no index
    if check:
        from ..errors import LockDriftError

        if old is None:
            raise LockDriftError(f"{path.name} does not exist", hint="run `freeze` first")
        diff = locks.diff_locks(old, new)
        if diff:
            raise LockDriftError(
                "the kernel no longer matches the lock: " + "; ".join(diff),
                hint="run `jupyter containerize freeze` to update it",
                diff=diff,
            )
        return path
    if old is None or locks.lock_sha256(old) != locks.lock_sha256(new):
        locks.write_lock(new, path)
    if requirements:
        path.with_name(nb_path.stem + ".requirements.txt").write_text(locks.requirements_view(new))
    if dockerfile:
        from .dockerfile import eject

        eject(nb_path, new, Path(dockerfile), config=cfg)
    return path


@contextmanager
def _hash_lock(key: str) -> Iterator[None]:
    """Two builds of the same inputs at once: the second waits for the first."""
    folder = cache_dir() / "locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{key}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build(
    notebook: str | Path,
    *,
    python: str | None = None,
    base: str | None = None,
    lock: str = "full",
    locked: bool = False,
    platform: str = DEFAULT_PLATFORM,
    tag: str | None = None,
    no_cache: bool = False,
    builder: str = "auto",
    dry_run: bool = False,
    spec: EnvironmentSpec | None = None,
    strip_outputs: bool = False,
    allow_flagged_outputs: bool = False,
    author: str | None = None,
    progress: Callable[[Any], None] | None = None,
    config: ContainerizeConfig | None = None,
    push: str | None = None,
) -> BuildResult:
    """Freeze (reusing an unchanged lock) and build the notebook's image; with ``push``, push
    it to that reference too, and with no engine answering, build and push without one."""
    from ..env import lock as locks
    from ..env.notebook import load_notebook
    from .base.find import find_base

    cfg = resolve(config)
    installer.use_index(cfg.index_url)
    use_ca_bundle(cfg.ca_bundle)
    started = sbomfile.now()
    rep = Reporter(progress)
    nb_path = Path(notebook).resolve()
    nb = load_notebook(nb_path)
    apt_packages(nb_path.parent)  # a bad apt.txt stops the build before any work
    if tag and not labels.is_valid_reference(tag):
        raise ImageReferenceError(
            f"{tag!r} is not a valid image reference",
            hint="use lowercase letters, digits, . _ - and /, e.g. team/model:1",
        )
    nb_json = project.strip_outputs(dict(nb)) if strip_outputs else None
    if not strip_outputs:
        project.check_outputs(nb, allow_flagged_outputs)
    with rep.phase("freeze"):
        if locked:
            lpath = lock_path_for(nb_path)
            if not lpath.exists():
                raise NotebookError(
                    f"--locked needs {lpath.name} beside the notebook",
                    hint="run `jupyter containerize freeze` and commit the lock",
                )
        else:
            lpath = freeze(nb_path, python=python, lock=lock, spec=spec, platform=platform,
                           config=cfg)
        lockdata = locks.read_lock(lpath)
    minor = ".".join(lockdata["python"]["version"].split(".")[:2])
    with rep.phase("preflight"):
        no_build = locks.preflight(lockdata, platform)
    for name in no_build:
        rep.log(f"warning: {name} publishes no wheel for {platform}: it must build from source")
    remote = None
    if push:
        from ..oci.reference import check_reference

        push_repo, push_tag, _ = check_reference(push)
        if not _engine_answers():
            from .base.registry import registry_base

            rep.log(f"no engine answers: building for {push} without one")
            with rep.phase("base"):
                remote = registry_base(base or cfg.base_image or None,
                                       lockdata["python"]["version"])
    if remote is not None:
        base_img = remote.base
    else:
        with rep.phase("base"):
            base_img = find_base(
                engine.client(), lockdata["python"]["version"], base or cfg.base_image or None
            )
    if base_img.python_version.rsplit(".", 1)[0] != minor:
        raise BuildError(
            f"base {base_img.reference} has Python {base_img.python_version}, "
            f"the lock needs {minor}",
            hint="pass a --base with that minor version",
        )
    plan = BuildPlan(nb_path, nb_json, lockdata, lpath, base_img, platform, cfg, rep, no_cache)
    plan.remote, plan.push_to, plan.kernel_python = remote, push, python
    repo = labels.repository_name(nb_path.stem)
    reference = tag or f"{repo}:{plan.image_hash[:12]}"
    env_ref = f"{repo}:env-{plan.env_hash[:12]}"
    result = BuildResult(
        reference=reference,
        env_hash=plan.env_hash,
        image_hash=plan.image_hash,
        lock_path=str(lpath),
        python=base_img.python_version,
        warnings=list(lockdata.get("warnings", []))
        + plan.files.left_out
        + [f"{n} publishes no wheel for {platform}" for n in no_build],
        largest_files=plan.files.largest(),
    )
    for line in plan.files.left_out:
        rep.log(line)
    if dry_run:
        result.builder = "dry-run"
        return result
    with _hash_lock(plan.image_hash):
        existing = None if (no_cache or remote) else engine.get_image(reference)
        # reused only when it is the image this build would make: its creation time is an
        # input too (the lock's commit or file time), so a copy of the project frozen at another
        # time makes its own image rather than answering with one of another date
        if (existing is not None and existing.labels.get(labels.ENV_HASH) == plan.env_hash
                and existing.labels.get(SBOM_DIGEST_LABEL)
                and existing.labels.get(labels.OCI_CREATED, plan.created()) == plan.created()):
            result.cached, result.image_id, result.builder = True, existing.id, "cache"
            result.sbom_digest = existing.labels[SBOM_DIGEST_LABEL]
            kept = facts_folder(existing.id) / "facts.json"
            if not kept.exists():  # built before facts were kept, or with another data dir
                how = existing.labels.get(labels.BUILDER)
                kept = sbomfile.record_facts(
                    plan, [existing.id], build_path=how if how == "classic" else "layers",
                    engine=True, started=started, sbom_digest=result.sbom_digest,
                    image_name=reference) or kept
            result.facts_path = str(kept)
            rep.log(f"reusing {reference}")
        else:
            from .assemble import assemble

            result.builder = assemble(plan, reference, env_ref, author, builder, result)
            with rep.phase("facts"):
                facts = sbomfile.record_facts(
                    plan, [result.image_id, result.config_digest, result.manifest_digest],
                    build_path=result.builder, engine=remote is None, started=started,
                    sbom_digest=result.sbom_digest, image_name=result.reference or reference)
            result.facts_path = str(facts or "")
        if push and remote is None:
            from ..engine.parts import image_parts
            from .push import push_parts

            with rep.phase("push"):
                digest = push_parts(image_parts(reference), push_repo, push_tag, rep.emit,
                                    config=cfg)
            result.digest = digest
            result.reference = f"{push_repo}@{digest}"
    result.timings = rep.timings
    rep.log(result.reference)
    return result


def _engine_answers() -> bool:
    from ..errors import EngineUnavailableError

    try:
        engine.client()
    except EngineUnavailableError:
        return False
    return True


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(), time.perf_counter() - t0


__all__ = ["build", "freeze", "next_lock", "capture_for", "ContainerizeError"]
