"""freeze and build: capture, lock, hash, then the image by the fastest path the engine allows."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import labels
from ..config import ContainerizeConfig, load_config
from ..engine import client as engine
from ..env import localproject, project
from ..env.apttxt import apt_packages
from ..env.layerorder import layer_order
from ..env.lock import lock_path as lock_path_for
from ..errors import BuildError, ContainerizeError, ImageReferenceError, NotebookError
from ..models import BuildResult, EnvironmentSpec
from ..paths import cache_dir
from ..progress import Reporter
from . import imagefs, installer

RENDERER_VERSION = "6"  # 6: scripts' RECORD lines match their re-pointed #! line


def capture_for(python: str | None = None, notebook: str | Path | None = None) -> EnvironmentSpec:
    """Capture ``python``, else the notebook's kernel's interpreter (never another in its
    place), checked first: a missing kernel or a broken interpreter stops here."""
    from ..env.interpreter import interpreter_for
    from ..env.lock import capture_python
    from ..errors import PythonNotFoundError

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
    import glob

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
) -> dict[str, Any]:
    """The lock ``spec`` gives the notebook now (layers ordered after ``old``); not written.

    A live kernel's imports count; otherwise the notebook's (``nb``, read when not given)
    import statements do.
    """
    from ..env import lock as locks
    from ..env.notebook import imports_from_notebook, load_notebook

    nb = nb if nb is not None else load_notebook(notebook)
    imports = spec.imported if spec.live_kernel and spec.imported else imports_from_notebook(nb)
    new = locks.make_lock(spec, mode, imports, platform=platform, notebook_dir=notebook.parent)
    new["layers"] = layer_order(old, new)
    return new


def freeze(
    notebook: str | Path,
    *,
    python: str | None = None,
    lock: str = "full",
    spec: EnvironmentSpec | None = None,
    dockerfile: str | Path | None = None,
    requirements: bool = False,
    check: bool = False,
    platform: str = "linux/amd64",
) -> Path:
    """Capture and lock beside the notebook; rewrite the lock only when it changed."""
    from ..env import lock as locks
    from ..env.notebook import load_notebook

    installer.use_index(load_config().index_url)
    nb_path = Path(notebook).resolve()
    nb = load_notebook(nb_path)
    spec = spec or capture_for(python, nb_path)
    path = lock_path_for(nb_path)
    old = locks.read_lock(path) if path.exists() else None
    new = next_lock(nb_path, spec, mode=lock, platform=platform, old=old, nb=nb)
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

        eject(nb_path, new, Path(dockerfile))
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
    platform: str = "linux/amd64",
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
    from .baseimage import find_base

    cfg = config or load_config()
    installer.use_index(cfg.index_url)
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
            lpath = freeze(nb_path, python=python, lock=lock, spec=spec, platform=platform)
        lockdata = locks.read_lock(lpath)
    minor = ".".join(lockdata["python"]["version"].split(".")[:2])
    with rep.phase("preflight"):
        no_build = locks.preflight(lockdata, platform)
    for name in no_build:
        rep.log(f"warning: {name} publishes no wheel for {platform}: it must build from source")
    remote = None
    if push:
        from ..share.registry import check_reference

        push_repo, push_tag, _ = check_reference(push)
        if not _engine_answers():
            from .registrybase import registry_base

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
    plan = _Plan(nb_path, nb_json, lockdata, lpath, base_img, platform, cfg, rep, no_cache)
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
        if existing is not None and existing.labels.get(labels.ENV_HASH) == plan.env_hash:
            result.cached, result.image_id, result.builder = True, existing.id, "cache"
            rep.log(f"reusing {reference}")
        else:
            from .assemble import assemble

            result.builder = assemble(plan, reference, env_ref, author, builder, result)
        if push and remote is None:
            from ..share.publish import image_parts, push_parts

            with rep.phase("push"):
                digest = push_parts(image_parts(reference), push_repo, push_tag, rep.emit)
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


class _Plan:
    """Everything a build path needs, computed once: inputs, hashes, labels."""

    def __init__(
        self,
        nb_path: Path,
        nb_json: dict | None,
        lockdata: dict,
        lock_file: Path,
        base_img: Any,
        platform: str,
        cfg: ContainerizeConfig,
        rep: Reporter,
        no_cache: bool,
    ) -> None:
        self.nb_path, self.lock, self.lock_file = nb_path, lockdata, lock_file
        self.base, self.platform, self.cfg, self.rep, self.no_cache = (
            base_img,
            platform,
            cfg,
            rep,
            no_cache,
        )
        self.minor = ".".join(lockdata["python"]["version"].split(".")[:2])
        self.remote: Any = None  # a base in a registry, when no engine answers
        self.push_to: str | None = None
        self.kernel_python: str | None = None  # the kernel's interpreter, when given
        self.root = nb_path.parent
        self.notebook_rel = nb_path.name
        # The notebook as saved, byte for byte, unless its outputs were stripped.
        self.notebook_bytes = (
            nb_path.read_bytes() if nb_json is None
            else (json.dumps(nb_json, indent=1, ensure_ascii=False) + "\n").encode())
        self.apt = apt_packages(self.root)
        self.tool_pins = tool_pins(self.minor, platform)
        self.env_hash = _digest(
            {
                "base": base_img.identity,
                "lock": _lock_identity(lockdata),
                "apt": self.apt,
                "renderer": RENDERER_VERSION,
            "store": installer.STORE_VERSION,
            "local": localproject.project_digests(self.root, lockdata),
                "tool": self.tool_pins,
                "platform": platform,
            }
        )
        with rep.phase("project files"):
            self.files = project.collect(self.root, cfg.context_max_bytes,
                                         notebook=self.notebook_rel)
        self.image_hash = _digest(
            {
                "env": self.env_hash,
                "files": self.files.digest(),
                "notebook": hashlib.sha256(self.notebook_bytes).hexdigest(),
            }
        )

    def labels(self, author: str | None, builder: str) -> dict[str, str]:
        from ..env.lock import lock_sha256

        created = self.created()
        imported = [p["name"] for p in self.lock.get("packages", []) if p.get("imported_as")]
        out = {
            labels.MANAGED: "true",
            labels.NOTEBOOK: self.notebook_rel,
            labels.NOTEBOOK_SHA256: hashlib.sha256(self.notebook_bytes).hexdigest(),
            labels.LOCK_SHA256: lock_sha256(self.lock),
            labels.ENV_HASH: self.env_hash,
            labels.PYTHON: self.base.python_version,
            labels.PYTHON_KERNEL: self.lock["python"]["version"],
            labels.PACKAGES: ",".join(imported[:12]),
            labels.AUTHOR: author or _author(),
            labels.BASE_IDENTITY: self.base.identity[:64],
            labels.BUILDER: builder,
            labels.ROLE: "notebook",
            labels.OCI_CREATED: created,
            labels.OCI_TITLE: self.nb_path.stem,
            labels.OCI_VERSION: self.image_hash[:12],
        }
        revision = _git(self.root, "rev-parse", "HEAD")
        if revision:
            out[labels.OCI_REVISION] = revision
        source = _git(self.root, "config", "--get", "remote.origin.url")
        if source and source.startswith("https://") and "@" not in source:
            out[labels.OCI_SOURCE] = source
        out.update(self.cfg.extra_labels)
        return out

    def created_epoch(self) -> int:
        """SOURCE_DATE_EPOCH, else the lock's commit time when it is committed as it is,
        else the lock file's time: never the time of the build."""
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch:
            return int(epoch)
        name = self.lock_file.name
        if not _git(self.root, "status", "--porcelain", "--", name):
            committed = _git(self.root, "log", "-1", "--format=%ct", "--", name)
            if committed.isdigit():
                return int(committed)
        return int(self.lock_file.stat().st_mtime)

    def created(self) -> str:
        seconds = self.created_epoch()
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _lock_identity(lockdata: dict) -> dict:
    keep = ("python", "platform", "packages", "mode", "layers")
    return {k: lockdata.get(k) for k in keep}


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def tool_pins(minor: str, platform: str) -> list[str]:
    """papermill's tool environment, resolved once per Python minor and kept."""
    path = cache_dir() / "tool" / f"py{minor}-{platform.replace('/', '-')}.txt"
    key = "\n".join(imagefs.TOOL_REQUIREMENTS)
    if path.exists():
        head, _, body = path.read_text().partition("\n---\n")
        if head == key:
            return body.split()
    pins = installer.resolve(imagefs.TOOL_REQUIREMENTS, minor, platform)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n---\n" + "\n".join(pins))
    return pins


def _author() -> str:
    name = _git(Path.cwd(), "config", "user.name")
    if name:
        return name
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _git(cwd: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    return fn(), time.perf_counter() - t0


__all__ = ["build", "freeze", "next_lock", "capture_for", "ContainerizeError"]
