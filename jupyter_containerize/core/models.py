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
    # sha256:<hex> of the SBOM the image carries (core.attest.sbom.IMAGE_SBOM_PATH), and where
    # the build's facts (for a signed provenance) were saved
    sbom_digest: str = ""
    facts_path: str = ""

    def summary(self) -> list[str]:
        """What a build says when it ends: reused or built (how), Python, each phase's time,
        the SBOM's digest, then its warnings."""
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items())
        what = "reused" if self.cached else f"built ({self.builder})"
        return [f"{what}: Python {self.python}; {timing}",
                *([f"  sbom: {self.sbom_digest}"] if self.sbom_digest else []),
                *(f"  warning: {w}" for w in self.warnings)]


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
    metrics: dict[str, Any] = field(default_factory=dict)  # what the notebook recorded

    def summary(self, with_error: bool = True) -> str:
        """The text a run ends with: status, files, how to reproduce it (and its error, unless
        the caller says it on a line of its own)."""
        lines = [f"run {self.id}: {self.status} in {self.duration or 0:.1f}s",
                 f"  notebook:  {self.output}"]
        if self.html:
            lines.append(f"  report:    {self.html}")
        for art in self.artifacts:
            lines.append(f"  artifact:  {art['path']} ({art['size']} bytes, "
                         f"sha256 {art['sha256'][:12]})")
        if self.metrics:
            lines.append("  metrics:   " + ", ".join(f"{k}={v}" for k, v in self.metrics.items()))
        if self.reproduction:
            lines.append(f"  reproduce: {self.reproduction.get('text', '')}")
        if with_error and self.error:
            lines.append(f"  error:     {self.error.get('message', '')}")
        return "\n".join(lines)


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

    HEADER = f"{'NAME':<20} {'STATUS':<22} {'MODEL SHA256':<14} {'URL':<28} IMAGE"

    def summary(self) -> list[str]:
        """What a serve says when it ends: status, model, image, then what this serve did
        (a note, the model swap, the contract checks; the fields a serve's result adds) and
        the URLs."""
        done = self.to_json()
        lines = [f"deployment {self.name}: {self.status}, model sha256 {self.model_sha256[:12]}",
                 f"  image: {self.image}"]
        if done.get("note"):
            lines.append(f"  {done['note']}")
        swap = done.get("swap")
        if swap:
            extra = (f", {swap['failed']} of {swap.get('sent', '?')} probe requests failed"
                     if swap["mode"] == "replaced" else ", no request failed")
            lines.append(f"  model swap: {swap['mode']} in {swap['seconds']:.2f} s{extra}")
        for check in done.get("checks") or []:
            mark = "pass" if check["ok"] else "FAIL"
            lines.append(f"  {mark}  {check['name']:<28} {check['detail']}")
        return lines + list(done.get("urls") or [self.url])

    def failed_checks(self) -> list[dict[str, Any]]:
        """The contract checks (``serve --check``) that failed."""
        return [c for c in self.to_json().get("checks") or [] if not c["ok"]]

    def row(self) -> str:
        """The deployment's line under :attr:`HEADER`."""
        return (f"{self.name:<20} {self.status:<22} {self.model_sha256[:12]:<14} "
                f"{self.url:<28} {self.image}")


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

    def row(self) -> str:
        """A run's line in ``runs``: id, status, when, notebook, the reproduction verdict."""
        verdict = ((self.result or {}).get("reproduction") or {}).get("verdict", "")
        return f"{self.id}  {self.status:<10} {self.created}  {self.notebook or ''}  {verdict}"


def image_row(row: dict[str, Any]) -> str:
    """One image of ``images`` (a row of ``api.images``): reference, age, size, Python,
    author, notebook, its first packages and the model it serves."""
    packages = ",".join(row["packages"][:5])
    model = f" model {row['model'].get('sha256', '')[:12]}" if row["model"] else ""
    return (f"{row['reference']}  {row['created'][:19]}  {row['size'] / 1e6:.0f} MB  "
            f"py {row['python'] or '?'}  {row['author'] or '?'}  {row['notebook'] or '-'}  "
            f"{packages}{model}")


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    import re

    return re.sub(r"[-_.]+", "-", name).lower()
