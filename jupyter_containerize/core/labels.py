"""Label keys and image naming shared by everything we create."""

from __future__ import annotations

import re

PREFIX = "io.jupyter-containerize."
MANAGED = PREFIX + "managed"
ROLE = PREFIX + "role"
NOTEBOOK = PREFIX + "notebook"
NOTEBOOK_SHA256 = PREFIX + "notebook.sha256"
LOCK_SHA256 = PREFIX + "lock.sha256"
ENV_HASH = PREFIX + "env.hash"
PYTHON = PREFIX + "python"
PYTHON_KERNEL = PREFIX + "python.kernel"
PACKAGES = PREFIX + "packages"
AUTHOR = PREFIX + "author"
BASE_IDENTITY = PREFIX + "base.identity"
BASE_PACKAGES = PREFIX + "base.packages"
BUILDER = PREFIX + "builder"
MODEL_SHA256 = PREFIX + "model.sha256"
MODEL_FLAVOR = PREFIX + "model.flavor"
SOURCE_RUN = PREFIX + "source.run"
RUN_ID = PREFIX + "run.id"
TEST_RUN = PREFIX + "test-run"

OCI_CREATED = "org.opencontainers.image.created"
OCI_TITLE = "org.opencontainers.image.title"
OCI_SOURCE = "org.opencontainers.image.source"
OCI_VERSION = "org.opencontainers.image.version"
OCI_REVISION = "org.opencontainers.image.revision"

DEFAULT_NAMESPACE = "jupyter-containerize"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9-]+)*(?::[0-9]+)?")


def repository_name(stem: str) -> str:
    """A valid repository path component made from a notebook stem."""
    name = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "notebook"
    return f"{DEFAULT_NAMESPACE}/{name}"


def split_reference(ref: str) -> tuple[str, str | None, str | None]:
    """Split ``[host/]path[:tag][@digest]``: (repository, tag, digest); ValueError if invalid."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise ValueError("digest must be sha256:<64 hex>")
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise ValueError(f"tag {tag!r} is not valid")
    parts = ref.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        if not _HOST.fullmatch(parts[0]):
            raise ValueError(f"registry host {parts[0]!r} is not valid")
        parts = parts[1:]
    if not parts or not all(_COMPONENT.fullmatch(p) for p in parts):
        raise ValueError("repository names are lowercase letters, digits and . _ - separators")
    if len(ref) > 255:
        raise ValueError("repository name is longer than 255 characters")
    return ref, tag, digest


def is_valid_reference(ref: str) -> bool:
    try:
        split_reference(ref)
    except ValueError:
        return False
    return True
