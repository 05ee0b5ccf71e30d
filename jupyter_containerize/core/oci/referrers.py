"""OCI 1.1 artifacts attached to an image: pushed with a ``subject`` (the image manifest) and
found again through the referrers API, or, where a registry has no such API, through the
tag-schema fallback of the distribution spec (the tag ``sha256-<hex>`` of the subject holds an
image index listing its referrers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..errors import RegistryError
from .blobs import Blob
from .client import RegistryClient, registry_said
from .manifest import OCI_INDEX, OCI_MANIFEST

EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
REFUSED_HINT = ("use a registry that stores OCI 1.1 artifacts (distribution 2.8+, Harbor 2.8+, "
                "zot, a cloud registry), or unset ContainerizeConfig.signing_key to push unsigned")


def fallback_tag(digest: str) -> str:
    """The tag-schema fallback's tag for ``digest``: ``sha256-<hex>``."""
    return digest.replace(":", "-", 1)


def _put_blob(reg: RegistryClient, name: str, data: bytes, media_type: str) -> Blob:
    blob = Blob.from_bytes(data, media_type)
    scope = f"repository:{name}:pull,push"
    if not reg.has_blob(name, blob.digest, scope):
        resp = reg.request("POST", f"/v2/{name}/blobs/uploads/", scope=scope,
                           headers={"Content-Length": "0"})
        location = resp.headers.get("Location", "")
        if not location:
            raise RegistryError(f"the registry {reg.host} did not open an upload",
                                hint="see the registry's log")
        if not location.startswith("http"):
            location = reg.base + location
        sep = "&" if "?" in location else "?"
        reg.request("PUT", f"{location}{sep}digest={blob.digest}", data=data, scope=scope,
                    headers={"Content-Type": "application/octet-stream",
                             "Content-Length": str(len(data))})
    return blob


def attach(reg: RegistryClient, name: str, subject: dict[str, Any], artifact_type: str,
           data: bytes, media_type: str, annotations: dict[str, str]) -> str:
    """Push ``data`` as an artifact whose subject is the image ``subject`` (its descriptor:
    mediaType, digest, size); returns the artifact manifest's digest. The referrers API lists
    it where the registry has one; else the fallback index tag is updated."""
    scope = f"repository:{name}:pull,push"
    empty = _put_blob(reg, name, EMPTY_DATA, EMPTY_TYPE)
    layer = _put_blob(reg, name, data, media_type)
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
        "config": empty.descriptor(), "layers": [layer.descriptor()],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
        "annotations": dict(sorted(annotations.items())),
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    resp = reg.request("PUT", f"/v2/{name}/manifests/{digest}", data=body, scope=scope,
                       headers={"Content-Type": OCI_MANIFEST}, ok=(400, 415))
    if resp.status_code >= 400:
        raise RegistryError(f"the registry {reg.host} refused an OCI artifact for {name}: "
                            f"{registry_said(resp)}", hint=REFUSED_HINT)
    if resp.headers.get("OCI-Subject") == subject["digest"]:
        return digest  # the registry keeps the referrers itself
    entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
             "artifactType": artifact_type, "annotations": manifest["annotations"]}
    index = _fallback_index(reg, name, subject["digest"])
    kept = [m for m in index.get("manifests") or [] if m.get("digest") != digest]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": kept + [entry]}
    resp = reg.request("PUT", f"/v2/{name}/manifests/{fallback_tag(subject['digest'])}",
                       data=json.dumps(index, separators=(",", ":")).encode(), scope=scope,
                       headers={"Content-Type": OCI_INDEX}, ok=(400, 415))
    if resp.status_code >= 400:
        raise RegistryError(f"the registry {reg.host} refused the referrers index of {name}: "
                            f"{registry_said(resp)}", hint=REFUSED_HINT)
    return digest


def _fallback_index(reg: RegistryClient, name: str, digest: str) -> dict[str, Any]:
    resp = reg.request("GET", f"/v2/{name}/manifests/{fallback_tag(digest)}",
                       headers={"Accept": OCI_INDEX}, scope=f"repository:{name}:pull",
                       ok=(404,))
    if resp.status_code == 404:
        return {}
    try:
        doc = resp.json()
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def referrers(reg: RegistryClient, name: str, digest: str) -> list[dict[str, Any]]:
    """The descriptors of the artifacts whose subject is ``digest``: the referrers API, else
    the fallback tag's index ([] when neither lists any)."""
    scope = f"repository:{name}:pull"
    resp = reg.request("GET", f"/v2/{name}/referrers/{digest}", headers={"Accept": OCI_INDEX},
                       scope=scope, ok=(404, 405))
    if resp.status_code == 200 and "json" in resp.headers.get("Content-Type", ""):
        try:
            found = resp.json().get("manifests") or []
        except (ValueError, AttributeError):
            found = []
        if found:
            return list(found)
    return list(_fallback_index(reg, name, digest).get("manifests") or [])


def artifact_data(reg: RegistryClient, name: str, descriptor: dict[str, Any]) -> bytes:
    """The first layer's bytes of the artifact ``descriptor`` names (checked by digest)."""
    resp = reg.request("GET", f"/v2/{name}/manifests/{descriptor['digest']}",
                       headers={"Accept": OCI_MANIFEST}, scope=f"repository:{name}:pull")
    if "sha256:" + hashlib.sha256(resp.content).hexdigest() != descriptor["digest"]:
        raise RegistryError(f"the registry {reg.host} sent an artifact of {name} that does not "
                            "match its digest", hint="push the image again")
    layers = resp.json().get("layers") or []
    if not layers:
        raise RegistryError(f"the artifact {descriptor['digest'][:19]} of {name} is empty",
                            hint="push the image again")
    return reg.blob(name, str(layers[0]["digest"]))
