"""The types the verbs return. Plain dataclasses with a JSON round trip."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T", bound="_JSON")


class _JSON:
    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    @classmethod
    def from_json(cls: type[T], data: dict[str, Any]) -> T:
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class Distribution(_JSON):
    """One installed distribution and where it really came from."""

    name: str
    version: str
    # index | url | vcs | local | editable | conda | unknown
    source: str = "index"
    url: str | None = None
    # for vcs: commit id; for archives: hash from direct_url.json
    revision: str | None = None
    path: str | None = None
    installer: str | None = None
    requires: list[str] = field(default_factory=list)
    top_level: list[str] = field(default_factory=list)


@dataclass
class EnvironmentSpec(_JSON):
    """What capture reads from an interpreter or a live kernel."""

    python_version: str
    python_executable: str
    implementation: str = "cpython"
    platform_system: str = "Linux"
    machine: str = "x86_64"
    libc: str = ""
    prefix: str = ""
    base_prefix: str = ""
    distributions: list[Distribution] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    live_kernel: bool = False
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnvironmentSpec:
        data = dict(data)
        data["distributions"] = [Distribution.from_json(d) for d in data.get("distributions", [])]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def python_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    def by_name(self) -> dict[str, Distribution]:
        return {normalize(d.name): d for d in self.distributions}


@dataclass
class BuildResult(_JSON):
    reference: str
    image_id: str = ""
    digest: str | None = None
    # the image's config digest (its ID on a layer store) and manifest digest (its ID on a
    # containerd image store, and what a registry pins): same inputs, same digests
    config_digest: str = ""
    manifest_digest: str = ""
    env_hash: str = ""
    image_hash: str = ""
    builder: str = ""
    cached: bool = False
    lock_path: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    python: str = ""
    warnings: list[str] = field(default_factory=list)
    largest_files: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class Artifact(_JSON):
    path: str
    size: int
    sha256: str


@dataclass
class RunRecord(_JSON):
    id: str
    notebook: str
    image: str
    image_digest: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    env_names: list[str] = field(default_factory=list)
    status: str = "pending"  # pending|running|succeeded|failed|timed out|cancelled
    started: str | None = None
    ended: str | None = None
    duration: float | None = None
    output: str | None = None
    html: str | None = None
    artifacts_dir: str | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    reproduction: dict[str, Any] | None = None
    container: str | None = None


@dataclass
class Deployment(_JSON):
    name: str
    image: str
    url: str
    container: str = ""
    model_sha256: str = ""
    flavor: str = ""
    status: str = ""
    replicas: int = 1


@dataclass
class Job(_JSON):
    id: str
    kind: str  # build | run | serve | push | pull
    status: str = "pending"  # pending|running|succeeded|failed|cancelled|timed out
    created: str = ""
    updated: str = ""
    notebook: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None
    container: str | None = None


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()
