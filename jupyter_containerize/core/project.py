"""The notebook's project files: what enters the image, what never does, and secrets."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ContextTooLargeError, SecretFoundError

NOISE_DIRS = {
    ".git",
    ".ipynb_checkpoints",
    "__pycache__",
    ".venv",
    "venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
}
OUR_OUTPUTS = ("*.lock.json", "*.run.json", "*.requirements.txt", ".containerize")
SECRET_FILES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    ".netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    "credentials",
    "credentials.json",
    "*service-account*.json",
    ".dockercfg",
    "*.p12",
    "*.pfx",
    "*token*",
    ".htpasswd",
    "kubeconfig",
)
SECRET_DIRS = {".aws", ".ssh", ".gnupg", ".kube", ".docker", ".azure", ".config/gcloud"}

SECRET_PATTERNS = {
    "AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    "API key (sk-)": re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9]{20,}\b"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._\-]{24,}"),
}


@dataclass
class ProjectFiles:
    root: Path
    files: list[str] = field(default_factory=list)  # relative, sorted
    left_out: list[str] = field(default_factory=list)  # secrets, with a reason each
    total: int = 0

    def largest(self, n: int = 5) -> list[tuple[str, int]]:
        sizes = [(f, (self.root / f).stat().st_size) for f in self.files]
        return sorted(sizes, key=lambda x: -x[1])[:n]

    def digest(self) -> str:
        h = hashlib.sha256()
        for rel in self.files:
            h.update(rel.encode() + b"\0")
            with open(self.root / rel, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            h.update(b"\0")
        return h.hexdigest()


def _dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.exists():
        return []
    return [
        ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")
    ]


def _is_secret(rel: str) -> bool:
    name = os.path.basename(rel)
    parts = set(Path(rel).parts[:-1])
    if parts & SECRET_DIRS:
        return True
    return any(fnmatch.fnmatch(name.lower(), pat) for pat in SECRET_FILES)


def collect(root: Path, max_bytes: int, extra_excludes: list[str] | None = None) -> ProjectFiles:
    """The files of the notebook's folder that go into the image."""
    from docker.utils.build import exclude_paths

    patterns = _dockerignore(root) + list(OUR_OUTPUTS) + (extra_excludes or [])
    patterns += [f"**/{d}" for d in NOISE_DIRS] + list(NOISE_DIRS)
    kept = exclude_paths(str(root), patterns)
    project = ProjectFiles(root)
    for rel in sorted(kept):
        full = root / rel
        if full.is_dir() or full.is_symlink() or not full.is_file():
            continue
        if any(p in NOISE_DIRS for p in Path(rel).parts) or _in_venv(root, rel):
            continue
        if _is_secret(rel):
            project.left_out.append(f"{rel}: looks like a secret file, left out of the image")
            continue
        project.files.append(rel)
        project.total += full.stat().st_size
    if project.total > max_bytes:
        big = ", ".join(f"{f} ({s / 1e6:.1f} MB)" for f, s in project.largest(3))
        raise ContextTooLargeError(
            f"the project files are {project.total / 1e6:.1f} MB, over the "
            f"{max_bytes / 1e6:.0f} MB limit; largest: {big}",
            hint="list big data in .dockerignore and pass it at run time with --data, "
            "or raise ContainerizeConfig.context_max_bytes",
        )
    return project


def _in_venv(root: Path, rel: str) -> bool:
    parts = Path(rel).parts
    return any((root.joinpath(*parts[:i]) / "pyvenv.cfg").exists() for i in range(1, len(parts)))


def scan_outputs(nb: dict) -> list[tuple[int, str]]:
    """(cell index, kind of secret) for saved outputs that look like credentials."""
    hits = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []) or []:
            text = _output_text(output)
            for kind, pattern in SECRET_PATTERNS.items():
                if pattern.search(text):
                    hits.append((index, kind))
    return hits


def _output_text(output: dict) -> str:
    chunks = [output.get("text", ""), output.get("evalue", "")]
    data = output.get("data") or {}
    for mime in ("text/plain", "text/html", "text/markdown", "application/json"):
        chunks.append(data.get(mime, ""))
    chunks += output.get("traceback", []) or []
    return "\n".join(c if isinstance(c, str) else "".join(map(str, c)) for c in chunks)


def check_outputs(nb: dict, allow: bool) -> None:
    hits = scan_outputs(nb)
    if hits and not allow:
        # counted from 1 over every cell, as run errors and reproduction reports count
        where = "; ".join(f"cell {i + 1}: {kind}" for i, kind in hits[:5])
        raise SecretFoundError(
            f"saved outputs look like credentials ({where})",
            hint="clear them, or build with --strip-outputs, or --allow-flagged-outputs "
            "after a review",
        )


def strip_outputs(nb: dict) -> dict:
    import copy

    clean = copy.deepcopy(nb)
    for cell in clean.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return clean
