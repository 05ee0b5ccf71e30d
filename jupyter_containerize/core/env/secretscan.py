"""Secrets inside the project files and saved outputs that would go into an image.

Every project file that enters the image is read and checked by content with the detectors of
detect-secrets (AWS keys, private key blocks, GitHub, GitLab, Slack, Stripe, SendGrid, npm,
PyPI and other service tokens, JSON web tokens, passwords in URLs, secret-sounding
assignments) plus a few of our own (Hugging Face and Google API keys, bearer headers). A file
is never judged by its name here: ``tokenizer.json`` is as welcome as any other file.

Tuned for what a notebook folder holds:

* Binary files (a NUL byte in the first 8 KB) are skipped; of a huge text file only the first
  :data:`MAX_SCAN_BYTES` are read (data past that point is data, not configuration).
* A line is handed to the detectors only when a cheap literal search finds something a secret
  starts with or sits next to (``AKIA``, ``-----BEGIN``, ``ghp_``, ``password``, ``token`` ...),
  so a vocabulary, a CSV or a JSON of numbers costs one pass of ``bytes.find``.
* A keyword hit whose value is a placeholder (``${DB_PASSWORD}``, ``<set me>``, ``None``),
  words or a name (``"utf-8"``, ``"Bot Token"``, ``MyDatabaseSecret``, ``pkg.mod:Class``), a
  UUID, a named hash (``sha512-...``) or a reference (``os.environ[...]``) is not a secret,
  nor is a vendor's documented sample key (one that holds ``EXAMPLE``) or ``user:***@`` in a
  URL.
* High-entropy strings count only where a secret-like keyword is assigned (``api_token =
  "..."``, ``"client_secret": "..."``): base64 model weights, sha256 and UUID lists and the
  images in notebook outputs never do.
* In a notebook, cell sources are checked line by line (``nb.ipynb:cell 3 line 2``); its
  saved outputs are checked by :func:`check_outputs` (text only, never images).

A finding stops the build with one line naming the file, the line and the kind of secret; the
secret itself is never shown (at most a short prefix). The ways out:

1. remove the secret (read it from an environment variable or a mounted file at run time);
2. list the file in ``.dockerignore``;
3. after a review, end the line with the marker ``containerize: allow-secret`` in a comment,
   e.g. ``EXAMPLE_KEY = "AKIA..."  # containerize: allow-secret``. The marker covers that line
   only; in a notebook, the line of the cell's source.

Results are cached by content hash under the cache directory, so a rebuild reads every file
once (to hash it) and runs the detectors only on changed files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SecretFoundError
from .secretdetect import ALLOW_MARKER, NEEDLES, scan_line

# bump when the detectors or their tuning change: cached results of older versions are ignored
SCANNER_VERSION = "1"
MAX_SCAN_BYTES = 16 << 20  # of a text file, the first 16 MB are scanned
BINARY_PROBE = 8192
_WINDOW = 240  # characters kept either side of a hit in a very long line
# a hit with this many base64 characters on either side is inside a blob (weights, images)
_BLOB_SPAN = 96
_BLOB = re.compile(rb"[a-z0-9+/=]+")
_MAX_LINE = 4096
_CACHE_LIMIT = 200_000  # cached results kept

@dataclass(frozen=True)
class Finding:
    """One secret: where (``3`` or ``cell 2 line 4``), what kind, and a redacted hint."""

    where: str
    kind: str
    hint: str

    def at(self, rel: str) -> str:
        sep = ":" if self.where[:1].isdigit() else " "
        return f"{rel}{sep}{self.where}: {self.kind}" + (f" ({self.hint})" if self.hint else "")


def _candidate_lines(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) byte offsets of the lines that hold a needle, in order; of a very long
    line, a window around each hit that is not inside a base64 or hex blob."""
    low = data.lower()
    spans: set[tuple[int, int]] = set()
    for needle in NEEDLES:
        pos = low.find(needle)
        while pos != -1:
            start = low.rfind(b"\n", 0, pos) + 1
            end = low.find(b"\n", pos)
            end = len(low) if end == -1 else end
            if end - start > _MAX_LINE:
                if not _BLOB.fullmatch(low, max(start, pos - _BLOB_SPAN),
                                       min(end, pos + _BLOB_SPAN)):
                    spans.add((max(start, pos - _WINDOW), min(end, pos + _WINDOW)))
                pos = low.find(needle, pos + len(needle))
            else:
                spans.add((start, end))
                pos = low.find(needle, end)
    return iter(sorted(spans))


def scan_text(data: bytes, filename: str) -> list[Finding]:
    """The secrets in a text file's bytes, with 1-based line numbers."""
    findings: list[Finding] = []
    seen_lines: set[int] = set()
    counted, line_no = 0, 1
    for start, end in _candidate_lines(data):
        line_no += data.count(b"\n", counted, start)
        counted = start
        line = data[start:end].decode("utf-8", errors="replace")
        for kind, hint in scan_line(line, filename):
            if line_no not in seen_lines:
                seen_lines.add(line_no)
                findings.append(Finding(str(line_no), kind, hint))
    return findings


def scan_notebook_sources(nb: dict, filename: str = "cell.py") -> list[Finding]:
    """Secrets in the sources of a notebook's cells, as ``cell N line M`` (from 1)."""
    findings = []
    for index, cell in enumerate(nb.get("cells", []) or []):
        source = cell.get("source", "")
        text = source if isinstance(source, str) else "".join(map(str, source))
        for number, line in enumerate(text.splitlines(), start=1):
            if not _could_hold(line):
                continue
            for kind, hint in scan_line(line, filename)[:1]:
                findings.append(Finding(f"cell {index + 1} line {number}", kind, hint))
    return findings


def _could_hold(text: str) -> bool:
    low = text.lower().encode("utf-8", errors="replace")
    return any(n in low for n in NEEDLES)


def scan_outputs(nb: dict) -> list[tuple[int, str]]:
    """(cell index from 0, kind of secret) for saved text outputs that hold a credential."""
    hits = []
    for index, cell in enumerate(nb.get("cells", []) or []):
        for output in cell.get("outputs", []) or []:
            kinds: list[str] = []
            for line in output_text(output).splitlines():
                if _could_hold(line):
                    kinds += [k for k, _ in scan_line(line, "output.txt") if k not in kinds]
            hits += [(index, kind) for kind in kinds]
    return hits


def output_text(output: dict) -> str:
    """The text of one saved output (streams, errors, text, HTML, markdown, JSON; no images)."""
    chunks: list[Any] = [output.get("text", ""), output.get("evalue", "")]
    data = output.get("data") or {}
    for mime in ("text/plain", "text/html", "text/markdown", "text/latex", "application/json"):
        value = data.get(mime, "")
        chunks.append(json.dumps(value) if isinstance(value, dict) else value)
    chunks += output.get("traceback", []) or []
    return "\n".join(c if isinstance(c, str) else "".join(map(str, c)) for c in chunks)


def check_outputs(nb: dict, allow: bool) -> None:
    """Stop when the notebook's saved outputs hold a credential, unless ``allow``."""
    hits = scan_outputs(nb)
    if hits and not allow:
        # counted from 1 over every cell, as run errors and reproduction reports count
        where = "; ".join(f"cell {i + 1}: {kind}" for i, kind in hits[:5])
        raise SecretFoundError(
            f"saved outputs look like credentials ({where})",
            hint="clear them, or build with --strip-outputs, or --allow-flagged-outputs "
            "after a review",
        )


def is_binary(head: bytes) -> bool:
    return b"\0" in head[:BINARY_PROBE]


def scan_bytes(data: bytes, rel: str, outputs: bool = True) -> list[Finding]:
    """The secrets in one file's content (``rel`` picks the rules: notebooks, file types)."""
    if is_binary(data):
        return []
    data = data[:MAX_SCAN_BYTES]
    if rel.endswith(".ipynb"):
        try:
            nb = json.loads(data)
        except ValueError:
            nb = None
        if isinstance(nb, dict):
            found = scan_notebook_sources(nb)
            if outputs:
                found += [Finding(f"cell {i + 1} output", kind, "")
                          for i, kind in scan_outputs(nb)]
            return found
    return scan_text(data, rel)


class ScanCache:
    """Scan results by content hash, kept in one JSON file under the cache directory."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries: dict[str, list[list[str]]] = {}
        self.changed = False
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text())
                if loaded.get("version") == SCANNER_VERSION:
                    self.entries = loaded.get("results", {})
            except (ValueError, OSError, AttributeError):
                self.entries = {}

    def get(self, key: str) -> list[Finding] | None:
        hit = self.entries.get(key)
        return None if hit is None else [Finding(*item) for item in hit]

    def put(self, key: str, findings: list[Finding]) -> None:
        self.entries[key] = [[f.where, f.kind, f.hint] for f in findings]
        self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        from ..paths import write_atomic

        items = list(self.entries.items())[-_CACHE_LIMIT:]
        body = {"version": SCANNER_VERSION, "results": dict(items)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(body, separators=(",", ":")).encode())
        except OSError:
            pass  # a cache that cannot be written only costs time


def default_cache() -> ScanCache:
    from ..paths import cache_dir

    return ScanCache(cache_dir() / "secretscan" / "results.json")


def scan_files(root: Path, files: Iterable[str], cache: ScanCache | None = None,
               outputs_of: set[str] | None = None) -> dict[str, list[Finding]]:
    """rel -> findings for each of ``files`` (under ``root``) that holds a secret.

    Notebooks in ``outputs_of`` have their saved outputs scanned as well (None: all)."""
    cache = cache if cache is not None else ScanCache(None)
    out: dict[str, list[Finding]] = {}
    for rel in files:
        path = root / rel
        try:
            with open(path, "rb") as fh:
                head = fh.read(BINARY_PROBE)
                if is_binary(head):
                    continue
                data = head + fh.read(MAX_SCAN_BYTES - len(head))
        except OSError:
            continue
        outputs = outputs_of is None or rel in outputs_of
        kind = Path(rel).suffix.lower() + ("+out" if outputs and rel.endswith(".ipynb") else "")
        key = hashlib.sha256(f"{SCANNER_VERSION}\0{kind}\0".encode() + data).hexdigest()
        found = cache.get(key)
        if found is None:
            found = scan_bytes(data, rel, outputs)
            cache.put(key, found)
        if found:
            out[rel] = found
    cache.save()
    return out


def raise_for(findings: dict[str, list[Finding]]) -> None:
    """Stop with one line naming the first secret (file, line, kind) and the ways out."""
    if not findings:
        return
    flat = [f.at(rel) for rel, items in sorted(findings.items()) for f in items]
    more = f" and {len(flat) - 1} more ({'; '.join(flat[1:4])})" if len(flat) > 1 else ""
    raise SecretFoundError(
        f"a secret would go into the image: {flat[0]}{more}",
        hint="remove it (read it from the environment at run time), list the file in "
        f".dockerignore, or after a review end the line with `# {ALLOW_MARKER}`",
        findings=flat,
    )
