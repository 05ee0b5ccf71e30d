"""A CycloneDX 1.6 JSON SBOM of an environment image: every Python distribution of the lock and
every Debian package of the base (read from its dpkg status file), with the notebook's and the
lock's sha256 as properties.

Deterministic: the same inputs give the same bytes. Components are sorted, the serial number
is derived from the document's content, and the time is whatever the caller passes (none when
it passes none).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Union
from urllib.parse import quote

from ..._version import __version__
from ..env.lockfile import lock_sha256
from ..labels import LOCK_SHA256, NOTEBOOK_SHA256, PREFIX
from ..models import normalize
from .errors import AttestInputError
from .lockdata import (
    digest_hex,
    lock_packages,
    package_files,
    python_version,
    rfc3339,
    sha256_hex,
)

SPEC_VERSION = "1.6"
SCHEMA = f"http://cyclonedx.org/schema/bom-{SPEC_VERSION}.schema.json"
TOOL = "jupyter-containerize"
# where the image carries its SBOM, and the label that records the file's digest
IMAGE_SBOM_PATH = "/usr/share/jupyter-containerize/sbom.cdx.json"
SBOM_DIGEST_LABEL = PREFIX + "sbom.digest"
MEDIA_TYPE = "application/vnd.cyclonedx+json"
SOURCE_PROPERTY = PREFIX + "source"
# A licence from installed metadata: {"expression": "<SPDX expression>"} or {"name": "<text>"};
# a plain string is a name.
Licence = Union[str, Mapping[str, str]]


def purl_encode(text: str) -> str:
    """Percent-encode a purl name, version or qualifier value (``:`` stays readable)."""
    return quote(text, safe=":")


def pypi_purl(name: str, version: str, qualifiers: Mapping[str, str] | None = None) -> str:
    """``pkg:pypi/<name>@<version>``: the name lowercased with ``_`` as ``-`` (purl's rule)."""
    key = name.lower().replace("_", "-")
    return _purl(f"pkg:pypi/{purl_encode(key)}@{purl_encode(version)}", qualifiers)


def deb_purl(name: str, version: str, arch: str, distro: str = "debian") -> str:
    return _purl(f"pkg:deb/{distro}/{purl_encode(name)}@{purl_encode(version)}", {"arch": arch})


def _purl(base: str, qualifiers: Mapping[str, str] | None) -> str:
    pairs = sorted((k, v) for k, v in (qualifiers or {}).items() if v)
    if not pairs:
        return base
    return base + "?" + "&".join(f"{k}={quote(v, safe=':/')}" for k, v in pairs)


def parse_dpkg_status(text: str) -> list[dict[str, str]]:
    """The installed packages of a dpkg status file: name, version, architecture; sorted.

    Stanzas whose Status is not ``... installed`` (removed, half-configured) are left out.
    """
    if not isinstance(text, str) or "Package:" not in text:
        raise AttestInputError(
            "the base's dpkg status file names no package",
            hint="pass the text of /var/lib/dpkg/status read from the base image",
        )
    found: dict[tuple[str, str], dict[str, str]] = {}
    for number, stanza in enumerate(re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n")), 1):
        fields = _stanza_fields(stanza)
        if not fields:
            continue
        status = fields.get("Status", "").split()
        if status[-1:] != ["installed"]:
            continue
        name = fields.get("Package", "")
        for key in ("Package", "Version", "Architecture"):
            if not fields.get(key):
                raise AttestInputError(
                    f"stanza {number} ({name or 'no name'}) of the dpkg status file has no {key}",
                    hint="pass the text of /var/lib/dpkg/status read from the base image",
                )
        entry = {"name": name, "version": fields["Version"], "architecture": fields["Architecture"]}
        found[(name, entry["architecture"])] = entry
    return [found[key] for key in sorted(found)]


def _stanza_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in stanza.split("\n"):
        if not line.strip() or line[0] in " \t":
            continue  # a continuation line of a multi-line field: not a field we read
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def licences_from_metadata(paths: Iterable[str | Path]) -> dict[str, dict[str, str]]:
    """Normalized name -> licence of every distribution installed under ``paths``
    (site-packages folders), read from its metadata: License-Expression (an SPDX expression),
    else the License field when it is one short line, else the licence classifiers. Only the
    METADATA headers are read (a build reads hundreds of them)."""
    found: dict[str, dict[str, str]] = {}
    for site in paths:
        for meta in sorted(Path(site).glob("*.dist-info/METADATA")):
            fields = _headers(meta)
            name = (fields.get("name") or [""])[0]
            if not name:
                continue
            expression = (fields.get("license-expression") or [""])[0]
            text = (fields.get("license") or [""])[0]
            classifiers = [c.split("::")[-1].strip() for c in fields.get("classifier", [])
                           if c.startswith("License ::") and c.count("::") >= 2]  # fmt: skip
            if expression:
                found[normalize(name)] = {"expression": expression}
            elif text and "\n" not in text and len(text) <= 100 and text.upper() != "UNKNOWN":
                found[normalize(name)] = {"name": text}
            elif classifiers:
                found[normalize(name)] = {"name": " AND ".join(sorted(set(classifiers)))}
    return found


def _headers(path: Path) -> dict[str, list[str]]:
    """A METADATA file's header fields (lowercased names); continuation lines join with
    a newline; the body (after the first empty line) is not read."""
    fields: dict[str, list[str]] = {}
    last = None
    with open(path, "rb") as fh:
        for raw in fh:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                break
            if line[0] in " \t":
                if last is not None:
                    fields[last][-1] += "\n" + line.strip()
                continue
            key, sep, value = line.partition(":")
            if sep:
                last = key.strip().lower()
                fields.setdefault(last, []).append(value.strip())
    return fields


def _first(values: list[Any] | None) -> str:
    return str(values[0]).strip() if values else ""


def _licences(value: Licence | None) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        value = {"name": value}
    if value.get("expression"):
        return [{"expression": str(value["expression"])}]
    if value.get("name"):
        return [{"license": {"name": str(value["name"])}}]
    return []


def python_component(package: dict[str, Any], licence: Licence | None = None) -> dict[str, Any]:
    """The CycloneDX component of one package of the lock."""
    name, version = package["name"], package["version"]
    source = str(package.get("source") or "index")
    requirement = package.get("requirement")
    qualifiers: dict[str, str] = {}
    if source in ("vcs", "url") and isinstance(requirement, str) and " @ " in requirement:
        key = "vcs_url" if source == "vcs" else "download_url"
        qualifiers[key] = requirement.split(" @ ", 1)[1].strip()
    purl = None if source in ("local", "editable") else pypi_purl(name, version, qualifiers)
    component: dict[str, Any] = {
        "type": "library",
        "bom-ref": purl or f"python:{normalize(name)}@{version}",
        "name": name,
        "version": version,
    }
    if purl:
        component["purl"] = purl
    files = package_files(package)
    if len(files) == 1:
        component["hashes"] = [{"alg": "SHA-256", "content": files[0]["sha256"]}]
    licences = _licences(licence)
    if licences:
        component["licenses"] = licences
    references = [
        {
            "type": "distribution",
            "url": f.get("url") or f["index"],
            "comment": f["name"],
            "hashes": [{"alg": "SHA-256", "content": f["sha256"]}],
        }
        for f in files
        if f.get("url") or f.get("index")
    ]
    if references:
        component["externalReferences"] = references
    component["properties"] = [{"name": SOURCE_PROPERTY, "value": source}]
    return component


def deb_component(entry: Mapping[str, str], distro: str = "debian") -> dict[str, Any]:
    purl = deb_purl(entry["name"], entry["version"], entry["architecture"], distro)
    return {"type": "library", "bom-ref": purl, "name": entry["name"],
            "version": entry["version"], "purl": purl,
            "properties": [{"name": SOURCE_PROPERTY, "value": distro}]}  # fmt: skip


def build_sbom(
    lock: dict[str, Any],
    *,
    image_name: str | None = None,
    image_digest: str | None = None,
    notebook_sha256: str | None = None,
    dpkg_status: str | None = None,
    licences: Mapping[str, Licence] | None = None,
    timestamp: datetime | str | None = None,
    distro: str = "debian",
) -> dict[str, Any]:
    """The SBOM of the image built from ``lock``, as a dict (write it with :func:`sbom_bytes`).

    ``dpkg_status`` is the text of the base's /var/lib/dpkg/status; ``licences`` maps
    distribution names to licences (see :func:`licences_from_metadata`); ``timestamp`` is the
    build's time (the document has none without it).
    """
    packages = lock_packages(lock)
    by_name = {normalize(k): v for k, v in (licences or {}).items()}
    components = [python_component(p, by_name.get(normalize(p["name"]))) for p in packages]
    if dpkg_status is not None:
        components += [deb_component(e, distro) for e in parse_dpkg_status(dpkg_status)]
    refs = [c["bom-ref"] for c in components]
    duplicates = sorted({r for r in refs if refs.count(r) > 1})
    if duplicates:
        raise AttestInputError(
            f"the lock lists {duplicates[0]} more than once",
            hint="freeze the notebook again to write a clean lock",
        )
    python = python_version(lock)
    components.append({
        "type": "platform", "bom-ref": f"python:{python}", "name": "python", "version": python,
        "properties": [{"name": PREFIX + "python.implementation",
                        "value": str(lock["python"].get("implementation") or "cpython")}],
    })  # fmt: skip
    root = _image_component(image_name, image_digest)
    properties = [{"name": LOCK_SHA256, "value": lock_sha256(lock)}]
    if notebook_sha256 is not None:
        properties.append(
            {"name": NOTEBOOK_SHA256, "value": digest_hex(notebook_sha256, "notebook sha256")}
        )
    for key in ("mode", "platform"):
        if isinstance(lock.get(key), str):
            properties.append({"name": PREFIX + "lock." + key, "value": lock[key]})
    metadata: dict[str, Any] = {}
    if timestamp is not None:
        metadata["timestamp"] = rfc3339(timestamp)
    metadata["tools"] = {"components": [
        {"type": "application", "name": TOOL, "version": __version__}
    ]}  # fmt: skip
    metadata["component"] = root
    metadata["properties"] = sorted(properties, key=lambda p: p["name"])
    doc: dict[str, Any] = {
        "$schema": SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": [{"ref": root["bom-ref"], "dependsOn": refs + [f"python:{python}"]}],
    }
    # derived from the content: the same inputs give the same serial number
    content = sha256_hex(sbom_bytes(doc))
    doc["serialNumber"] = uuid.uuid5(uuid.NAMESPACE_URL, f"{TOOL}:sbom:{content}").urn
    return doc


def _image_component(name: str | None, digest: str | None) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "container", "bom-ref": "image",
                                 "name": name or "environment"}  # fmt: skip
    if digest is not None:
        component["version"] = "sha256:" + digest_hex(digest, "image digest")
        component["purl"] = oci_purl(name or "environment", digest)
    return component


def oci_purl(reference: str, digest: str) -> str:
    """``pkg:oci/<name>@sha256:<hex>?repository_url=<repository>`` of an image reference."""
    hexpart = digest_hex(digest, "image digest")
    repository = reference.split("@")[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:  # drop the tag: the digest names the image
        repository = repository[: -len(last)] + last.split(":")[0]
        last = last.split(":")[0]
    return _purl(
        f"pkg:oci/{purl_encode(last.lower())}@{purl_encode('sha256:' + hexpart)}",
        {"repository_url": repository} if "/" in repository else None,
    )


def sbom_bytes(doc: dict[str, Any]) -> bytes:
    """The SBOM's bytes: sorted keys, two-space indent, one final newline."""
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
