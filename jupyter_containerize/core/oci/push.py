"""A push from our own files: each blob the registry lacks is sent (a HEAD says what it has; a
cross-repository mount reuses a blob another repository of the same registry holds), in
chunked PATCH uploads that resume after a dropped connection, hashed as they are read; the
manifest goes last."""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urljoin

import requests

from ..config import ContainerizeConfig
from ..errors import ContainerizeError, ImageReferenceError, PayloadTooLargeError, RegistryError
from ..progress import Event, Reporter
from .blobs import Blob, BlobReader
from .client import DroppedConnection, RegistryClient, one_line
from .manifest import OCI_CONFIG, OCI_MANIFEST, oci_manifest
from .reference import classify, host_of, split_target
from .trust import EngineInsecure

CHUNK_SIZE = 16 << 20
RETRIES = 3
Progress = Callable[[Any], None]


@dataclass
class PushStats:
    """What one push did: blobs sent, already there, mounted; bytes sent; resumed uploads."""

    sent: int = 0
    skipped: int = 0
    mounted: int = 0
    bytes_sent: int = 0
    resumed: int = 0
    digest: str = ""
    reference: str = ""
    outcomes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "outcomes"} | {
            "outcomes": dict(self.outcomes)}


def image_manifest(config: Blob, layers: list[Blob],
                   annotations: dict[str, str] | None = None) -> bytes:
    """An OCI image manifest's exact bytes: the same a load into an engine names."""
    return oci_manifest(config.descriptor(), [b.descriptor() for b in layers], annotations)


def push_image(reference: str, image_config: bytes, layers: list[Blob], *,
               config_media_type: str = OCI_CONFIG,
               annotations: dict[str, str] | None = None,
               mount_from: list[str] | None = None,
               progress: Progress | None = None,
               insecure: bool | None = None,
               chunk_size: int = CHUNK_SIZE,
               client: RegistryClient | None = None,
               stats: PushStats | None = None,
               config: ContainerizeConfig | None = None,
               engine_insecure: EngineInsecure | None = None) -> str:
    """Push an image made of ``image_config`` and ``layers`` to ``reference``; returns the
    manifest digest. Without a tag the manifest is pushed by digest only; ``config`` (the settings)
    says which registries are reached without TLS verification. ``stats`` (when given) is
    filled with what was sent; the progress callback gets one event per blob and a summary."""
    host, name, tag, want_digest = split_target(reference)
    reg = client or RegistryClient(host, insecure=insecure, config=config,
                                  engine_insecure=engine_insecure)
    rep = Reporter(progress)
    st = stats if stats is not None else PushStats()
    sources = _mount_sources(host, name, mount_from or [])
    scope = " ".join([f"repository:{name}:pull,push"]
                     + [f"repository:{s}:pull" for s in sources])
    config_blob = Blob.from_bytes(image_config, config_media_type, "config")
    blobs = list(layers) + [config_blob]
    rep.emit(Event("phase", f"pushing {host}/{name}:{tag or '(by digest)'}", phase="push"))
    started = time.perf_counter()
    done: set[str] = set()
    held = _held_blobs(reg, name, blobs, scope)
    for i, blob in enumerate(blobs, 1):
        if blob.digest in done:
            continue
        done.add(blob.digest)
        outcome = ("exists" if blob.digest in held
                   else _push_blob(reg, name, blob, sources, scope, chunk_size, st, rep))
        st.outcomes[blob.digest] = outcome
        if outcome == "exists":
            st.skipped += 1
        elif outcome == "mounted":
            st.mounted += 1
        else:
            st.sent += 1
        rep.emit(Event("progress", f"{blob.label()} {outcome}", phase="push", current=i,
                       total=len(blobs), data={"digest": blob.digest, "outcome": outcome,
                                               "size": blob.size}))
    body = image_manifest(config_blob, list(layers), annotations)
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    if want_digest and want_digest != digest:
        raise ImageReferenceError(f"the manifest's digest is {digest}, not {want_digest}",
                                  hint="push by tag, or by the digest of this manifest")
    ref = tag or digest
    resp = reg.request("PUT", f"/v2/{name}/manifests/{ref}", data=body, scope=scope,
                       headers={"Content-Type": OCI_MANIFEST}, ok=(400, 413))
    if resp.status_code == 413:
        raise PayloadTooLargeError(f"the registry {host} refused the manifest of {name} as "
                                   "too large", hint="raise the registry's body size limit")
    if resp.status_code == 400:
        raise _manifest_refused(reg, resp, f"{host}/{name}:{ref}")
    announced = resp.headers.get("Docker-Content-Digest", "")
    if announced and announced != digest:
        raise RegistryError(f"the registry {host} stored the manifest of {name}:{ref} as "
                            f"{announced}, not {digest}",
                            hint="the registry rewrote the manifest; push again or pin "
                                 f"{announced}")
    st.digest, st.reference = digest, f"{host}/{name}@{digest}"
    seconds = time.perf_counter() - started
    rep.emit(Event("log", f"push: {len(done)} blobs, {st.sent} sent, {st.skipped} already "
                          f"there, {st.mounted} mounted, {st.bytes_sent} bytes, "
                          f"{seconds:.1f}s; {st.reference}", phase="push",
                   data={**st.to_json(), "seconds": round(seconds, 3)}))
    return digest


def _manifest_refused(reg: RegistryClient, resp: requests.Response,
                      ref: str) -> ContainerizeError:
    text = resp.text
    if "BLOB_UNKNOWN" in text or "MANIFEST_BLOB_UNKNOWN" in text:
        return RegistryError(f"the registry {reg.host} lacks a blob the manifest of {ref} "
                             "names", hint="push again (a blob may have been deleted meanwhile)")
    if "NAME_INVALID" in text or "TAG_INVALID" in text:
        return classify(text, reg.host, ref)
    return RegistryError(f"the registry {reg.host} refused the manifest of {ref}: "
                         f"{one_line(text)}", hint="see the registry's message")


def _mount_sources(host: str, name: str, mount_from: list[str]) -> list[str]:
    """Repositories of the same registry (names in it) a blob may be mounted from."""
    out: list[str] = []
    for item in mount_from:
        repo = item.split("@", 1)[0]
        if repo.rsplit("/", 1)[-1].count(":") == 1:
            repo = repo.rsplit(":", 1)[0]
        other = host_of(repo)
        if other is not None:
            if other != host:
                continue
            repo = repo[len(other) + 1:]
        if repo and repo != name and repo not in out:
            out.append(repo)
    return out


def _held_blobs(reg: RegistryClient, name: str, blobs: list[Blob], scope: str) -> set[str]:
    """The blobs the repository already has, asked for all at once (HEADs in parallel)."""

    digests = sorted({b.digest for b in blobs})
    if not digests:
        return set()
    reg.has_blob(name, digests[0], scope)  # one first: any token is fetched once, here
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda d: reg.has_blob(name, d, scope), digests))
    return {d for d, yes in zip(digests, found) if yes}


def _push_blob(reg: RegistryClient, name: str, blob: Blob, sources: list[str], scope: str,
               chunk_size: int, st: PushStats, rep: Reporter) -> str:
    """'exists', 'mounted' or 'sent'."""
    if reg.has_blob(name, blob.digest, scope):
        return "exists"
    location = ""
    for source in sources:
        resp = reg.request("POST", f"/v2/{name}/blobs/uploads/", scope=scope,
                           params={"mount": blob.digest, "from": source},
                           headers={"Content-Length": "0"}, ok=(401, 403, 404))
        if resp.status_code == 201:
            return "mounted"
        if resp.status_code != 202 or not resp.headers.get("Location"):
            continue  # no right to read the source: upload instead
        if location:  # an upload session this mount attempt opened: not needed
            reg.request("DELETE", location, scope=scope, ok=(400, 404, 405))
        location = urljoin(reg.base + "/", resp.headers.get("Location", ""))
    _upload(reg, name, blob, scope, chunk_size, st, location, rep)
    return "sent"


def _upload(reg: RegistryClient, name: str, blob: Blob, scope: str, chunk_size: int,
            st: PushStats, location: str, rep: Reporter) -> None:
    """POST (unless a session is open), chunked PATCHes following Location, PUT ?digest=."""
    reader = BlobReader(blob)
    start = f"/v2/{name}/blobs/uploads/"
    try:
        if not location:
            location = _start_upload(reg, start, scope)
        offset = 0
        failures = 0
        while True:
            if offset >= blob.size and blob.size:
                break
            chunk = reader.read_at(offset, chunk_size)
            if offset + len(chunk) < blob.size and not chunk:
                reader.verify()  # the source is shorter than the descriptor says
            if offset + len(chunk) >= blob.size:
                reader.verify()  # the last bytes go only when the whole blob is right
            try:
                location = _patch(reg, location, chunk, offset, scope, blob)
                st.bytes_sent += len(chunk)
                offset += len(chunk)
                failures = 0
                if not blob.size:
                    break
            except DroppedConnection as exc:
                failures += 1
                if failures > RETRIES:
                    raise RegistryError(
                        f"the connection to {reg.host} dropped {failures} times while sending "
                        f"layer {blob.label()}",
                        hint="check the network or proxy, then push again: what the registry "
                             "already has is not sent again") from exc
                time.sleep(0.2 * failures)
                st.resumed += 1
                location, offset = _resume(reg, location, start, scope)
                rep.emit(Event("log", f"{blob.label()}: connection dropped, resuming at byte "
                                      f"{offset}", phase="push",
                               data={"digest": blob.digest, "resume_at": offset}))
        sep = "&" if "?" in location else "?"
        reg.request("PUT", f"{location}{sep}{urlencode({'digest': blob.digest})}",
                    scope=scope, headers={"Content-Length": "0"})
    except PayloadTooLargeError as exc:
        raise PayloadTooLargeError(
            f"the registry {reg.host} refused layer {blob.label()} ({blob.size} bytes) as too "
            "large", hint="raise the body size limit of the registry or of the proxy in front "
                          "of it (chunks are at most "
                          f"{chunk_size >> 20 or 1} MiB)") from exc
    finally:
        reader.close()


def _start_upload(reg: RegistryClient, path: str, scope: str) -> str:
    resp = reg.request("POST", path, scope=scope, headers={"Content-Length": "0"})
    where = resp.headers.get("Location")
    if resp.status_code != 202 or not where:
        raise RegistryError(f"the registry {reg.host} did not open an upload "
                            f"({resp.status_code})", hint="see the registry's log")
    return urljoin(reg.base + "/", where)


def _patch(reg: RegistryClient, location: str, chunk: bytes, offset: int, scope: str,
           blob: Blob) -> str:
    headers = {"Content-Type": "application/octet-stream",
               "Content-Length": str(len(chunk))}
    if chunk:
        headers["Content-Range"] = f"{offset}-{offset + len(chunk) - 1}"
    resp = reg.request("PATCH", location, data=chunk, headers=headers, scope=scope,
                       ok=(416,), resumable=True)
    if resp.status_code == 416:
        raise DroppedConnection(f"the registry refused the range at {offset}")
    return urljoin(location, resp.headers.get("Location") or location)


def _resume(reg: RegistryClient, location: str, start: str, scope: str) -> tuple[str, int]:
    """(upload URL, offset) to go on from: what the registry says it has, else a new upload."""
    try:
        resp = reg.request("GET", location, scope=scope, ok=(400, 404, 416), resumable=True)
    except DroppedConnection:
        resp = None
    if resp is not None and resp.status_code in (200, 204):
        got = re.fullmatch(r"(?:bytes=)?0-(\d+)", resp.headers.get("Range", "").strip())
        where = urljoin(location, resp.headers.get("Location") or location)
        return where, int(got.group(1)) + 1 if got else 0
    return _start_upload(reg, start, scope), 0  # the registry dropped the session
