"""The SBOM every environment image carries, and the facts every build records for signing.

The SBOM (CycloneDX JSON, at ``IMAGE_SBOM_PATH``) lists the lock's distributions, the tool
environment's (papermill and what it needs), the base's Debian packages and the notebook's and
lock's sha256. It depends on the build's inputs only: its time is the image's creation time
(derived from the lock, never the clock), so the same inputs give the same bytes and the same
image ID. It sits in the project layer, the one that changes with the notebook and the lock.
"""

from __future__ import annotations

import hashlib
import platform as host_platform
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..._version import __version__
from ..attest import sbom as cdx
from ..attest.lockdata import sha256_hex
from ..attest.store import save_facts
from ..labels import PREFIX, repository_name
from ..models import normalize
from .base.dpkgstatus import read_dpkg_status
from .layers import Entry

ENVIRONMENT_PROPERTY = PREFIX + "environment"


def base_dpkg_status(plan: Any, base_attrs: dict[str, Any]) -> str | None:
    """The text of the base's /var/lib/dpkg/status (None: the base has none)."""
    diff_ids = [str(d) for d in (base_attrs.get("RootFS") or {}).get("Layers") or []]
    remote = plan.remote
    return read_dpkg_status(diff_ids, registry=remote,
                            engine_ref=None if remote is not None else plan.base.reference,
                            log=plan.rep.log)


def image_sbom(plan: Any, dpkg_status: str | None, sites: list[Path] | None = None) -> bytes:
    """The SBOM's bytes for the image ``plan`` builds; ``sites``: the site-packages folders
    the image's distributions come from, read for their licences (when the build has them)."""
    licences = cdx.licences_from_metadata(sites) if sites else None
    created = datetime.fromtimestamp(plan.created_epoch(), timezone.utc)
    doc = cdx.build_sbom(
        plan.lock,
        image_name=repository_name(plan.nb_path.stem),
        notebook_sha256=hashlib.sha256(plan.notebook_bytes).hexdigest(),
        dpkg_status=dpkg_status,
        licences=licences,
        timestamp=created,
    )
    _add_tool(doc, plan.tool_pins, licences or {})
    return cdx.sbom_bytes(doc)


def _add_tool(doc: dict[str, Any], pins: list[str], licences: dict[str, Any]) -> None:
    """The tool environment's distributions (papermill's), those the lock does not already
    list with the same version, marked as the tool environment's; then a new serial number."""
    known = {c["bom-ref"] for c in doc["components"]}
    tool = []
    for pin in pins:
        name, _, version = pin.partition("==")
        package = {"name": name, "version": version, "requirement": pin, "source": "index"}
        component = cdx.python_component(package, licences.get(normalize(name)))
        if component["bom-ref"] in known:
            continue
        component["properties"].append({"name": ENVIRONMENT_PROPERTY, "value": "tool"})
        tool.append(component)
    if not tool:
        return
    python = [c for c in doc["components"] if str(c.get("purl", "")).startswith("pkg:pypi/")
              or (str(c["bom-ref"]).startswith("python:") and c["type"] == "library")]
    picked = {id(c) for c in python}
    rest = [c for c in doc["components"] if id(c) not in picked]
    components = sorted(python + tool, key=lambda c: (normalize(c["name"]), c["version"])) + rest
    doc["components"] = components
    doc["dependencies"][0]["dependsOn"] = [c["bom-ref"] for c in components]
    doc.pop("serialNumber", None)
    content = sha256_hex(cdx.sbom_bytes(doc))
    doc["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{cdx.TOOL}:sbom:{content}").urn


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sbom_entry(data: bytes) -> Entry:
    """The SBOM as a member of a layer: root's, readable by all."""
    return Entry(cdx.IMAGE_SBOM_PATH.strip("/"), data=data, mode=0o644)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_facts(plan: Any, image_ids: list[str], *, build_path: str, engine: bool,
                 started: str, sbom_digest: str, image_name: str) -> Path | None:
    """Save the build's facts under each of the image's IDs (engine ID, config digest,
    manifest digest) for a push to sign. Plain facts of the inputs: no secret, no credential."""
    from ..env.lock import lock_sha256

    base = plan.base
    facts: dict[str, Any] = {
        "builder": {"name": cdx.TOOL, "version": __version__},
        "builder_versions": {"python": host_platform.python_version()},
        "notebook_path": str(plan.nb_path),
        "notebook_sha256": hashlib.sha256(plan.notebook_bytes).hexdigest(),
        "lock_path": str(plan.lock_file),
        "lock_sha256": lock_sha256(plan.lock),
        "base_image": base.reference,
        "base_digest": base.image_id,
        "build_path": build_path,
        "engine": engine,
        "started": started,
        "finished": now(),
        "sbom_path": cdx.IMAGE_SBOM_PATH,
        "sbom_sha256": sbom_digest,
        "platform": plan.platform,
        "image_name": image_name,
        "image_ids": sorted({i for i in image_ids if i}),
    }
    saved = None
    for image_id in facts["image_ids"]:
        saved = save_facts(image_id, facts)
    return saved


__all__ = ["base_dpkg_status", "digest", "image_sbom", "record_facts", "sbom_entry"]
