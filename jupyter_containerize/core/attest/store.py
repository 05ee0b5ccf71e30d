"""What a build knew, kept by image ID until a push signs it.

A build records its facts (notebook path and sha256, lock sha256, base digest, build path,
start and end, the SBOM's digest) under ``<data dir>/attest/<image id hex>/facts.json``; a push
makes the provenance statement from them with the pushed manifest's digest as its subject
(that digest exists only once the image is in a registry). No secret is ever written here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..paths import data_dir, write_atomic


def folder(image_id: str) -> Path:
    return data_dir() / "attest" / image_id.split(":", 1)[-1]


def save_facts(image_id: str, facts: dict[str, Any]) -> Path:
    path = folder(image_id) / "facts.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(facts, indent=1, sort_keys=True).encode())
    return path


def load_facts(image_id: str) -> dict[str, Any] | None:
    """The facts a build recorded for this image, or None (built elsewhere, or before)."""
    path = folder(image_id) / "facts.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
