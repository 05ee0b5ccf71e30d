"""The notebook's project files: which enter the image and which are left out, and why.

``.dockerignore`` decides with the engine's semantics (negations included); credential files
by nature (private keys, cloud credential files, ``.env``, ``.netrc`` ...) are left out with
the reason reported; links are followed inside the project folder and named when they point
outside it. What the kept files hold is :mod:`.secretscan`'s concern."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ContextTooLargeError
from .secretdetect import SECRET_PATTERNS as SECRET_PATTERNS  # run.reproduce reads it here

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
# Files that are credentials by nature, whatever they hold: left out, with the reason said.
CREDENTIAL_FILES = (
    ".env",
    ".env.*",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    ".netrc",
    "_netrc",
    ".pypirc",
    ".npmrc",
    ".git-credentials",
    ".dockercfg",
    ".htpasswd",
    "kubeconfig",
    "application_default_credentials.json",
    "*service-account*.json",
)
# ``.env.example`` and its kind are documentation: scanned by content like any file
TEMPLATE_ENV = (".env.example", ".env.sample", ".env.template", ".env.dist")
CREDENTIAL_DIRS = {".aws", ".ssh", ".gnupg", ".kube", ".azure", ".config/gcloud"}
# inside these folders only the named file is a credential
CREDENTIAL_IN_DIR = {(".docker", "config.json"), (".kube", "config")}

# kept for the modules that mask credentials in text (reproduction reports)
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")


@dataclass
class ProjectFiles:
    root: Path
    files: list[str] = field(default_factory=list)  # relative, sorted
    left_out: list[str] = field(default_factory=list)  # with a reason each
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


class IgnoreRules:
    """``.dockerignore`` patterns with the engine's semantics: ``*``, ``?``, ``**``, ``[...]``,
    a leading ``/`` ignored, a pattern that matches a folder matches all under it, and ``!``
    brings a path back; of the patterns that match, the last one decides."""

    def __init__(self, lines: list[str]) -> None:
        self.rules: list[tuple[re.Pattern[str], bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            if keep:
                line = line[1:].strip()
            line = posixpath.normpath(line).lstrip("/")
            if line in ("", "."):
                continue
            self.rules.append((_translate(line), keep))
        self.has_negations = any(keep for _, keep in self.rules)

    def excluded(self, rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for pattern, keep in self.rules:
            if any(pattern.fullmatch(p) for p in prefixes):
                verdict = not keep
        return verdict


def _translate(pattern: str) -> re.Pattern[str]:
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            close = pattern.find("]", i + 1)
            if close == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : close]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = close
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _dockerignore(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.exists():
        return []
    return [ln.strip() for ln in path.read_text(errors="replace").splitlines()]


def credential_reason(rel: str, full: Path | None = None) -> str | None:
    """Why ``rel`` is a credential by its nature (None when it is not)."""
    parts = rel.split("/")
    name = parts[-1].lower()
    folders = parts[:-1]
    for i in range(len(folders)):
        if folders[i] in CREDENTIAL_DIRS or "/".join(folders[i : i + 2]) in CREDENTIAL_DIRS:
            return f"a file in {folders[i]}/, where credentials live"
    if folders and (folders[-1], name) in CREDENTIAL_IN_DIR:
        return "a client's credential file"
    if name in TEMPLATE_ENV:
        return None
    for pat in CREDENTIAL_FILES:
        if fnmatch.fnmatchcase(name, pat):
            return "a credential file by its name"
    if name.endswith(".pem") and full is not None:
        try:
            with open(full, "rb") as fh:
                if _PRIVATE_KEY.search(fh.read(1 << 20)):
                    return "a private key"
        except OSError:
            return None
    return None


def _walk(root: Path, rules: IgnoreRules, project: ProjectFiles) -> list[tuple[str, Path]]:
    """(rel, file to read) of every file not ignored; links are followed inside ``root``."""
    real_root = os.path.realpath(root)
    found: list[tuple[str, Path]] = []
    stack = [""]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(root / folder if folder else root), key=lambda e: e.name)
        except OSError:
            continue
        if folder and (root / folder / "pyvenv.cfg").exists():
            continue  # a virtual environment inside the project
        for entry in entries:
            rel = f"{folder}/{entry.name}" if folder else entry.name
            if entry.name in NOISE_DIRS and entry.is_dir():
                continue
            ignored = rules.excluded(rel)
            if entry.is_symlink():
                if ignored:
                    continue
                target = os.path.realpath(entry.path)
                if os.path.commonpath([target, real_root]) != real_root:
                    project.left_out.append(
                        f"{rel}: a link to {target}, outside the project folder: left out")
                elif not os.path.exists(target):
                    project.left_out.append(f"{rel}: a broken link: left out")
                elif os.path.isdir(target):
                    project.left_out.append(
                        f"{rel}: a link to a folder: left out (link its files instead)")
                else:
                    found.append((rel, Path(target)))
                continue
            if entry.is_dir():
                if not ignored or rules.has_negations:
                    stack.append(rel)
            elif entry.is_file() and not ignored:
                found.append((rel, Path(entry.path)))
    return sorted(found)


def collect(root: Path, max_bytes: int, extra_excludes: list[str] | None = None,
            notebook: str | None = None, scan: bool = True) -> ProjectFiles:
    """The files of the notebook's folder that go into the image.

    Credential files (by name) are left out with a reason; every other file is scanned by
    content and a secret stops with :class:`SecretFoundError`. ``notebook`` is the notebook
    being built: its saved outputs are :func:`check_outputs`' concern, other notebooks'
    outputs are scanned here (with None, no notebook's outputs are)."""
    from . import secretscan

    rules = IgnoreRules(_dockerignore(root) + list(OUR_OUTPUTS) + (extra_excludes or []))
    project = ProjectFiles(root)
    for rel, source in _walk(root, rules, project):
        reason = credential_reason(rel, source)
        if reason:
            project.left_out.append(f"{rel}: {reason}, left out of the image")
            continue
        project.files.append(rel)
        project.total += source.stat().st_size
    if project.total > max_bytes:
        big = ", ".join(f"{f} ({s / 1e6:.1f} MB)" for f, s in project.largest(3))
        raise ContextTooLargeError(
            f"the project files are {project.total / 1e6:.1f} MB, over the "
            f"{max_bytes / 1e6:.0f} MB limit; largest: {big}",
            hint="list big data in .dockerignore and pass it at run time with --data, "
            "or raise ContainerizeConfig.context_max_bytes",
        )
    if scan:
        notebooks = {f for f in project.files if f.endswith(".ipynb") and f != notebook}
        found = secretscan.scan_files(root, project.files, secretscan.default_cache(),
                                      outputs_of=notebooks if notebook else set())
        secretscan.raise_for(found)
    return project


def scan_outputs(nb: dict) -> list[tuple[int, str]]:
    """(cell index, kind of secret) for saved outputs that look like credentials."""
    from .secretscan import scan_outputs as scan

    return scan(nb)


def check_outputs(nb: dict, allow: bool) -> None:
    """Stop when the notebook's saved outputs hold a credential, unless ``allow``."""
    from .secretscan import check_outputs as check

    check(nb, allow)


def strip_outputs(nb: dict) -> dict:
    import copy

    clean = copy.deepcopy(nb)
    for cell in clean.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    return clean
