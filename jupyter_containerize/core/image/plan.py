"""What a build path needs, computed once from the notebook, its lock and its base: the
inputs, the environment and image hashes, and the labels of the images made."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import labels
from ..config import ContainerizeConfig
from ..env import localproject, project
from ..env.apttxt import apt_packages
from ..env.lock import lock_sha256
from ..paths import cache_dir
from ..progress import Reporter
from . import imagefs, installer
from .base.model import BaseImage

RENDERER_VERSION = "6"  # 6: scripts' RECORD lines match their re-pointed #! line


class BuildPlan:
    """Everything a build path needs, computed once: inputs, hashes, labels."""

    def __init__(
        self,
        nb_path: Path,
        nb_json: dict | None,
        lockdata: dict,
        lock_file: Path,
        base_img: BaseImage,
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
        self.apt_in_base = False  # apt.txt's packages are in self.base already
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

    def created(self) -> str:
        """The image's creation time, as its label and config write it."""
        seconds = self._created_epoch
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def created_epoch(self) -> int:
        """SOURCE_DATE_EPOCH, else the lock's commit time when it is committed as it is,
        else the lock file's time: never the time of the build (asked of git once per plan)."""
        return self._created_epoch

    @functools.cached_property
    def _created_epoch(self) -> int:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch:
            return int(epoch)
        name = self.lock_file.name
        if not _git(self.root, "status", "--porcelain", "--", name):
            committed = _git(self.root, "log", "-1", "--format=%ct", "--", name)
            if committed.isdigit():
                return int(committed)
        return int(self.lock_file.stat().st_mtime)


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
