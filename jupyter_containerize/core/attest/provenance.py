"""How an image was made: an in-toto Statement v1 whose predicate is SLSA Provenance v1.

The subject is the image (its name and manifest digest); the external parameters are what a
user chose (the notebook, its lock, the build path, the platform); the resolved dependencies
are what the build fetched by digest (the base image). Sign it with :mod:`.dsse`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..._version import __version__
from ..options import BUILDERS, DEFAULT_PLATFORM
from .errors import AttestInputError
from .lockdata import digest_hex, rfc3339
from .sbom import IMAGE_SBOM_PATH, MEDIA_TYPE, oci_purl

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
# Our build type: docs/supply-chain.md says what its parameters mean.
BUILD_TYPE = "urn:jupyter-containerize:buildtype:environment-image:v1"
DEFAULT_BUILDER_ID = "urn:jupyter-containerize:builder:local"
TOOL = "jupyter-containerize"


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or any(ord(c) < 32 for c in value):
        raise AttestInputError(
            f"{what} {value!r} is empty or holds control characters",
            hint=f"pass the {what} as one line of text",
        )
    return value


def build_provenance(
    *,
    image_name: str,
    image_digest: str,
    notebook_path: str,
    notebook_sha256: str,
    lock_sha256: str,
    build_path: str,
    base_image: str,
    base_digest: str,
    started: datetime | str,
    finished: datetime | str,
    platform: str = DEFAULT_PLATFORM,
    builder_id: str = DEFAULT_BUILDER_ID,
    builder_versions: Mapping[str, str] | None = None,
    invocation_id: str | None = None,
    sbom_sha256: str | None = None,
) -> dict[str, Any]:
    """The provenance statement of one build (a dict; its bytes: :func:`statement_bytes`).

    ``image_digest`` and ``base_digest`` are manifest digests (``sha256:<hex>``);
    ``build_path`` is how the image was assembled (``layers`` or ``classic``);
    ``builder_versions`` adds versions of what built it (the engine, uv) to ours.
    """
    if build_path not in BUILDERS:
        raise AttestInputError(
            f"build path {build_path!r} is not one of {', '.join(BUILDERS)}",
            hint="pass the builder the image was made with",
        )
    start, end = rfc3339(started), rfc3339(finished)
    if end < start:
        raise AttestInputError(
            f"the build finished ({end}) before it started ({start})",
            hint="pass the start time first and the end time second",
        )
    base = _text(base_image, "base image")
    base_hex = digest_hex(base_digest, "base image digest")
    versions = {TOOL: __version__}
    versions.update({_text(k, "builder component"): _text(v, f"version of {k}")
                     for k, v in (builder_versions or {}).items()})  # fmt: skip
    metadata: dict[str, Any] = {"startedOn": start, "finishedOn": end}
    if invocation_id is not None:
        metadata = {"invocationId": _text(invocation_id, "invocation id"), **metadata}
    run_details: dict[str, Any] = {
        "builder": {"id": _text(builder_id, "builder id"), "version": versions},
        "metadata": metadata,
    }
    if sbom_sha256 is not None:
        run_details["byproducts"] = [{
            "name": "sbom.cdx.json", "uri": f"file://{IMAGE_SBOM_PATH}",
            "digest": {"sha256": digest_hex(sbom_sha256, "SBOM sha256")},
            "mediaType": MEDIA_TYPE,
        }]  # fmt: skip
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": _text(image_name, "image name"),
            "digest": {"sha256": digest_hex(image_digest, "image digest")},
        }],  # fmt: skip
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "notebook": {
                        "path": _text(notebook_path, "notebook path"),
                        "sha256": digest_hex(notebook_sha256, "notebook sha256"),
                    },
                    "lock": {"sha256": digest_hex(lock_sha256, "lock sha256")},
                    "buildPath": build_path,
                    "platform": _text(platform, "platform"),
                },
                "resolvedDependencies": [{
                    "uri": oci_purl(base, base_hex),
                    "name": base,
                    "digest": {"sha256": base_hex},
                }],  # fmt: skip
            },
            "runDetails": run_details,
        },
    }


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """The statement's bytes as signed: compact JSON with sorted keys."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def subject_digests(statement: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(name, sha256 hex) of every subject of a statement; [] when it has none readable."""
    subjects = statement.get("subject")
    found = []
    for subject in subjects if isinstance(subjects, Sequence) else []:
        if isinstance(subject, Mapping) and isinstance(subject.get("digest"), Mapping):
            sha = subject["digest"].get("sha256")
            if isinstance(sha, str):
                found.append((str(subject.get("name", "")), sha.lower()))
    return found
